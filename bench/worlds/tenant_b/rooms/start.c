/* /rooms/start - tenant B's start room (bench/tenants.py). Loading it (the
 * first player of B logging in) starts B's hostile load: four burners (a
 * 100 ms heartbeat that burns its whole per-call fuel), one callout storm
 * (each callout schedules two more) and one clone storm (each clone's
 * on-load clones two more, until B's object quota stops it). They are
 * cloned into this room. */
#include "realm.h"

#define BURNERS 4

static void attack(realm_str self, realm_str blueprint) {
    realm_result made = realm_clone(blueprint);
    if (made.ok) made = realm_move(made.value, self);
    if (!made.ok) realm_log(REALM_WARN, realm_str_concat(RS("cannot clone: "), made.error));
}

void realm_on_load(realm_str self) {
    realm_state_set_text(RS("short"), RS("The Furnace"));
    realm_state_set_text(RS("long"), RS("Hostile code burns here, as fast as its quota lets it."));
    for (int i = 0; i < BURNERS; i++) attack(self, RS("/obj/burner"));
    attack(self, RS("/obj/storm"));
    attack(self, RS("/obj/cloner"));
}

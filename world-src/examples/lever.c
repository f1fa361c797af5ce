/*
 * /examples/lever - a lever that opens the vault's door.
 *
 * How objects talk to each other: the lever does not touch the room's
 * exits (it cannot: every call acts for self only). It *tells* its room
 * "open", and the room's realm_on_message decides what that means
 * (see /examples/vault). The tell is delivered after the current event,
 * and only if this hook returns normally.
 *
 * Try it without a server (a lever in no room says so):
 *
 *     jitrealm invoke /examples/lever on-command /player/ann pull lever
 */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("lever"));
    realm_state_set_text(RS("short"), RS("an iron lever"));
    realm_state_set_text(RS("long"), RS("A long iron lever set in the floor. You could pull it."));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("lever"), RS("iron lever")}, 2);
    realm_state_set_bool(RS("gettable"), false);
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("pull")}, 1); /* the only verb offered */
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)verb; /* `verbs` above: only "pull" reaches here */
    realm_str room;
    if (!realm_environment(self, &room)) {
        realm_tell(actor, RS("The lever is not fixed to anything."));
        return true;
    }
    realm_log(REALM_INFO, realm_str_concat(RS("pulled by "), actor));
    realm_tell(actor, RS("You pull the lever. Somewhere, chains rattle."));
    realm_tell(room, RS("open")); /* the room's realm_on_message gets "open" */
    (void)args;
    return true;
}

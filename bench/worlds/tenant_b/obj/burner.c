/* /obj/burner - a heartbeat that burns its whole fuel every 100 ms (as tests/worlds/hostile). */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_set_heartbeat(100);
}

void realm_heartbeat(realm_str self) {
    (void)self;
    volatile uint64_t n = 0;
    for (;;) n++;
}

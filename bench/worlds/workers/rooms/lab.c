/* /rooms/lab - where bench/workers.py's wizard clones the blueprints it
 * reloads, away from the player (nothing said here reaches her). */
#include "realm.h"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("A bench lab"));
    realm_state_set_text(RS("long"), RS("A bare room where the wizard tries new code."));
}

/* Hostile in on-command: 10,000 tells to the actor in one call, far over
 * the per-call message limit. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)verb;
    (void)args;
    for (int i = 0; i < 10000; i++) realm_tell(actor, RS("spam"));
    return true;
}

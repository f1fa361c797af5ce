/* Hostile in on-command: 10,000 callouts in one call, far over the
 * per-call callout limit. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)verb;
    (void)args;
    for (uint32_t i = 0; i < 10000; i++) realm_callout(RS("again"), i, NULL, 0);
    return true;
}

/* Hostile in on-command: hands the host a string that is not UTF-8 (the
 * bytes ff fe) through the raw `say` import. The canonical ABI requires
 * valid UTF-8, so the call must fail as bad guest data. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)verb;
    (void)args;
    static const char not_utf8[] = {(char)0xff, (char)0xfe};
    realm__host_say(not_utf8, sizeof not_utf8);
    return true;
}

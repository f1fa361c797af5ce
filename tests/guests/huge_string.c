/* Hostile in on-command: tells the actor one 1 MiB string, over the limit
 * for any single string a guest hands the host. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

#define HUGE (1u << 20)

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)verb;
    (void)args;
    char *text = realm_alloc(HUGE);
    for (uint32_t i = 0; i < HUGE; i++) text[i] = 'a' + (char)(i % 26);
    realm_tell(actor, realm_str_of(text, HUGE));
    return true;
}

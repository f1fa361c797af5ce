/* Hostile in on-command: writes one 8 MiB state value (a valid CBOR byte
 * string), far over the per-call state budget. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

#define GIANT (8u << 20)

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)verb;
    (void)args;
    uint8_t *value = realm_alloc_zeroed(GIANT + 5);
    value[0] = 0x5a; /* byte string, 4-byte length follows */
    value[1] = (uint8_t)(GIANT >> 24);
    value[2] = (uint8_t)(GIANT >> 16);
    value[3] = (uint8_t)(GIANT >> 8);
    value[4] = (uint8_t)GIANT;
    realm_state_set(RS("hoard"), value, GIANT + 5);
    return true;
}

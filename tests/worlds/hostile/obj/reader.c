/* /obj/reader - spends its time inside host calls: reads a big state value
 * in a loop, cheap in fuel per call, on a 100 ms heartbeat. */
#include "realm.h"

#define BIG (200 * 1024)
static uint8_t big[BIG];

void realm_on_load(realm_str self) {
    (void)self;
    for (size_t i = 0; i < BIG; i++) big[i] = 'x';
    realm_cbor_writer w;
    static uint8_t out[BIG + 16];
    realm_cbor_writer_init(&w, out, sizeof out);
    realm_cbor_put_bytes(&w, big, BIG);
    realm_state_set_cbor(RS("big"), &w);
    realm_set_heartbeat(100);
}

void realm_heartbeat(realm_str self) {
    (void)self;
    for (;;) {
        const uint8_t *value;
        size_t len;
        realm_state_get(RS("big"), &value, &len);
        realm_arena_release(0);
    }
}

/* /obj/grower - writes 0.9 MB of new state every heartbeat. */
#include "realm.h"

#define CHUNK (900 * 1024)

void realm_on_load(realm_str self) {
    (void)self;
    realm_set_heartbeat(100);
}

void realm_heartbeat(realm_str self) {
    (void)self;
    int64_t n = 0;
    realm_cbor_reader r;
    if (realm_state_reader(RS("n"), &r)) realm_cbor_get_int(&r, &n);
    uint8_t *chunk = realm_alloc(CHUNK + 16);
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, chunk, CHUNK + 16);
    static uint8_t data[CHUNK];
    data[0] = (uint8_t)n;
    realm_cbor_put_bytes(&w, data, CHUNK);
    realm_state_set_cbor(realm_int_str(n), &w);
    realm_state_set_int(RS("n"), n + 1);
}

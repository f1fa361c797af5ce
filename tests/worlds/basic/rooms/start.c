/* /rooms/start - the test world's start room. East leads to the hall. */
#include "realm.h"

static void describe(void) {
    realm_state_set_text(RS("short"), RS("The Start"));
    realm_state_set_text(RS("long"), RS("A bare test room. A hall lies east."));
    realm_state_set_text(RS("area"), RS("testland"));
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, 1);
    realm_cbor_put_textz(&w, "east");
    realm_cbor_put_textz(&w, "/rooms/hall");
    realm_state_set_cbor(RS("exits"), &w);
}

void realm_on_load(realm_str self) { (void)self; describe(); }

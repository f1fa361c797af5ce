/* /rooms/hall - west of the start. Counts arrivals in `visits`. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Hall"));
    realm_state_set_text(RS("long"), RS("A long hall. The start room is west."));
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, 1);
    realm_cbor_put_textz(&w, "west");
    realm_cbor_put_textz(&w, "/rooms/start");
    realm_state_set_cbor(RS("exits"), &w);
}

void realm_on_enter(realm_str self, realm_str who, const realm_str *from) {
    (void)self; (void)who; (void)from;
    int64_t visits = 0;
    realm_state_get_int(RS("visits"), &visits);
    realm_state_set_int(RS("visits"), visits + 1);
}

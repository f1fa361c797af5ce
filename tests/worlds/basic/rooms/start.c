/* /rooms/start - the test world's start room. East leads to the hall.
 * "count <n>" remembers n for the player who typed it (state key = their
 * id) and answers "counted <n>": the crash tests' acknowledged change.
 * "recall" answers "recalled <n>" with what was remembered (-1: nothing). */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Start"));
    realm_state_set_text(RS("long"), RS("A bare test room. A hall lies east."));
    realm_state_set_text(RS("area"), RS("testland"));
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("count"), RS("recall")}, 2);
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, 1);
    realm_cbor_put_textz(&w, "east");
    realm_cbor_put_textz(&w, "/rooms/hall");
    realm_state_set_cbor(RS("exits"), &w);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (realm_str_eqz(verb, "recall")) {
        int64_t n = -1;
        realm_state_get_int(actor, &n);
        realm_tell(actor, realm_str_concat(RS("recalled "), realm_int_str(n)));
        return true;
    }
    if (!realm_str_eqz(verb, "count")) return false;
    int64_t n = 0;
    if (!realm_str_to_int(realm_str_trim(args), &n)) {
        realm_tell(actor, RS("count what?"));
        return true;
    }
    realm_state_set_int(actor, n);
    realm_tell(actor, realm_str_concat(RS("counted "), realm_int_str(n)));
    return true;
}

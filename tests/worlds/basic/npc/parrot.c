/* /npc/parrot - repeats what is said near it, and talks back to other
 * parrots, which makes two parrots an endless conversation (a test of the
 * follow-up cap). */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("parrot"));
    realm_state_set_text(RS("short"), RS("a green parrot"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("parrot")}, 1);
    realm_state_set_bool(RS("hears"), true);
    realm_state_set_bool(RS("gettable"), false);
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self; (void)sender;
    if (!realm_str_eqz(kind, "say")) return;
    realm_cbor_reader r;
    realm_cbor_reader_init(&r, payload.ptr, payload.len);
    realm_str text;
    if (!realm_cbor_get_text(&r, &text)) return;
    int64_t heard = 0;
    realm_state_get_int(RS("heard"), &heard);
    realm_state_set_int(RS("heard"), heard + 1);
    realm_say(realm_str_concat(RS("Squawk! "), text));
}

/*
 * /examples/vault - a room whose door a lever opens.
 *
 * The room clones its lever when it loads and listens for the lever's
 * "open": then it adds an exit north (the `exits` state key, which the
 * driver reads for `go` and `look`) and tells everyone inside. Its reset
 * closes the door again.
 *
 *     goto /examples/vault, pull lever, north
 */
#include "realm.h"

static const char *const CLOSED[] = {"south", "/rooms/square"};
static const char *const OPEN[] = {"south", "/rooms/square", "north", "/rooms/cellar"};

void realm_on_load(realm_str self) {
    realm_state_set_text(RS("short"), RS("A stone vault"));
    realm_state_set_text(RS("long"),
                         RS("A bare stone vault. A heavy door is set in the north wall; "
                            "an iron lever sticks out of the floor beside it."));
    realm_state_set_text_map(RS("exits"), CLOSED, REALM_LEN(CLOSED) / 2);
    realm_result lever = realm_clone(RS("/examples/lever"));
    if (lever.ok) realm_move(lever.value, self);
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    if (!realm_str_eqz(kind, "tell")) return;
    realm_cbor_reader r;
    realm_str text;
    realm_cbor_reader_init(&r, payload.ptr, payload.len);
    if (!realm_cbor_get_text(&r, &text) || !realm_str_eqz(text, "open")) return;
    bool open = false;
    realm_state_get_bool(RS("open"), &open);
    if (open) return;
    realm_state_set_bool(RS("open"), true);
    realm_state_set_text_map(RS("exits"), OPEN, REALM_LEN(OPEN) / 2);
    realm_log(REALM_INFO, realm_str_concat(RS("door opened by "), sender));
    realm_say(RS("With a grinding of stone, the heavy door swings open to the north."));
}

void realm_reset(realm_str self) {
    (void)self;
    realm_state_set_bool(RS("open"), false);
    realm_state_set_text_map(RS("exits"), CLOSED, REALM_LEN(CLOSED) / 2);
}

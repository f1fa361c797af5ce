/*
 * /daemon/vitals - every player's health and stamina, sent to their client.
 *
 * Players have no blueprint of their own, so their vitals live here, in
 * this master object's state (`hp:<player id>` and `sp:<player id>`, both
 * starting full). Rooms and things tell it what happened, "<event>
 * <player id>" (see thornwick.h), and it answers the player's client with
 * GMCP Char.Vitals {hp, maxhp, sp, maxsp}. Nothing here can kill anyone:
 * health never drops below 1.
 */
#include "realm.h"

#define MAX_HP 20
#define MAX_SP 20

/* event -> change to health, change to stamina (0, 0 just shows them). */
static const struct {
    const char *event;
    int hp, sp;
} EVENTS[] = {
    {"show", 0, 0},
    {"wade", 0, -5},   /* the ford is cold enough to stop your heart */
    {"shin", -2, 0},   /* barked on a barrel in the dark cellar */
    {"swing", 0, -2},  /* a longsword is heavier than it looks */
    {"water", 0, 2},   /* from the well or the river */
    {"ale", 1, 6},
    {"cider", 1, 5},
    {"stew", 6, 4},
    {"rest", MAX_HP, MAX_SP}, /* the glade's hush mends everything */
};

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static int64_t get(const char *prefix, realm_str player, int64_t full) {
    int64_t value = full;
    realm_state_get_int(realm_str_concat(realm_z(prefix), player), &value);
    return value;
}

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("vitals"));
    realm_state_set_text(RS("short"), RS("the keeper of vitals"));
    realm_state_set_strs(RS("verbs"), NULL, 0);
    realm_state_set_bool(RS("gettable"), false);
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    (void)sender;
    if (!realm_str_eqz(kind, "tell")) return;
    realm_cbor_reader r;
    realm_str text;
    realm_cbor_reader_init(&r, payload.ptr, payload.len);
    if (!realm_cbor_get_text(&r, &text)) return;
    realm_str event = realm_str_word(&text);
    realm_str player = realm_str_trim(text);
    if (!realm_is_player(player)) return;
    for (size_t i = 0; i < REALM_LEN(EVENTS); i++) {
        if (!realm_str_eqz(event, EVENTS[i].event)) continue;
        int64_t hp = clamp(get("hp:", player, MAX_HP) + EVENTS[i].hp, 1, MAX_HP);
        int64_t sp = clamp(get("sp:", player, MAX_SP) + EVENTS[i].sp, 0, MAX_SP);
        realm_state_set_int(realm_str_concat(RS("hp:"), player), hp);
        realm_state_set_int(realm_str_concat(RS("sp:"), player), sp);
        realm_buf b;
        realm_buf_init(&b, NULL, 0);
        realm_buf_z(&b, "{\"hp\": ");
        realm_buf_int(&b, hp);
        realm_buf_z(&b, ", \"maxhp\": ");
        realm_buf_int(&b, MAX_HP);
        realm_buf_z(&b, ", \"sp\": ");
        realm_buf_int(&b, sp);
        realm_buf_z(&b, ", \"maxsp\": ");
        realm_buf_int(&b, MAX_SP);
        realm_buf_z(&b, "}");
        realm_gmcp(player, RS("Char.Vitals"), realm_buf_str(&b));
        return;
    }
    realm_log(REALM_WARN, realm_str_concat(RS("vitals: no such event: "), event));
}

/*
 * /obj/sword - an old longsword from the ruined watchtower.
 *
 * `wield sword` / `unwield sword` toggle the `wielded` state key (the
 * wielder's id is kept in `wielder`), and the short description shows it.
 * The driver does not tell an object that it was moved, so while wielded
 * the sword checks every few seconds (a callout) that its wielder still
 * holds it; dropped or given away, it quietly stops being wielded.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CHECK_MS 5000

#define IDS "sword|longsword|blade|notched sword|notched longsword|old sword"

/* Lower-cased `args` without a leading "at", "the", "my"... */
static realm_str noun_of(realm_str args) {
    static const char *const SKIP[] = {"at ", "to ", "my ", "the ", "a ", "an "};
    realm_str s = realm_str_trim(args);
    char *p = (char *)realm_alloc(s.len + 1);
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        p[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    s = (realm_str){p, s.len};
    for (size_t i = 0; i < LEN(SKIP); i++) {
        realm_str skip = realm_z(SKIP[i]);
        if (realm_str_starts_with(s, skip)) {
            s = realm_str_trim((realm_str){s.ptr + skip.len, s.len - skip.len});
            i = (size_t)-1;
        }
    }
    return s;
}

/* Is `word` one of the '|'-separated alternatives in `alts`? */
static bool one_of(const char *alts, realm_str word) {
    while (*alts) {
        size_t n = 0;
        while (alts[n] && alts[n] != '|') n++;
        if (realm_str_eq(realm_str_of(alts, n), word)) return true;
        alts += n + (alts[n] == '|');
    }
    return false;
}

/* The name players know `who` by ("/player/ann" -> "Ann" if unset). */
static realm_str name_of(realm_str who) {
    const uint8_t *v;
    size_t n;
    realm_cbor_reader r;
    realm_str name;
    if (realm_query(who, RS("name"), &v, &n)) {
        realm_cbor_reader_init(&r, v, n);
        if (realm_cbor_get_text(&r, &name) && name.len) return name;
    }
    if (!realm_str_starts_with(who, RS("/player/")) || who.len == 8) return RS("Someone");
    name = realm_str_dup((realm_str){who.ptr + 8, who.len - 8});
    if (name.ptr[0] >= 'a' && name.ptr[0] <= 'z') ((char *)name.ptr)[0] = (char)(name.ptr[0] - 32);
    return name;
}

/* Show `text` to every player in `room` but `actor`. */
static void tell_others(realm_str room, realm_str actor, realm_str text) {
    realm_strs here = realm_contents(room);
    for (size_t i = 0; i < here.len; i++)
        if (realm_str_starts_with(here.items[i], RS("/player/")) && !realm_str_eq(here.items[i], actor))
            realm_tell(here.items[i], text);
}

static bool wielded(void) {
    bool on = false;
    realm_state_get_bool(RS("wielded"), &on);
    return on;
}

static void describe(void) {
    const realm_str ids[] = {RS("sword"), RS("longsword"), RS("blade"), RS("notched sword")};
    const realm_str verbs[] = {RS("wield"), RS("unwield"), RS("sheathe"), RS("swing")};
    const realm_str public_keys[] = {RS("wielded")};
    realm_state_set_text(RS("name"), RS("sword"));
    realm_state_set_text(RS("short"), wielded() ? RS("a notched longsword (wielded)") : RS("a notched longsword"));
    realm_state_set_text(RS("long"),
        RS("An old longsword, its blade notched and freckled with rust but still keen along one edge. "
           "A sun with a face is etched near the hilt: the same sun that is carved on the stones of "
           "the broken watchtower."));
    realm_state_set_strs(RS("ids"), ids, LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
    realm_state_set_strs(RS("public"), public_keys, LEN(public_keys));
    realm_state_set_bool(RS("gettable"), true);
}

static void set_wielded(realm_str wielder) {
    if (wielder.len) {
        realm_state_set_bool(RS("wielded"), true);
        realm_state_set_text(RS("wielder"), wielder);
        realm_callout(RS("check"), CHECK_MS, NULL, 0);
    } else {
        realm_state_set_bool(RS("wielded"), false);
        realm_state_delete(RS("wielder"));
    }
    describe();
}

/* Still in the hands that wield it? If not, it is not wielded any more. */
static bool held_by_wielder(realm_str self) {
    realm_str wielder, env;
    return wielded() && realm_state_get_text(RS("wielder"), &wielder) && realm_environment(self, &env) &&
           realm_str_eq(env, wielder);
}

static void announce(realm_str actor, realm_str mine, realm_str theirs) {
    realm_str room;
    realm_tell(actor, mine);
    if (realm_environment(actor, &room))
        tell_others(room, actor, realm_str_concat(name_of(actor), theirs));
}

void realm_on_load(realm_str self) {
    (void)self;
    describe();
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)args;
    if (!realm_str_eqz(method, "check") || !wielded()) return;
    if (held_by_wielder(self))
        realm_callout(RS("check"), CHECK_MS, NULL, 0);
    else
        set_wielded(RS(""));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (!realm_str_eqz(verb, "wield") && !realm_str_eqz(verb, "unwield") && !realm_str_eqz(verb, "sheathe") &&
        !realm_str_eqz(verb, "swing"))
        return false;
    realm_str noun = noun_of(args), env;
    bool mine = realm_environment(self, &env) && realm_str_eq(env, actor);
    if (noun.len ? !one_of(IDS, noun) : !mine) return false; /* some other sword, or none named */
    if (wielded() && !held_by_wielder(self)) set_wielded(RS("")); /* stale: it was dropped */

    if (realm_str_eqz(verb, "wield")) {
        if (!mine) {
            realm_tell(actor, RS("You need to pick it up first."));
        } else if (wielded()) {
            realm_tell(actor, RS("You are already wielding it."));
        } else {
            set_wielded(actor);
            announce(actor, RS("You grip the notched longsword. It is lighter than it looks, and sits in "
                               "your hand as if it remembers being used."),
                     RS(" wields a notched longsword."));
        }
        return true;
    }
    if (realm_str_eqz(verb, "swing")) {
        if (!mine || !wielded()) {
            realm_tell(actor, RS("You should wield it before you start swinging it about."));
        } else {
            announce(actor, RS("You swing the longsword in a whistling arc. Nothing is harmed, but you "
                               "feel very heroic."),
                     RS(" swings a notched longsword in a whistling arc. Everyone steps back."));
        }
        return true;
    }
    /* unwield, sheathe */
    if (!mine || !wielded()) {
        realm_tell(actor, RS("You aren't wielding it."));
    } else {
        set_wielded(RS(""));
        announce(actor, RS("You lower the longsword and let it hang at your side."),
                 RS(" lowers a notched longsword."));
    }
    return true;
}

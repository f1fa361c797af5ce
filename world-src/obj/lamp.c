/*
 * /obj/lamp - a brass lamp: `light lamp`, `extinguish lamp`.
 *
 * The `lit` state key is public, so other objects can tell whether it
 * gives light (the tavern cellar does); `short` becomes "a lit brass lamp".
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define IDS "lamp|brass lamp|lit lamp|lantern|light"

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

static bool is_lit(void) {
    bool lit = false;
    realm_state_get_bool(RS("lit"), &lit);
    return lit;
}

static void describe(void) {
    const realm_str ids[] = {RS("lamp"), RS("brass lamp"), RS("lantern")};
    const realm_str verbs[] = {RS("light"), RS("extinguish"), RS("douse"), RS("snuff"), RS("blow"), RS("unlight")};
    const realm_str public_keys[] = {RS("lit")};
    bool lit = is_lit();
    realm_state_set_text(RS("name"), RS("lamp"));
    realm_state_set_text(RS("short"), lit ? RS("a lit brass lamp") : RS("a brass lamp"));
    realm_state_set_text(RS("long"),
        lit ? RS("A dented brass lamp with a glass chimney. A steady yellow flame burns inside, "
                 "throwing warm light and long shadows all around. ({bold}extinguish lamp{/} to put it out.)")
            : RS("A dented brass lamp with a glass chimney and a little wheel for the wick. It is full "
                 "of oil and smells of it. ({bold}light lamp{/} to light it.)"));
    realm_state_set_strs(RS("ids"), ids, LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
    realm_state_set_strs(RS("public"), public_keys, LEN(public_keys));
    realm_state_set_bool(RS("gettable"), true);
}

/* Tell the actor, and show the others in the actor's room. */
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

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    realm_str noun = noun_of(args);
    bool on = realm_str_eqz(verb, "light");
    if (!on && !realm_str_eqz(verb, "extinguish") && !realm_str_eqz(verb, "douse") &&
        !realm_str_eqz(verb, "snuff") && !realm_str_eqz(verb, "unlight") && !realm_str_eqz(verb, "blow"))
        return false;
    if (realm_str_eqz(verb, "blow")) { /* blow out lamp */
        if (!realm_str_starts_with(noun, RS("out"))) return false;
        noun = noun_of((realm_str){noun.ptr + 3, noun.len - 3});
    }
    if (noun.len == 0) { /* a bare "light": only the lamp you carry answers */
        realm_str env;
        if (!realm_environment(self, &env) || !realm_str_eq(env, actor)) return false;
    } else if (!one_of(IDS, noun)) {
        return false;
    }
    if (on == is_lit()) {
        realm_tell(actor, on ? RS("The lamp is already lit.") : RS("The lamp isn't lit."));
        return true;
    }
    realm_state_set_bool(RS("lit"), on);
    describe();
    if (on)
        announce(actor, RS("You strike a spark and turn up the wick. The brass lamp flares into life, "
                           "and warm {yellow}light{/} pools around you."),
                 RS(" lights a brass lamp."));
    else
        announce(actor, RS("You blow out the lamp. A thread of smoke curls up from the chimney."),
                 RS(" blows out a brass lamp."));
    return true;
}

/*
 * /obj/coin - a silver coin. `flip coin` for heads or tails; the well on
 * the green takes coins as wishes.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

#define IDS "coin|silver coin|penny|silver penny|silver"

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

static void describe(void) {
    const realm_str ids[] = {RS("coin"), RS("silver coin"), RS("penny"), RS("silver")};
    const realm_str verbs[] = {RS("flip")};
    realm_state_set_text(RS("name"), RS("coin"));
    realm_state_set_text(RS("short"), RS("a silver coin"));
    realm_state_set_text(RS("long"),
        RS("A thin silver penny, worn almost smooth. On one side is a king nobody remembers, on the "
           "other a sheaf of wheat. You could {bold}flip{/} it, or make a wish with it at the well."));
    realm_state_set_strs(RS("ids"), ids, LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
    realm_state_set_bool(RS("gettable"), true);
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
    if (!realm_str_eqz(verb, "flip")) return false;
    realm_str noun = noun_of(args), env, room;
    bool mine = realm_environment(self, &env) && realm_str_eq(env, actor);
    if (noun.len ? !one_of(IDS, noun) : !mine) return false;
    if (!mine) {
        realm_tell(actor, RS("Pick it up first."));
        return true;
    }
    uint64_t x = realm_now_ms() * 0x9E3779B97F4A7C15ull;
    bool heads = (x >> 40) & 1;
    realm_tell(actor, heads ? RS("You flip the coin. It spins, glinting, and lands... {bold}heads{/}: the forgotten king.")
                            : RS("You flip the coin. It spins, glinting, and lands... {bold}tails{/}: the sheaf of wheat."));
    if (realm_environment(actor, &room))
        tell_others(room, actor, realm_str_concat(name_of(actor), heads ? RS(" flips a coin: heads.")
                                                                        : RS(" flips a coin: tails.")));
    return true;
}

/*
 * /rooms/path - where the village ends and the Whisperwood begins.
 *
 * `read sign` reads the signpost.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "east", "/rooms/square",
    "west", "/rooms/woods",
};

static const char *const DETAILS[] = {
    "sign|signpost|post",
    "A weathered signpost with two arms, leaning like a tired old man. You could read it.",
    "oaks|oak|trees|tree|forest|wood|whisperwood",
    "The first oaks of the Whisperwood are vast and grey-barked, their lowest branches "
    "higher than a house. Beyond them the light turns green and dim.",
    "cottages|cottage|village",
    "The last cottages of Thornwick huddle behind you, thatched and whitewashed, with "
    "hollyhocks at their doors.",
};

#define SIGN \
    "The signpost's arms read: {bold}EAST: Thornwick{/} and {bold}WEST: The Whisperwood{/}. " \
    "Beneath them someone has scratched, less neatly: {italic}keep to the path{/}."

static void set_exits(const char *const *pairs, size_t count) {
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, count);
    for (size_t i = 0; i < 2 * count; i++) realm_cbor_put_textz(&w, pairs[i]);
    realm_state_set_cbor(RS("exits"), &w);
}

/* Lower-cased `args` without a leading "at", "the", "from"... */
static realm_str noun_of(realm_str args) {
    static const char *const SKIP[] = {"at ", "in ", "into ", "on ", "from ", "to ", "the ", "a ", "an "};
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
            i = (size_t)-1; /* start over: "at the well" */
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

/* `look at <detail>`: scenery that is not an object. */
static bool look_detail(realm_str actor, realm_str verb, realm_str args) {
    if (!realm_str_eqz(verb, "look") && !realm_str_eqz(verb, "l") && !realm_str_eqz(verb, "examine") &&
        !realm_str_eqz(verb, "exa") && !realm_str_eqz(verb, "x"))
        return false;
    realm_str noun = noun_of(args);
    for (size_t i = 0; noun.len && i < LEN(DETAILS); i += 2)
        if (one_of(DETAILS[i], noun)) {
            realm_tell(actor, realm_z(DETAILS[i + 1]));
            return true;
        }
    return false; /* the driver's own look handles the rest */
}

static void describe(void) {
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x"), RS("read")};
    realm_state_set_text(RS("short"), RS("The Forest Path"));
    realm_state_set_text(RS("long"),
        RS("A rutted dirt path leaves the last cottages of Thornwick behind and runs west beneath "
           "the first great oaks of the Whisperwood. A weathered signpost leans at the edge of the "
           "trees, its arms pointing both ways. Behind you to the east the cobbles of the market "
           "square begin; ahead, the shade deepens and the birdsong grows strange."));
    realm_state_set_text(RS("area"), RS("the Whisperwood"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
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
    (void)self;
    realm_str noun = noun_of(args);
    bool sign = one_of("sign|signpost|post|arms", noun);
    if (realm_str_eqz(verb, "read")) {
        if (noun.len && !sign) return false;
        realm_tell(actor, RS(SIGN));
        return true;
    }
    return look_detail(actor, verb, args);
}

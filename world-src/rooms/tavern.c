/*
 * /rooms/tavern - the Crooked Lantern, Thornwick's only tavern.
 *
 * Home of Marta the innkeeper (/npc/innkeeper) and of a brass lamp
 * (/obj/lamp) that anyone bound for the cellar below will want. Both are
 * put back on load and reset if they are gone.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "west", "/rooms/square",
    "out", "/rooms/square",
    "down", "/rooms/cellar",
};

static const char *const DETAILS[] = {
    "hearth|fire|fireplace",
    "Logs of apple wood burn slowly in the great hearth, filling the room with sweet smoke. "
    "A cat-shaped scorch mark on the hearthstone suggests a previous regular got too close.",
    "bar|counter|tankards|tankard",
    "A long oak bar, dark with age and polished by elbows. Pewter tankards hang above it, "
    "each scratched with a regular's initials.",
    "trapdoor|steps|stairs",
    "A heavy trapdoor behind the bar stands propped open on a chain. Worn steps lead down "
    "into the cool dark of the cellar.",
    "tables|benches|table|bench",
    "Mismatched tables and benches, none quite level, all of them carved with hearts, "
    "initials and one very rude goat.",
};

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

/* True if `room` holds a clone of `blueprint` or anything named `name`. */
static bool holds(realm_str room, realm_str blueprint, realm_str name) {
    realm_strs here = realm_contents(room);
    realm_str prefix = realm_str_concat(blueprint, RS("#"));
    for (size_t i = 0; i < here.len; i++) {
        const uint8_t *v;
        size_t n;
        realm_cbor_reader r;
        realm_str text;
        if (realm_str_starts_with(here.items[i], prefix)) return true;
        if (!realm_query(here.items[i], RS("name"), &v, &n)) continue;
        realm_cbor_reader_init(&r, v, n);
        if (realm_cbor_get_text(&r, &text) && realm_str_eq(text, name)) return true;
    }
    return false;
}

/* Clone `blueprint` into `room` unless one is already there. */
static void stock(realm_str room, realm_str blueprint, realm_str name) {
    if (holds(room, blueprint, name)) return;
    realm_result made = realm_clone(blueprint);
    if (made.ok) made = realm_move(made.value, room);
    if (!made.ok) realm_log(REALM_WARN, realm_str_concat(RS("cannot stock: "), made.error));
}

static void describe(void) {
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x")};
    realm_state_set_text(RS("short"), RS("The Crooked Lantern"));
    realm_state_set_text(RS("long"),
        RS("A low-beamed common room, warm and smoky, with a fire crackling in a hearth big "
           "enough to roast an ox. Mismatched tables stand on floorboards polished by years of "
           "spilled ale, and a long oak bar gleams under a row of hanging tankards. A trapdoor "
           "behind the bar opens onto steps down to the cellar, and the door west lets in a "
           "draught from the square whenever it opens."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

static void restock(realm_str self) {
    stock(self, RS("/npc/innkeeper"), RS("Marta"));
    stock(self, RS("/obj/lamp"), RS("lamp"));
}

void realm_on_load(realm_str self) {
    describe();
    restock(self);
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    restock(self);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    return look_detail(actor, verb, args);
}

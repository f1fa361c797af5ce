/*
 * /rooms/ruin - the broken watchtower on the hill across the ford.
 *
 * An old longsword (/obj/sword) lies among the fallen stones, put back on
 * load and reset if it is gone.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "southwest", "/rooms/ford",
};

static const char *const DETAILS[] = {
    "carvings|carving|sun|stones|fallen stones",
    "Among the tumbled stones you find the same carving again and again: a sun with a face, "
    "its rays worn almost smooth. Whoever built the tower was fond of it.",
    "ivy|brambles|bramble",
    "Ivy as thick as your wrist has climbed the walls and pulled half of them down. Brambles "
    "do the rest, and guard their blackberries jealously.",
    "view|valley|village|thornwick",
    "The valley lies spread below: the silver loop of the river, the mill wheel, the roofs and "
    "chimney smoke of Thornwick, and beyond them the dark mass of the Whisperwood.",
    "slits|arrow slits|walls|wall",
    "Narrow arrow slits pierce what is left of the walls. The wind moans through them like "
    "someone trying to remember a tune.",
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
    realm_state_set_text(RS("short"), RS("The Broken Watchtower"));
    realm_state_set_text(RS("long"),
        RS("Only the lower storey of the old watchtower still stands, its walls split open to the "
           "sky and choked with ivy and bramble. Fallen stones lie where they tumbled long ago, "
           "some still bearing the faint outline of a carved sun. Wind moans through the arrow "
           "slits, and from up here the whole valley lies spread below you. A track winds back "
           "down southwest to the ford."));
    realm_state_set_text(RS("area"), RS("the River Wend"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

void realm_on_load(realm_str self) {
    describe();
    stock(self, RS("/obj/sword"), RS("sword"));
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    stock(self, RS("/obj/sword"), RS("sword"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    return look_detail(actor, verb, args);
}

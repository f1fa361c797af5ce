/*
 * /rooms/square - Thornwick's market square, where newcomers start.
 *
 * The hub of the village: the tavern east, the well green north, the
 * forest path west. The notice board (/obj/board) stands here; the room
 * puts it back on load and reset if it is ever gone.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "north", "/rooms/green",
    "east", "/rooms/tavern",
    "in", "/rooms/tavern",
    "west", "/rooms/path",
};

/* Scenery to look at: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "cross|market cross|stone cross",
    "A squat stone cross, its carvings worn to soft lumps by rain and elbows. "
    "Someone has tied a sprig of rowan to it for luck.",
    "stalls|stall|awnings|awning|apples|bread",
    "Trestle tables under patched awnings: a heap of russet apples, strings of onions, "
    "a baker's basket under a cloth that smells of warm bread. The stallholders eye you "
    "with friendly curiosity.",
    "lantern|sign|tavern|door",
    "A tin lantern painted with a lopsided grin swings over the tavern door to the east.",
    "cobbles|cobblestones",
    "Round grey cobbles, polished by a few hundred years of carts, boots and geese.",
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
    realm_state_set_text(RS("short"), RS("Thornwick Market Square"));
    realm_state_set_text(RS("long"),
        RS("Cobbles worn smooth by generations of carts slope gently toward a weathered stone "
           "cross at the heart of Thornwick. Stalls under faded awnings crowd the edges, smelling "
           "of apples, woodsmoke and warm bread. To the east a painted lantern swings above the "
           "door of the Crooked Lantern tavern, and a grassy lane leads north toward the old well. "
           "Westward the cobbles give way to a dirt path that vanishes under the dark eaves of the "
           "Whisperwood."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

void realm_on_load(realm_str self) {
    describe();
    stock(self, RS("/obj/board"), RS("board"));
}

/* A reload picks up edited descriptions; nothing else changes. */
void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    stock(self, RS("/obj/board"), RS("board"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    return look_detail(actor, verb, args);
}

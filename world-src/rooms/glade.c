/*
 * /rooms/glade - the moonflower glade, where the standing stone speaks.
 *
 * The stone is /npc/oracle (a Python blueprint), put back on load and
 * reset if it is gone. Flavour: `rest` (or `sit`), `pick flowers`.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "south", "/rooms/woods",
};

static const char *const DETAILS[] = {
    "moonflowers|moonflower|flowers|flower",
    "Pale, star-shaped flowers with silver hearts. They turn, very slowly, to follow "
    "whoever moves in the glade.",
    "grass|ring|circle",
    "The grass grows in a ring as neat as if it had been drawn with a compass, soft and "
    "springy and faintly warm.",
    "trees|forest|oaks",
    "The trees stand back from the glade at a respectful distance, like guests who were "
    "not invited in.",
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
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x"), RS("rest"),
                               RS("sit"), RS("pick")};
    realm_state_set_text(RS("short"), RS("The Moonflower Glade"));
    realm_state_set_text(RS("long"),
        RS("The trees draw back to form a perfect ring of soft grass, starred with pale "
           "moonflowers that turn to follow you. In the middle stands a tall grey stone, older than "
           "the forest, weathered into something that is almost, but not quite, a face. The air "
           "is hushed, as if the whole wood were holding its breath. The deer trail leads back "
           "south into the trees."));
    realm_state_set_text(RS("area"), RS("the Whisperwood"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

void realm_on_load(realm_str self) {
    describe();
    stock(self, RS("/npc/oracle"), RS("stone"));
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    stock(self, RS("/npc/oracle"), RS("stone"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (realm_str_eqz(verb, "rest") || realm_str_eqz(verb, "sit")) {
        realm_tell(actor, RS("You sit down in the soft grass. The moonflowers lean toward you, the "
                             "hush settles over you like a blanket, and for a while nothing at all "
                             "seems urgent."));
        tell_others(self, actor, realm_str_concat(name_of(actor), RS(" sits down in the grass and looks peaceful.")));
        return true;
    }
    if (realm_str_eqz(verb, "pick")) {
        if (!one_of("moonflowers|moonflower|flowers|flower", noun_of(args))) return false;
        realm_tell(actor, RS("You reach for a moonflower, but it curls shut and draws back into the "
                             "grass. Best leave them be."));
        return true;
    }
    return look_detail(actor, verb, args);
}

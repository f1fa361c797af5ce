/*
 * /rooms/mill - the old watermill on the river Wend.
 *
 * `pull lever` (or push) opens or shuts the sluice: the great wheel turns
 * or stands still, and the room's description says which. The state key
 * `turning` keeps it across reloads and resets. A leather satchel
 * (/obj/bag) lies here, put back on load and reset if it is gone.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "south", "/rooms/green",
    "east", "/rooms/ford",
};

static const char *const DETAILS[] = {
    "wheel|waterwheel|water wheel|millwheel|paddles",
    "A great wheel of black oak paddles, taller than two men, green with weed where it dips "
    "into the mill race.",
    "millstones|millstone|stones",
    "Two round stones as wide as a cart, the upper one grooved like a sunburst. Flour dust "
    "lies thick in every groove.",
    "lever|sluice|sluice lever",
    "A long wooden lever, its handle polished pale by many hands. It works the sluice gate "
    "that lets the river onto the wheel. You could pull it.",
    "sacks|sack|grain|flour",
    "Bulging sacks of grain waiting their turn, and a few of finished flour, neatly tied.",
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

static bool turning(void) {
    bool on = false;
    realm_state_get_bool(RS("turning"), &on);
    return on;
}

static void describe(void) {
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x"), RS("pull"), RS("push")};
    realm_state_set_text(RS("short"), RS("The Old Watermill"));
    if (turning())
        realm_state_set_text(RS("long"),
            RS("The whole mill house trembles with the rumble of the great wheel turning outside, "
               "and the millstones grind away in a haze of flour dust. Sacks of grain lean against "
               "the walls beside the wooden lever that works the sluice gate. Through the open door "
               "the river Wend rushes east toward the ford, and the lane leads back south to the "
               "green."));
    else
        realm_state_set_text(RS("long"),
            RS("Flour dust hangs in the slanting light of this quiet mill house, settling on sacks "
               "of grain and on the idle millstones. Outside the great wheel stands still and "
               "dripping, its sluice gate shut; a wooden lever by the door works it. The river Wend "
               "murmurs east toward the ford, and the lane leads back south to the green."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

static void work_lever(realm_str self, realm_str actor) {
    realm_str name = name_of(actor);
    bool on = !turning();
    realm_state_set_bool(RS("turning"), on);
    describe();
    if (on) {
        realm_tell(actor, RS("You heave on the lever. The sluice gate groans open, water thunders onto "
                             "the paddles, and with a shudder the great wheel begins to turn. The "
                             "millstones start to grind."));
        tell_others(self, actor, realm_str_concat(name, RS(" heaves on the sluice lever, and the great wheel "
                                                            "outside shudders into motion.")));
    } else {
        realm_tell(actor, RS("You push the lever home. The sluice gate thuds shut, and the wheel slows, "
                             "creaks, and stands still, dripping."));
        tell_others(self, actor, realm_str_concat(name, RS(" pushes the sluice lever home, and the great "
                                                            "wheel creaks to a halt.")));
    }
}

void realm_on_load(realm_str self) {
    describe();
    stock(self, RS("/obj/bag"), RS("satchel"));
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    stock(self, RS("/obj/bag"), RS("satchel"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (realm_str_eqz(verb, "pull") || realm_str_eqz(verb, "push")) {
        realm_str noun = noun_of(args);
        if (!one_of("lever|sluice|sluice lever|handle", noun)) return false;
        work_lever(self, actor);
        return true;
    }
    return look_detail(actor, verb, args);
}

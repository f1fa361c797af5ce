/*
 * /rooms/green - the village green and its wishing well.
 *
 * `drink` from the well; `toss coin into well` (or `drop coin in well`)
 * spends one of the actor's coins on a wish. The green is also home to
 * Tansy the cat (/npc/cat), who wanders the village: since she is seldom
 * at home, the green remembers her id in its `cat` state key and clones a
 * new cat only when that one no longer exists. On every reset it nudges
 * her, which restarts her wandering should her callouts ever be lost.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "south", "/rooms/square",
    "north", "/rooms/mill",
};

static const char *const DETAILS[] = {
    "well|old well|rim|stones",
    "The well is old, older than the village some say. Its stones are furred with moss, and "
    "when you lean over the rim a cold breath rises from far below. Coins glint in the "
    "darkness at the bottom: wishes, every one.",
    "bucket|winch|rope",
    "An oak bucket on a fraying rope, hung from a creaking winch. You could drink from it.",
    "geese|goose",
    "A gaggle of fat white geese regard you with deep suspicion. One hisses, for form's sake.",
    "grass|patch|green",
    "Cropped short by the geese, except for a bare patch by the well where children play "
    "at knucklebones.",
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

/* A coin the actor carries, or an empty id. */
static realm_str coin_of(realm_str actor) {
    realm_strs things = realm_contents(actor);
    for (size_t i = 0; i < things.len; i++) {
        const uint8_t *v;
        size_t n;
        realm_cbor_reader r;
        realm_str name;
        if (realm_str_starts_with(things.items[i], RS("/obj/coin#"))) return things.items[i];
        if (!realm_query(things.items[i], RS("name"), &v, &n)) continue;
        realm_cbor_reader_init(&r, v, n);
        if (realm_cbor_get_text(&r, &name) && realm_str_eqz(name, "coin")) return things.items[i];
    }
    return RS("");
}

static void toss(realm_str self, realm_str actor) {
    realm_str coin = coin_of(actor);
    if (!coin.len || !realm_destruct(coin).ok) {
        realm_tell(actor, RS("You have no coin to toss. The well seems to sigh."));
        return;
    }
    int64_t wishes = 0;
    realm_state_get_int(RS("wishes"), &wishes);
    realm_state_set_int(RS("wishes"), wishes + 1);
    realm_tell(actor, RS("You toss the coin into the well and make a wish. It tumbles end over end "
                         "into the dark... {cyan}plink{/}. Far below, something sounds pleased, and "
                         "you feel a little luckier."));
    tell_others(self, actor, realm_str_concat(name_of(actor), RS(" tosses a coin into the well and makes a wish.")));
}

static void drink(realm_str self, realm_str actor) {
    realm_tell(actor, RS("You lower the bucket, haul it up brimming and drink deep. The water is so "
                         "cold it makes your teeth ache, and tastes of iron and old stories."));
    tell_others(self, actor, realm_str_concat(name_of(actor), RS(" draws a bucket from the well and drinks.")));
}

/* Tansy lives here. Keep exactly one of her in the world. */
static void keep_cat(realm_str self) {
    realm_str cat;
    if (realm_state_get_text(RS("cat"), &cat) && realm_environment(cat, NULL)) {
        realm_tell(cat, RS("nudge"));
        return;
    }
    realm_result made = realm_clone(RS("/npc/cat"));
    if (made.ok) {
        realm_str id = made.value;
        made = realm_move(id, self);
        if (made.ok) realm_state_set_text(RS("cat"), id);
    }
    if (!made.ok) realm_log(REALM_WARN, realm_str_concat(RS("no cat: "), made.error));
}

static void describe(void) {
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x"), RS("drink"),
                               RS("toss"), RS("throw"), RS("drop"), RS("wish")};
    realm_state_set_text(RS("short"), RS("The Well Green"));
    realm_state_set_text(RS("long"),
        RS("A triangle of common grass where Thornwick's geese graze and gossip. At its centre "
           "stands the old well, ringed with mossy stones, its oak winch and bucket still in daily "
           "use. The lane runs south to the market square, and north toward the steady rumble "
           "of the watermill."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    set_exits(EXITS, LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
}

void realm_on_load(realm_str self) {
    describe();
    keep_cat(self);
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    describe();
}

void realm_reset(realm_str self) {
    keep_cat(self);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    realm_str noun = noun_of(args);
    bool coin = realm_str_find(noun, RS("coin")) >= 0;
    if (realm_str_eqz(verb, "drink")) {
        if (noun.len && !one_of("water|well|bucket|the well|water from well", noun)) return false;
        drink(self, actor);
        return true;
    }
    if (realm_str_eqz(verb, "toss") || realm_str_eqz(verb, "throw")) {
        if (!coin) return false;
        toss(self, actor);
        return true;
    }
    if (realm_str_eqz(verb, "drop")) { /* "drop coin in well"; a plain drop is the driver's */
        if (!coin || realm_str_find(noun, RS("well")) < 0) return false;
        toss(self, actor);
        return true;
    }
    if (realm_str_eqz(verb, "wish")) {
        realm_tell(actor, RS("Wishes at this well cost a coin. Toss one in: {bold}toss coin into well{/}."));
        return true;
    }
    return look_detail(actor, verb, args);
}

/*
 * /rooms/cellar - the tavern cellar, dark in the corners.
 *
 * `search` finds a coin hidden behind the barrels, once per reset, but
 * only by the light of a lit lamp: carried by the searcher or standing on
 * the floor. A lamp says it is lit in its public `lit` state key.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EXITS[] = {
    "up", "/rooms/tavern",
};

static const char *const DETAILS[] = {
    "barrels|barrel|casks|cask",
    "Oak barrels of ale and cider, their dates chalked on the staves. One near the back "
    "wall has been shifted, as if something behind it was once worth hiding.",
    "corners|corner|dark|darkness|shadows",
    "The corners are black as a boot. You would need a light to search them.",
    "cobwebs|cobweb|ceiling|spider",
    "Grey cobwebs sag from the vaulted ceiling. Their owner is nowhere to be seen, "
    "which is somehow worse.",
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

/* Does anything in `where` give light? */
static bool light_in(realm_str where) {
    realm_strs things = realm_contents(where);
    for (size_t i = 0; i < things.len; i++) {
        const uint8_t *v;
        size_t n;
        realm_cbor_reader r;
        bool lit = false;
        if (!realm_query(things.items[i], RS("lit"), &v, &n)) continue;
        realm_cbor_reader_init(&r, v, n);
        if (realm_cbor_get_bool(&r, &lit) && lit) return true;
    }
    return false;
}

static void search(realm_str self, realm_str actor) {
    bool searched = false;
    if (!light_in(actor) && !light_in(self)) {
        realm_tell(actor, RS("You grope about in the dark and bark your shins on a barrel. "
                             "You will need a light to search down here."));
        return;
    }
    realm_state_get_bool(RS("searched"), &searched);
    if (searched) {
        realm_tell(actor, RS("You search by lamplight, but find only cobwebs and one very "
                             "surprised spider."));
        return;
    }
    realm_result coin = realm_clone(RS("/obj/coin"));
    if (coin.ok) coin = realm_move(coin.value, actor);
    if (!coin.ok) {
        realm_log(REALM_WARN, realm_str_concat(RS("no coin to find: "), coin.error));
        realm_tell(actor, RS("You search by lamplight, but find nothing."));
        return;
    }
    realm_state_set_bool(RS("searched"), true);
    realm_tell(actor, RS("By the lamp's glow you spot a loose brick behind the last barrel. "
                         "Tucked behind it is a {bold}silver coin{/}, which you pocket."));
    tell_others(self, actor, realm_str_concat(name_of(actor), RS(" rummages behind the barrels by lamplight.")));
}

static void describe(void) {
    const realm_str verbs[] = {RS("look"), RS("l"), RS("examine"), RS("exa"), RS("x"), RS("search")};
    realm_state_set_text(RS("short"), RS("The Tavern Cellar"));
    realm_state_set_text(RS("long"),
        RS("Cool air smelling of damp stone and old beer fills this cramped cellar. Barrels are "
           "stacked against the walls in ragged rows, and cobwebs drape the low vaulted ceiling "
           "like grey bunting. A little light falls down the steps from the tavern above, but "
           "the far corners are black as pitch."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
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

/* The coin is back behind its brick. */
void realm_reset(realm_str self) {
    (void)self;
    realm_state_set_bool(RS("searched"), false);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (realm_str_eqz(verb, "search")) {
        search(self, actor);
        return true;
    }
    return look_detail(actor, verb, args);
}

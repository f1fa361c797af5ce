/*
 * /rooms/cellar - the tavern cellar, dark in the corners.
 *
 * `search` finds a coin hidden behind the barrels, once per reset, but
 * only by the light of a lit lamp: carried by the searcher or standing on
 * the floor. A lamp says it is lit in its public `lit` state key.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "up", "/rooms/tavern",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "barrels|barrel|casks|cask",
    "Oak barrels of ale and cider, their dates chalked on the staves. One near the back "
    "wall has been shifted, as if something behind it was once worth hiding.",
    "corners|corner|dark|darkness|shadows",
    "The corners are black as a boot. You would need a light to search them.",
    "cobwebs|cobweb|ceiling|spider",
    "Grey cobwebs sag from the vaulted ceiling. Their owner is nowhere to be seen, "
    "which is somehow worse.",
    "air|smell|damp|cellar",
    "The air is cool and heavy, and smells of damp stone and of beer spilled long before you were born.",
    "walls|stone|stones|rows",
    "Rough stone walls, sweating with damp, lined with barrels in ragged rows.",
    "beer|ale",
    "Old beer, mostly in the barrels and partly in the floor, by the smell of it.",
    "steps|stairs|tavern|light",
    "Worn steps climb to the tavern, and a little light falls down them, stopping well short of the corners.",
};

/* Once the coin is found, the brick it was behind can be looked at too. */
static const char *const FOUND_DETAILS[] = {
    "brick|loose brick|bricks|wall|back wall",
    "A loose brick in the back wall, behind the last barrel. It comes out easily and goes back "
    "just as easily: a hiding place somebody made on purpose, long ago.",
};

/* The cellar's scenery: the brick only once someone found what was behind it. */
static void set_details(bool found) {
    size_t n = REALM_LEN(DETAILS), m = found ? REALM_LEN(FOUND_DETAILS) : 0;
    const char **all = (const char **)realm_alloc((n + m) * sizeof(char *));
    for (size_t i = 0; i < n; i++) all[i] = DETAILS[i];
    for (size_t i = 0; i < m; i++) all[n + i] = FOUND_DETAILS[i];
    realm_state_set_text_map(RS("details"), all, (n + m) / 2);
}

/* Does anything in `where` give light? */
static bool light_in(realm_str where) {
    realm_strs things = realm_contents(where);
    for (size_t i = 0; i < things.len; i++) {
        bool lit = false;
        if (realm_query_bool(things.items[i], RS("lit"), &lit) && lit) return true;
    }
    return false;
}

static void search(realm_str self, realm_str actor) {
    bool searched = false;
    if (!light_in(actor) && !light_in(self)) {
        realm_tell(actor, RS("You grope about in the dark and bark your shins on a barrel. "
                             "You will need a light to search down here."));
        thornwick_vitals(actor, "shin");
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
    set_details(true);
    realm_announce(actor, RS("By the lamp's glow you spot a loose brick behind the last barrel. "
                             "Tucked behind it is a {bold}silver coin{/}, which you pocket."),
                   RS("rummages behind the barrels by lamplight."));
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("search")};
    realm_state_set_text(RS("short"), RS("The Tavern Cellar"));
    realm_state_set_text(RS("long"),
        RS("Cool air smelling of damp stone and old beer fills this cramped cellar. Barrels are "
           "stacked against the walls in ragged rows, and cobwebs drape the low vaulted ceiling "
           "like grey bunting. A little light falls down the steps from the tavern above, but "
           "the far corners are black as pitch."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    bool searched = false;
    realm_state_get_bool(RS("searched"), &searched);
    set_details(searched);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

/* The coin is back behind its brick. */
void realm_reset(realm_str self) {
    (void)self;
    realm_state_set_bool(RS("searched"), false);
    set_details(false);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)args;
    if (!realm_str_eqz(verb, "search")) return false;
    search(self, actor);
    return true;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

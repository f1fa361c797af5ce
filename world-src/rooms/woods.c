/*
 * /rooms/woods - deep in the Whisperwood.
 *
 * `listen` to what the leaves whisper (a different line each time). A
 * silver coin (/obj/coin) lies among the roots, put back on load and reset
 * if nothing of the kind is here.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "east", "/rooms/path",
    "north", "/rooms/glade",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "roots|root",
    "Roots knot across the path like sleeping snakes. One of them, you are almost sure, "
    "was not there a moment ago.",
    "leaves|trees|tree|oaks|oak|canopy",
    "The canopy is so thick that the light comes through green and dim. The leaves move "
    "and murmur though there is no wind at all.",
    "trail|deer trail|leaning trees|deer",
    "Two trees lean together like gossips, and between them a narrow deer trail slips "
    "away north.",
    "path",
    "The path runs back east toward the village. It seems narrower than when you came in.",
    "wind|breeze",
    "There is no wind at all. The leaves whisper anyway.",
    "village|thornwick",
    "Somewhere back east, past the path, is Thornwick.",
    "light|green light",
    "The light comes through the canopy green and dim, as if you were under water.",
    "snakes|snake",
    "Only roots. Probably.",
};

static const char *const WHISPERS[] = {
    "...the stone remembers... the stone remembers...",
    "...lost, lost, a coin among the roots...",
    "...the cat knows the way... the cat always knows...",
    "...light in the cellar, light behind the barrels...",
    "...the tower fell... the sun-folk went away...",
    "...keep to the path, little one, keep to the path...",
};

static void listen(realm_str actor) {
    int64_t turn = 0;
    realm_state_get_int(RS("whisper"), &turn);
    turn = (turn + 1 + (int64_t)(realm_now_ms() % 3)) % (int64_t)REALM_LEN(WHISPERS);
    realm_state_set_int(RS("whisper"), turn);
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, "You hold your breath and listen. The leaves whisper: {green}");
    realm_buf_z(&b, WHISPERS[turn]);
    realm_buf_z(&b, "{/}");
    realm_announce(actor, realm_buf_str(&b), RS("stands very still, listening to the leaves."));
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("listen")};
    realm_state_set_text(RS("short"), RS("Deep in the Whisperwood"));
    realm_state_set_text(RS("long"),
        RS("The oaks close in overhead, and the light turns green and dim, as if you were walking "
           "under water. Roots knot across the path like sleeping snakes, and the leaves whisper "
           "constantly, though you feel no wind. The path runs back east toward the village, and "
           "a narrow deer trail slips away north between two leaning trees."));
    realm_state_set_text(RS("area"), RS("the Whisperwood"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

void realm_on_load(realm_str self) {
    realm_stock(self, RS("/obj/coin"), RS("coin"));
}

void realm_reset(realm_str self) {
    realm_stock(self, RS("/obj/coin"), RS("coin"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)args;
    if (!realm_str_eqz(verb, "listen")) return false;
    listen(actor);
    return true;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

/*
 * /rooms/square - Thornwick's market square, where newcomers start.
 *
 * The hub of the village: the tavern east, the well green north, the
 * forest path west. The notice board (/obj/board) stands here; the room
 * puts it back on load and reset if it is ever gone.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "north", "/rooms/green",
    "east", "/rooms/tavern",
    "in", "/rooms/tavern",
    "west", "/rooms/path",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "cross|market cross|stone cross|stone",
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
    "carts|cart",
    "No carts just now, but a few hundred years of them have left their ruts in the cobbles.",
    "thornwick|village|heart",
    "Thornwick, all forty-odd souls and three hundred geese of it, gathered around its cross.",
    "woodsmoke|smoke",
    "Woodsmoke drifts from the tavern chimney and the baker's oven.",
    "lane|well|old well",
    "A grassy lane leads north toward the old well on the green.",
    "path|dirt|dirt path|eaves|whisperwood|forest|woods",
    "Westward the cobbles give way to a dirt path, and the path to the dark eaves of the Whisperwood.",
    "edges",
    "Stalls crowd the edges of the square.",
};

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("Thornwick Market Square"));
    realm_state_set_text(RS("long"),
        RS("Cobbles worn smooth by generations of carts slope gently toward a weathered stone "
           "cross at the heart of Thornwick. Stalls under faded awnings crowd the edges, smelling "
           "of apples, woodsmoke and warm bread. To the east a painted lantern swings above the "
           "door of the Crooked Lantern tavern, and a grassy lane leads north toward the old well. "
           "Westward the cobbles give way to a dirt path that vanishes under the dark eaves of the "
           "Whisperwood."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), NULL, 0); /* no commands: the driver shows the details */
}

void realm_on_load(realm_str self) {
    realm_stock(self, RS("/obj/board"), RS("board"));
}

/* A reload picks up edited descriptions; nothing else changes. */

void realm_reset(realm_str self) {
    realm_stock(self, RS("/obj/board"), RS("board"));
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

/*
 * /rooms/ruin - the broken watchtower on the hill across the ford.
 *
 * An old longsword (/obj/sword) lies among the fallen stones, put back on
 * load and reset if it is gone.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "southwest", "/rooms/ford",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "tower|watchtower|storey|lower storey|ruin|ruins",
    "Only the lower storey of the watchtower still stands: thick walls of grey stone, split open "
    "to the sky, with no roof and no stair left to climb. Whoever watched from here watched the "
    "ford, and whatever came across it.",
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
    "sky|clouds",
    "The sky stands wide open where the tower's roof used to be.",
    "wind",
    "The wind moans through the arrow slits, and pulls at your hair.",
    "track|ford|path",
    "A track winds back down the hill, southwest, to the ford.",
    "outline|faint outline",
    "On some stones you can just make out the faint outline of a carved sun.",
    "hill",
    "The ruin crowns a bare hill over the river, with the whole valley below.",
};

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Broken Watchtower"));
    realm_state_set_text(RS("long"),
        RS("Only the lower storey of the old watchtower still stands, its walls split open to the "
           "sky and choked with ivy and bramble. Fallen stones lie where they tumbled long ago, "
           "some still bearing the faint outline of a carved sun. Wind moans through the arrow "
           "slits, and from up here the whole valley lies spread below you. A track winds back "
           "down southwest to the ford."));
    realm_state_set_text(RS("area"), RS("the River Wend"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), NULL, 0); /* no commands: the driver shows the details */
}

void realm_on_load(realm_str self) {
    realm_stock(self, RS("/obj/sword"), RS("sword"));
}

void realm_reset(realm_str self) {
    realm_stock(self, RS("/obj/sword"), RS("sword"));
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

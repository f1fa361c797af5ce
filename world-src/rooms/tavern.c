/*
 * /rooms/tavern - the Crooked Lantern, Thornwick's only tavern.
 *
 * Home of Marta the innkeeper (/npc/innkeeper) and of a brass lamp
 * (/obj/lamp) that anyone bound for the cellar below will want. Both are
 * put back on load and reset if they are gone. Upstairs is the quiz hall,
 * a declarative room (/rooms/quiz, world-src/rooms/quiz.json).
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "west", "/rooms/square",
    "out", "/rooms/square",
    "down", "/rooms/cellar",
    "up", "/rooms/quiz",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "hearth|fire|fireplace",
    "Logs of apple wood burn slowly in the great hearth, filling the room with sweet smoke. "
    "A cat-shaped scorch mark on the hearthstone suggests a previous regular got too close.",
    "bar|counter|tankards|tankard|oak",
    "A long oak bar, dark with age and polished by elbows. Pewter tankards hang above it, "
    "each scratched with a regular's initials.",
    "trapdoor|steps|stairs",
    "A heavy trapdoor behind the bar stands propped open on a chain. Worn steps lead down "
    "into the cool dark of the cellar.",
    "tables|benches|table|bench",
    "Mismatched tables and benches, none quite level, all of them carved with hearts, "
    "initials and one very rude goat.",
    "floorboards|floor|boards",
    "Wide floorboards, polished by years of spilled ale and dancing.",
    "ale|beer",
    "Marta's brown ale, by the smell of it: everywhere, and mostly in the floor. {bold}order ale{/} for some in a mug.",
    "beams|ceiling|room|common room",
    "Low, smoke-dark beams. Tall folk learn to duck in here, or learn the hard way.",
    "cellar",
    "The cellar is down the steps behind the bar.",
    "stair|upstairs|quiz|hall|quiz hall|loft",
    "A narrow stair climbs to the quiz hall upstairs.",
    "door|draught|square",
    "The door west lets in a draught from the square whenever it opens.",
    "row|hooks",
    "A row of hooks above the bar, a tankard on every one.",
};

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Crooked Lantern"));
    realm_state_set_text(RS("long"),
        RS("A low-beamed common room, warm and smoky, with a fire crackling in a hearth big "
           "enough to roast an ox. Mismatched tables stand on floorboards polished by years of "
           "spilled ale, and a long oak bar gleams under a row of hanging tankards. A trapdoor "
           "behind the bar opens onto steps down to the cellar, a narrow stair climbs to the "
           "quiz hall upstairs, and the door west lets in a draught from the square whenever "
           "it opens."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), NULL, 0); /* no commands: the driver shows the details */
}

static void restock(realm_str self) {
    realm_stock(self, RS("/npc/innkeeper"), RS("Marta"));
    realm_stock(self, RS("/obj/lamp"), RS("lamp"));
}

void realm_on_load(realm_str self) {
    restock(self);
}

void realm_reset(realm_str self) {
    restock(self);
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

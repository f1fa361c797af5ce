/*
 * /rooms/mill - the old watermill on the river Wend.
 *
 * `pull lever` (or push) opens or shuts the sluice: the great wheel turns
 * or stands still, and the room's description says which. The state key
 * `turning` keeps it across reloads and resets. A leather satchel
 * (/obj/bag) lies here, put back on load and reset if it is gone.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "south", "/rooms/green",
    "east", "/rooms/ford",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
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
    "dust|flour dust|light",
    "Flour dust turns the slanting light into solid gold bars.",
    "house|mill|mill house|walls",
    "A mill house of whitewashed stone, every surface powdered with flour.",
    "gate|sluice gate|race|mill race",
    "Outside, the sluice gate holds back the race that turns the wheel.",
    "door|doorway",
    "The door stands open on the river and lets the light in.",
    "river|wend|water",
    "Through the open door the river Wend runs east toward the ford.",
    "ford",
    "East along the river, the ford.",
    "lane|green",
    "The lane leads back south to the green.",
};

static bool turning(void) {
    bool on = false;
    realm_state_get_bool(RS("turning"), &on);
    return on;
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("pull"), RS("push")};
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
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

static void work_lever(realm_str self, realm_str actor) {
    bool on = !turning();
    realm_state_set_bool(RS("turning"), on);
    realm_describe(self);
    if (on)
        realm_announce(actor, RS("You heave on the lever. The sluice gate groans open, water thunders onto "
                                 "the paddles, and with a shudder the great wheel begins to turn. The "
                                 "millstones start to grind."),
                       RS("heaves on the sluice lever, and the great wheel outside shudders into motion."));
    else
        realm_announce(actor, RS("You push the lever home. The sluice gate thuds shut, and the wheel slows, "
                                 "creaks, and stands still, dripping."),
                       RS("pushes the sluice lever home, and the great wheel creaks to a halt."));
}

void realm_on_load(realm_str self) {
    realm_stock(self, RS("/obj/bag"), RS("satchel"));
}

void realm_reset(realm_str self) {
    realm_stock(self, RS("/obj/bag"), RS("satchel"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (!realm_str_eqz(verb, "pull") && !realm_str_eqz(verb, "push")) return false;
    if (!realm_one_of("lever|sluice|sluice lever|handle", realm_noun_of(args))) return false;
    work_lever(self, actor);
    return true;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

/*
 * /rooms/ford - the shallow crossing of the river Wend.
 *
 * Flavour: `wade`, `drink`, `fish`. A silver coin (/obj/coin) glints in
 * the shallows, put back on load and reset if nothing of the kind is here.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "west", "/rooms/mill",
    "northeast", "/rooms/ruin",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "heron|bird",
    "A grey heron, patient as a stone and entirely unimpressed by you. It has clearly "
    "decided you are not a fish.",
    "river|water|wend|current|shallows",
    "Clear brown water hurries over the pale stones, cold enough to make you gasp just "
    "looking at it. Here and there something small and silver darts away.",
    "willows|willow|trees|reeds",
    "Old willows lean over the water, trailing their long fingers in the current. Reeds crowd "
    "the bank where the heron stands.",
    "tower|ruin|hill|track",
    "On the hill across the river stands the stump of an old watchtower, black against the "
    "sky. A track climbs toward it.",
    "bed|stones|crossing|pebbles",
    "Pale stones, rounded by the river, make a rough crossing. Some of them wobble.",
    "mill|wheel|mill wheel",
    "Upstream to the west the mill wheel shows between the trees.",
    "fingers|branches",
    "The willows' long branches trail in the water like fingers.",
};

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("wade"), RS("drink"), RS("fish"), RS("swim")};
    realm_state_set_text(RS("short"), RS("The River Ford"));
    realm_state_set_text(RS("long"),
        RS("The river Wend spreads wide and shallow here, chattering over a bed of pale stones "
           "that make a rough crossing. Willows trail their fingers in the current, and a heron "
           "stands motionless in the reeds, pretending not to notice you. Upstream to the west "
           "the mill wheel shows between the trees, and across the water a track climbs northeast "
           "toward a broken tower on the hill."));
    realm_state_set_text(RS("area"), RS("the River Wend"));
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
    if (realm_str_eqz(verb, "wade") || realm_str_eqz(verb, "swim")) {
        realm_announce(actor, RS("You wade out into the ford. The river grabs at your knees, icy and "
                                 "insistent, and the stones are slick underfoot. The heron watches, "
                                 "judging your technique."),
                       RS("wades into the river, gasping at the cold."));
        thornwick_vitals(actor, "wade");
        return true;
    }
    if (realm_str_eqz(verb, "drink")) {
        realm_announce(actor, RS("You cup your hands and drink. The river tastes of stone and green "
                                 "things, and is very, very cold."),
                       RS("kneels and drinks from the river."));
        thornwick_vitals(actor, "water");
        return true;
    }
    if (realm_str_eqz(verb, "fish")) {
        realm_tell(actor, RS("You have no rod, and the heron is far better at this than you are."));
        return true;
    }
    return false;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

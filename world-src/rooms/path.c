/*
 * /rooms/path - where the village ends and the Whisperwood begins.
 *
 * `read sign` reads the signpost.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "east", "/rooms/square",
    "west", "/rooms/woods",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "sign|signpost|post",
    "A weathered signpost with two arms, leaning like a tired old man. You could read it.",
    "oaks|oak|trees|tree|forest|wood|whisperwood",
    "The first oaks of the Whisperwood are vast and grey-barked, their lowest branches "
    "higher than a house. Beyond them the light turns green and dim.",
    "cottages|cottage|village|thornwick",
    "The last cottages of Thornwick huddle behind you, thatched and whitewashed, with "
    "hollyhocks at their doors.",
    "path|dirt|ruts|dirt path",
    "A rutted dirt path, churned by carts and geese in about equal measure.",
    "arms|arm",
    "The signpost's two arms point both ways: EAST to Thornwick, WEST to the Whisperwood.",
    "cobbles|square|market",
    "Behind you to the east, the cobbles of the market square begin.",
    "birdsong|birds|shade",
    "Ahead, the shade deepens, and the birds sing in a key you do not quite recognise.",
    "edge",
    "At the edge of the trees the signpost leans like a tired old man.",
};

#define SIGN \
    "The signpost's arms read: {bold}EAST: Thornwick{/} and {bold}WEST: The Whisperwood{/}. " \
    "Beneath them someone has scratched, less neatly: {italic}keep to the path{/}."

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("read")};
    realm_state_set_text(RS("short"), RS("The Forest Path"));
    realm_state_set_text(RS("long"),
        RS("A rutted dirt path leaves the last cottages of Thornwick behind and runs west beneath "
           "the first great oaks of the Whisperwood. A weathered signpost leans at the edge of the "
           "trees, its arms pointing both ways. Behind you to the east the cobbles of the market "
           "square begin; ahead, the shade deepens and the birdsong grows strange."));
    realm_state_set_text(RS("area"), RS("the Whisperwood"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (!realm_str_eqz(verb, "read")) return false;
    realm_str noun = realm_noun_of(args);
    if (noun.len && !realm_one_of("sign|signpost|post|arms", noun)) return false;
    realm_tell(actor, RS(SIGN));
    return true;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

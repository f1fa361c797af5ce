/*
 * /rooms/glade - the moonflower glade, where the standing stone speaks.
 *
 * The stone is /npc/oracle (a Python blueprint), put back on load and
 * reset if it is gone. Flavour: `rest` (or `sit`), `pick flowers`.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "south", "/rooms/woods",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "moonflowers|moonflower|flowers|flower",
    "Pale, star-shaped flowers with silver hearts. They turn, very slowly, to follow "
    "whoever moves in the glade.",
    "grass|ring|circle",
    "The grass grows in a ring as neat as if it had been drawn with a compass, soft and "
    "springy and faintly warm.",
    "trees|forest|oaks",
    "The trees stand back from the glade at a respectful distance, like guests who were "
    "not invited in.",
    "air|hush|silence",
    "The air is hushed, as if the whole wood were holding its breath. Even your footsteps sound polite.",
    "trail|deer trail|deer",
    "The deer trail leads back south into the trees. Whatever made it is not here now.",
    "wood|woods|whisperwood",
    "The Whisperwood stands all around, keeping its distance.",
    "middle|centre",
    "In the middle of the ring stands a tall grey stone.",
};

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("rest"), RS("sit"), RS("pick")};
    realm_state_set_text(RS("short"), RS("The Moonflower Glade"));
    realm_state_set_text(RS("long"),
        RS("The trees draw back to form a perfect ring of soft grass, starred with pale "
           "moonflowers that turn to follow you. In the middle stands a tall grey stone, older than "
           "the forest, weathered into something that is almost, but not quite, a face. The air "
           "is hushed, as if the whole wood were holding its breath. The deer trail leads back "
           "south into the trees."));
    realm_state_set_text(RS("area"), RS("the Whisperwood"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

void realm_on_load(realm_str self) {
    realm_stock(self, RS("/npc/oracle"), RS("stone"));
}

void realm_reset(realm_str self) {
    realm_stock(self, RS("/npc/oracle"), RS("stone"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (realm_str_eqz(verb, "rest") || realm_str_eqz(verb, "sit")) {
        realm_announce(actor, RS("You sit down in the soft grass. The moonflowers lean toward you, the "
                                 "hush settles over you like a blanket, and for a while nothing at all "
                                 "seems urgent."),
                       RS("sits down in the grass and looks peaceful."));
        thornwick_vitals(actor, "rest");
        return true;
    }
    if (realm_str_eqz(verb, "pick")) {
        if (!realm_one_of("moonflowers|moonflower|flowers|flower", realm_noun_of(args))) return false;
        realm_tell(actor, RS("You reach for a moonflower, but it curls shut and draws back into the "
                             "grass. Best leave them be."));
        return true;
    }
    return false;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

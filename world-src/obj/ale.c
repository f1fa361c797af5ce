/*
 * /obj/ale - a mug of Marta's brown ale, as `order ale` (or `buy ale`) in
 * the Crooked Lantern hands over. `drink ale` empties it and puts some
 * stamina back (see /daemon/vitals); the mug goes back behind the bar.
 */
#include "thornwick.h"

#define IDS "ale|mug|mug of ale|brown ale|mug of brown ale|beer|pint|drink"

static const char *const DETAILS[] = {
    "foam|froth|head", "A thick cap of creamy foam, already sliding down the side of the mug.",
    "handle|pewter", "A pewter handle, worn smooth and warm from the bar.",
};

void realm_on_load(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("ale"), RS("mug"), RS("brown ale"), RS("mug of ale"), RS("beer"), RS("pint")};
    const realm_str verbs[] = {RS("drink"), RS("quaff"), RS("sip")};
    realm_state_set_text(RS("name"), RS("ale"));
    realm_state_set_text(RS("short"), RS("a mug of brown ale"));
    realm_state_set_text(RS("plural"), RS("mugs of brown ale"));
    realm_state_set_text(RS("long"),
        RS("A pewter mug of Marta's brown ale, dark as a peat stream, with a head of foam "
           "sliding down the handle. It smells of malt and woodsmoke. ({bold}drink ale{/})"));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), true);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    return thornwick_drink(self, actor, verb, args, IDS,
                           "You drink the ale in long, slow swallows. It is nutty and bitter and warms you "
                           "right down to your boots.",
                           "drains a mug of brown ale and wipes the foam from their lip.", "ale");
}

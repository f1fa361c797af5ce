/*
 * /obj/cider - a cup of Marta's sharp cider, as `order cider` hands over.
 * `drink cider` empties it (and wakes you up: see /daemon/vitals).
 */
#include "thornwick.h"

#define IDS "cider|cup|cup of cider|cloudy cider|drink"

static const char *const DETAILS[] = {
    "cup|horn", "A cup of polished horn, light and warm in the hand.",
};

void realm_on_load(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("cider"), RS("cup"), RS("cup of cider"), RS("cloudy cider")};
    const realm_str verbs[] = {RS("drink"), RS("quaff"), RS("sip")};
    realm_state_set_text(RS("name"), RS("cider"));
    realm_state_set_text(RS("short"), RS("a cup of cloudy cider"));
    realm_state_set_text(RS("plural"), RS("cups of cloudy cider"));
    realm_state_set_text(RS("long"),
        RS("Cloudy gold cider in a horn cup, sharp enough to make your eyes water at the smell "
           "alone. ({bold}drink cider{/})"));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), true);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    return thornwick_drink(self, actor, verb, args, IDS,
                           "You drink the cider. It is so sharp your eyes water, and then you feel "
                           "wide awake.",
                           "downs a cup of cider and blinks hard.", "cider");
}

/*
 * /obj/lamp - a brass lamp: `light lamp`, `extinguish lamp`.
 *
 * The `lit` state key is public, so other objects can tell whether it
 * gives light (the tavern cellar does); `short` becomes "a lit brass lamp".
 */
#include "realm.h"

#define IDS "lamp|brass lamp|lit lamp|lantern|light"

static const char *const DETAILS[] = {
    "chimney|glass|glass chimney",
    "A glass chimney, sooty at the top, that keeps the draught off the flame.",
    "wheel|little wheel",
    "A little brass wheel that winds the wick up and down.",
    "wick",
    "A cotton wick, black at the tip.",
    "oil",
    "Lamp oil, sloshing in the base. Plenty for an evening in a dark cellar.",
    "flame|light|shadows",
    "When the lamp is lit, a steady yellow flame throws warm light and long shadows.",
    "brass",
    "Dented brass, polished where hands hold it.",
};

static bool is_lit(void) {
    bool lit = false;
    realm_state_get_bool(RS("lit"), &lit);
    return lit;
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("lamp"), RS("brass lamp"), RS("lantern")};
    const realm_str verbs[] = {RS("light"), RS("extinguish"), RS("douse"), RS("snuff"), RS("blow"), RS("unlight")};
    const realm_str public_keys[] = {RS("lit")};
    bool lit = is_lit();
    realm_state_set_text(RS("name"), RS("lamp"));
    realm_state_set_text(RS("short"), lit ? RS("a lit brass lamp") : RS("a brass lamp"));
    realm_state_set_text(RS("long"),
        lit ? RS("A dented brass lamp with a glass chimney. A steady yellow flame burns inside, "
                 "throwing warm light and long shadows all around. ({bold}extinguish lamp{/} to put it out.)")
            : RS("A dented brass lamp with a glass chimney and a little wheel for the wick. It is full "
                 "of oil and smells of it. ({bold}light lamp{/} to light it.)"));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_strs(RS("public"), public_keys, REALM_LEN(public_keys));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), true);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    realm_str noun = realm_noun_of(args);
    bool on = realm_str_eqz(verb, "light");
    if (!on && !realm_str_eqz(verb, "extinguish") && !realm_str_eqz(verb, "douse") &&
        !realm_str_eqz(verb, "snuff") && !realm_str_eqz(verb, "unlight") && !realm_str_eqz(verb, "blow"))
        return false;
    if (realm_str_eqz(verb, "blow")) { /* blow out lamp */
        if (!realm_str_starts_with(noun, RS("out"))) return false;
        noun = realm_noun_of((realm_str){noun.ptr + 3, noun.len - 3});
    }
    if (noun.len == 0) { /* a bare "light": only the lamp you carry answers */
        realm_str env;
        if (!realm_environment(self, &env) || !realm_str_eq(env, actor)) return false;
    } else if (!realm_one_of(IDS, noun)) {
        return false;
    }
    if (on == is_lit()) {
        realm_tell(actor, on ? RS("The lamp is already lit.") : RS("The lamp isn't lit."));
        return true;
    }
    realm_state_set_bool(RS("lit"), on);
    realm_describe(self);
    if (on)
        realm_announce(actor, RS("You strike a spark and turn up the wick. The brass lamp flares into life, "
                                 "and warm {yellow}light{/} pools around you."),
                       RS("lights a brass lamp."));
    else
        realm_announce(actor, RS("You blow out the lamp. A thread of smoke curls up from the chimney."),
                       RS("blows out a brass lamp."));
    return true;
}

/*
 * /obj/sword - an old longsword from the ruined watchtower.
 *
 * `wield sword` / `unwield sword` toggle the `wielded` state key (the
 * wielder's id is kept in `wielder`), and the short description shows it.
 * The driver does not tell an object that it was moved, so while wielded
 * the sword checks every few seconds (a callout) that its wielder still
 * holds it; dropped or given away, it quietly stops being wielded.
 */
#include "thornwick.h"

#define CHECK_MS 5000

#define IDS "sword|longsword|blade|notched sword|notched longsword|old sword"

static const char *const DETAILS[] = {
    "hilt|sun|face|etching",
    "Near the hilt a sun with a face is etched into the steel, the same sun as on the watchtower's stones.",
    "rust|edge|notches",
    "Freckled with rust and notched in three places, but one edge is still keen enough to shave with.",
};

static bool wielded(void) {
    bool on = false;
    realm_state_get_bool(RS("wielded"), &on);
    return on;
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("sword"), RS("longsword"), RS("blade"), RS("notched sword")};
    const realm_str verbs[] = {RS("wield"), RS("unwield"), RS("sheathe"), RS("swing")};
    const realm_str public_keys[] = {RS("wielded")};
    realm_state_set_text(RS("name"), RS("sword"));
    realm_state_set_text(RS("short"), wielded() ? RS("a notched longsword (wielded)") : RS("a notched longsword"));
    realm_state_set_text(RS("long"),
        RS("An old longsword, its blade notched and freckled with rust but still keen along one edge. "
           "A sun with a face is etched near the hilt: the same sun that is carved on the stones of "
           "the broken watchtower."));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_strs(RS("public"), public_keys, REALM_LEN(public_keys));
    realm_state_set_bool(RS("gettable"), true);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
}

static void set_wielded(realm_str self, realm_str wielder) {
    if (wielder.len) {
        realm_state_set_bool(RS("wielded"), true);
        realm_state_set_text(RS("wielder"), wielder);
        realm_callout(RS("check"), CHECK_MS, NULL, 0);
    } else {
        realm_state_set_bool(RS("wielded"), false);
        realm_state_delete(RS("wielder"));
    }
    realm_describe(self);
}

/* Still in the hands that wield it? If not, it is not wielded any more. */
static bool held_by_wielder(realm_str self) {
    realm_str wielder, env;
    return wielded() && realm_state_get_text(RS("wielder"), &wielder) && realm_environment(self, &env) &&
           realm_str_eq(env, wielder);
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)args;
    if (!realm_str_eqz(method, "check") || !wielded()) return;
    if (held_by_wielder(self))
        realm_callout(RS("check"), CHECK_MS, NULL, 0);
    else
        set_wielded(self, RS(""));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (!realm_str_eqz(verb, "wield") && !realm_str_eqz(verb, "unwield") && !realm_str_eqz(verb, "sheathe") &&
        !realm_str_eqz(verb, "swing"))
        return false;
    realm_str noun = realm_noun_of(args), env;
    bool mine = realm_environment(self, &env) && realm_str_eq(env, actor);
    if (noun.len ? !realm_one_of(IDS, noun) : !mine) return false; /* some other sword, or none named */
    if (wielded() && !held_by_wielder(self)) set_wielded(self, RS("")); /* stale: it was dropped */

    if (realm_str_eqz(verb, "wield")) {
        if (!mine) {
            realm_tell(actor, RS("You need to pick it up first."));
        } else if (wielded()) {
            realm_tell(actor, RS("You are already wielding it."));
        } else {
            set_wielded(self, actor);
            realm_announce(actor, RS("You grip the notched longsword. It is lighter than it looks, and sits in "
                                     "your hand as if it remembers being used."),
                           RS("wields a notched longsword."));
        }
        return true;
    }
    if (realm_str_eqz(verb, "swing")) {
        if (!mine || !wielded()) {
            realm_tell(actor, RS("You should wield it before you start swinging it about."));
        } else {
            realm_announce(actor, RS("You swing the longsword in a whistling arc. Nothing is harmed, but you "
                                     "feel very heroic."),
                           RS("swings a notched longsword in a whistling arc. Everyone steps back."));
            thornwick_vitals(actor, "swing");
        }
        return true;
    }
    /* unwield, sheathe */
    if (!mine || !wielded()) {
        realm_tell(actor, RS("You aren't wielding it."));
    } else {
        set_wielded(self, RS(""));
        realm_announce(actor, RS("You lower the longsword and let it hang at your side."),
                       RS("lowers a notched longsword."));
    }
    return true;
}

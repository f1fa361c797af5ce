/*
 * /rooms/green - the village green and its wishing well.
 *
 * `drink` from the well; `toss coin into well` (or `drop coin in well`)
 * spends one of the actor's coins on a wish. The green is also home to
 * Tansy the cat (/npc/cat), who wanders the village: since she is seldom
 * at home, the green remembers her id in its `cat` state key and clones a
 * new cat only when that one no longer exists. On every reset it nudges
 * her, which restarts her wandering should her callouts ever be lost.
 */
#include "thornwick.h"

static const char *const EXITS[] = {
    "south", "/rooms/square",
    "north", "/rooms/mill",
};

/* Scenery for the driver's `look at`: "noun|noun...", then its description. */
static const char *const DETAILS[] = {
    "well|old well|rim|stones",
    "The well is old, older than the village some say. Its stones are furred with moss, and "
    "when you lean over the rim a cold breath rises from far below. Coins glint in the "
    "darkness at the bottom: wishes, every one.",
    "bucket|winch|rope|oak",
    "An oak bucket on a fraying rope, hung from a creaking winch. You could drink from it.",
    "geese|goose",
    "A gaggle of fat white geese regard you with deep suspicion. One hisses, for form's sake.",
    "grass|patch|green",
    "Cropped short by the geese, except for a bare patch by the well where children play "
    "at knucklebones.",
    "lane|square|market|thornwick|village",
    "The lane runs south to the market square, and north toward the mill.",
    "watermill|mill|rumble",
    "North up the lane, the watermill's rumble carries on the breeze.",
    "triangle|common|centre|middle",
    "A triangle of common grass, belonging to everyone and therefore mostly to the geese.",
    "moss",
    "Soft green moss, furring the stones of the well.",
};

static void toss(realm_str actor) {
    realm_str coin = realm_present(actor, RS("/obj/coin"), RS("coin"));
    if (!coin.len || !realm_destruct(coin).ok) {
        realm_tell(actor, RS("You have no coin to toss. The well seems to sigh."));
        return;
    }
    int64_t wishes = 0;
    realm_state_get_int(RS("wishes"), &wishes);
    realm_state_set_int(RS("wishes"), wishes + 1);
    realm_announce(actor, RS("You toss the coin into the well and make a wish. It tumbles end over end "
                             "into the dark... {cyan}plink{/}. Far below, something sounds pleased, and "
                             "you feel a little luckier."),
                   RS("tosses a coin into the well and makes a wish."));
}

static void drink(realm_str actor) {
    realm_announce(actor, RS("You lower the bucket, haul it up brimming and drink deep. The water is so "
                             "cold it makes your teeth ache, and tastes of iron and old stories."),
                   RS("draws a bucket from the well and drinks."));
    thornwick_vitals(actor, "water");
}

/* Tansy lives here. Keep exactly one of her in the world. */
static void keep_cat(realm_str self) {
    realm_str cat;
    if (realm_state_get_text(RS("cat"), &cat) && realm_environment(cat, NULL)) {
        realm_tell(cat, RS("nudge"));
        return;
    }
    realm_result made = realm_clone(RS("/npc/cat"));
    if (made.ok) {
        realm_str id = made.value;
        made = realm_move(id, self);
        if (made.ok) realm_state_set_text(RS("cat"), id);
    }
    if (!made.ok) realm_log(REALM_WARN, realm_str_concat(RS("no cat: "), made.error));
}

void realm_describe(realm_str self) {
    (void)self;
    const realm_str verbs[] = {RS("drink"), RS("toss"), RS("throw"), RS("drop"), RS("wish")};
    realm_state_set_text(RS("short"), RS("The Well Green"));
    realm_state_set_text(RS("long"),
        RS("A triangle of common grass where Thornwick's geese graze and gossip. At its centre "
           "stands the old well, ringed with mossy stones, its oak winch and bucket still in daily "
           "use. The lane runs south to the market square, and north toward the steady rumble "
           "of the watermill."));
    realm_state_set_text(RS("area"), RS("Thornwick"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
}

void realm_on_load(realm_str self) {
    keep_cat(self);
}

void realm_reset(realm_str self) {
    keep_cat(self);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    realm_str noun = realm_noun_of(args);
    bool coin = realm_str_find(noun, RS("coin")) >= 0;
    if (realm_str_eqz(verb, "drink")) {
        if (noun.len && !realm_one_of("water|well|bucket|the well|water from well", noun)) return false;
        drink(actor);
        return true;
    }
    if (realm_str_eqz(verb, "toss") || realm_str_eqz(verb, "throw")) {
        if (!coin) return false;
        toss(actor);
        return true;
    }
    if (realm_str_eqz(verb, "drop")) { /* "drop coin in well"; a plain drop is the driver's */
        if (!coin || realm_str_find(noun, RS("well")) < 0) return false;
        toss(actor);
        return true;
    }
    if (realm_str_eqz(verb, "wish")) {
        realm_tell(actor, RS("Wishes at this well cost a coin. Toss one in: {bold}toss coin into well{/}."));
        return true;
    }
    return false;
}

/* A player who walks in sees their health and stamina (thornwick.h). */
THORNWICK_ROOM_SHOWS_VITALS

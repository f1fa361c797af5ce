/*
 * /obj/coin - a silver coin. `flip coin` for heads or tails; the well on
 * the green takes coins as wishes.
 */
#include "realm.h"

#define IDS "coin|silver coin|penny|silver penny|silver"

static const char *const DETAILS[] = {
    "king|forgotten king|heads",
    "A king with a fine beard and a worn-away name. Nobody remembers him, which may be what he deserved.",
    "sheaf|wheat|tails",
    "A sheaf of wheat, still crisp in the silver where fingers have not worn it.",
    "side|sides",
    "Heads, a forgotten king; tails, a sheaf of wheat.",
};

void realm_describe(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("coin"), RS("silver coin"), RS("penny"), RS("silver")};
    const realm_str verbs[] = {RS("flip")};
    realm_state_set_text(RS("name"), RS("coin"));
    realm_state_set_text(RS("short"), RS("a silver coin"));
    realm_state_set_text(RS("long"),
        RS("A thin silver penny, worn almost smooth. On one side is a king nobody remembers, on the "
           "other a sheaf of wheat. You could {bold}flip{/} it, or make a wish with it at the well."));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), true);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    if (!realm_str_eqz(verb, "flip")) return false;
    realm_str noun = realm_noun_of(args), env;
    bool mine = realm_environment(self, &env) && realm_str_eq(env, actor);
    if (noun.len ? !realm_one_of(IDS, noun) : !mine) return false;
    if (!mine) {
        realm_tell(actor, RS("Pick it up first."));
        return true;
    }
    uint64_t x = realm_now_ms() * 0x9E3779B97F4A7C15ull;
    bool heads = (x >> 40) & 1;
    if (heads)
        realm_announce(actor, RS("You flip the coin. It spins, glinting, and lands... {bold}heads{/}: the forgotten king."),
                       RS("flips a coin: heads."));
    else
        realm_announce(actor, RS("You flip the coin. It spins, glinting, and lands... {bold}tails{/}: the sheaf of wheat."),
                       RS("flips a coin: tails."));
    return true;
}

/*
 * thornwick.h - what Thornwick's rooms and things share (the SDK is realm.h).
 *
 * A player's health and stamina are kept by one daemon, /daemon/vitals,
 * which sends them to the player's client as GMCP Char.Vitals (the browser
 * shows them in its panel). Rooms and things tell it what happened with
 * thornwick_vitals(player, "wade"); a tell to it loads it if need be.
 * Every room tells it "show" when a player walks in, so the panel is right
 * from the first room on.
 */
#ifndef THORNWICK_H
#define THORNWICK_H

#include "realm.h"

#define THORNWICK_VITALS "/daemon/vitals"

/* Tell the vitals daemon that `event` ("show", "wade", "rest", "ale", ...)
 * happened to `player`. Not a player: nothing. */
static inline void thornwick_vitals(realm_str player, const char *event) {
    if (!realm_is_player(player)) return;
    realm_tell(RS(THORNWICK_VITALS), realm_str_concat(realm_str_concat(realm_z(event), RS(" ")), player));
}

/* The rooms' on-enter: a player who walks in sees their vitals. */
#define THORNWICK_ROOM_SHOWS_VITALS                                                   \
    void realm_on_enter(realm_str self, realm_str who, const realm_str *from) {     \
        (void)self;                                                                 \
        (void)from;                                                                 \
        thornwick_vitals(who, "show");                                              \
    }

/* A drink (/obj/ale, /obj/cider): `drink`, `quaff` or `sip` it, carried or
 * within reach, and it does the drinker good (vitals `event`) and is gone.
 * A bare "drink" is taken by a drink the player carries. Returns whether
 * the command was this drink's. */
static inline bool thornwick_drink(realm_str self, realm_str actor, realm_str verb, realm_str args,
                                   const char *ids, const char *to_actor, const char *to_others,
                                   const char *event) {
    if (!realm_str_eqz(verb, "drink") && !realm_str_eqz(verb, "quaff") && !realm_str_eqz(verb, "sip"))
        return false;
    realm_str noun = realm_noun_of(args);
    realm_str env;
    bool carried = realm_environment(self, &env) && realm_str_eq(env, actor);
    if (noun.len ? !realm_one_of(ids, noun) : !carried) return false;
    realm_announce(actor, realm_z(to_actor), realm_z(to_others));
    thornwick_vitals(actor, event);
    realm_destruct(self);
    return true;
}

#endif

/* /rooms/hall - bench/crowd.py's room (and every room cloned from it).
 *
 * A room as a minimal mudlib would have it: a name, a paragraph of
 * description long enough that a narrow client needs it wrapped, a few
 * exits (which lead nowhere: nobody walks in the benchmark), and no
 * commands of its own, so `look` and `say` are the driver's built-ins and
 * the benchmark times the output path rather than guest code. */
#include "realm.h"

static const char *const EXITS[] = {
    "north", "/rooms/hall",
    "east", "/rooms/hall",
    "south", "/rooms/hall",
    "west", "/rooms/hall",
};

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Great Hall"));
    realm_state_set_text(RS("long"),
        RS("Smoke-dark beams carry a roof high enough for the echoes to get lost in. Long "
           "trestle tables run the length of the hall, scarred by knives and ringed by a "
           "century of tankards; a fire big enough to roast an ox crackles in the hearth at "
           "the far end. Banners of forgotten guilds hang from the gallery, and everywhere "
           "there are people: talking, arguing, laughing, waiting for something to happen."));
    realm_state_set_text(RS("area"), RS("Crowd"));
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_strs(RS("verbs"), NULL, 0); /* no commands: the driver's built-ins answer */
}

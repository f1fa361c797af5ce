/* /obj/spinner - bench/workers.py's throughput guest.
 *
 * "spin <n>": one state-get (the count), a loop of n rounds of integer
 * arithmetic that no compiler can skip (its result goes into the state),
 * and one state-set (count + 1 + the result's low bit). n = 0 is the light
 * guest (a few hundred fuel, two host calls); the benchmark calibrates the
 * heavy guest's n so that one call burns about a million fuel. */
#include "realm.h"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("a spinning top"));
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("spin")}, 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    if (!realm_str_eqz(verb, "spin")) return false;
    int64_t rounds = 0;
    realm_str_to_int(realm_str_trim(args), &rounds);
    int64_t count = 0;
    realm_state_get_int(RS("count"), &count);          /* host call 1 */
    uint64_t acc = (uint64_t)count;
    for (int64_t i = 0; i < rounds; i++) {
        acc = acc * 6364136223846793005ULL + (uint64_t)i;
        acc ^= acc >> 29;
    }
    realm_state_set_int(RS("count"), count + 1 + (int64_t)(acc & 1));  /* host call 2 */
    return true;
}

/* /obj/bell - the C blueprint bench/workers.py edits while the server runs
 * with --watch: "ring" says "Ding <version>", and the benchmark writes a new
 * version into the line below to see when the rebuilt code answers. */
#include "realm.h"

#define BELL_VERSION "v0"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("bell"));
    realm_state_set_text(RS("short"), RS("a brass bell"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("bell")}, 1);
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("ring")}, 1);
    realm_state_set_bool(RS("gettable"), false);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)args;
    if (!realm_str_eqz(verb, "ring")) return false;
    realm_say(RS("Ding " BELL_VERSION));
    return true;
}

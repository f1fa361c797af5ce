/* /obj/pinger - two of these message each other forever: "ping <other id>"
 * starts it. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("pinger")}, 1);
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("ping")}, 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self; (void)actor;
    if (!realm_str_eqz(verb, "ping")) return false;
    realm_tell(realm_str_trim(args), self);
    return true;
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)payload;
    if (!realm_str_eqz(kind, "tell")) return;
    realm_tell(sender, self);
}

/* /obj/stone - a plain thing to carry around. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("stone"));
    realm_state_set_text(RS("short"), RS("a smooth stone"));
    realm_state_set_text(RS("long"), RS("A river stone, smooth and grey."));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("stone"), RS("pebble")}, 2);
}

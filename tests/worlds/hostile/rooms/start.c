/* /rooms/start - where the bystander stands and the attacks are cloned. */
#include "realm.h"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("The Proving Ground"));
    realm_state_set_text(RS("long"), RS("A bare field where hostile code is tried."));
}

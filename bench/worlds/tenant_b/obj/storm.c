/* /obj/storm - a callout storm: every callout schedules two more, doing no work. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_callout(RS("storm"), 10, NULL, 0);
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)self; (void)method; (void)args;
    realm_callout(RS("storm"), 10, NULL, 0);
    realm_callout(RS("storm"), 10, NULL, 0);
}

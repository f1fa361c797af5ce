/* /obj/cloner - a clone storm: every clone's on-load clones two more. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_clone(RS("/obj/cloner"));
    realm_clone(RS("/obj/cloner"));
}

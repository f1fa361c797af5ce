/* A memory hog: on load it grows its linear memory by HOG_MB and touches
 * every page, then keeps it. Nine blueprints include this with different
 * numbers, so they are nine versions, nine instances. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    size_t bytes = (size_t)HOG_MB * 1024 * 1024;
    volatile uint8_t *block = realm_alloc(bytes);
    for (size_t i = 0; i < bytes; i += 4096) block[i] = (uint8_t)(i + HOG_ID);
    realm_state_set_int(RS("hog"), HOG_ID);
}

/* Hostile in on-command: allocates 1 MiB after 1 MiB, writing to each,
 * until memory runs out. The SDK's allocator then traps in
 * realm_out_of_memory, which the host reports as a memory error. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)verb;
    (void)args;
    for (;;) {
        volatile uint8_t *block = realm_alloc(1u << 20);
        block[0] = 1;
        block[(1u << 20) - 1] = 1;
    }
}

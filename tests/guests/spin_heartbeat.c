/* Hostile in heartbeat: an infinite loop. Fuel (or the deadline) must stop
 * it. Every other hook is normal (normal.h). */
#define HOSTILE_HEARTBEAT
#include "normal.h"

void realm_heartbeat(realm_str self) {
    (void)self;
    volatile uint32_t n = 0;
    for (;;) n++;
}

/* Hostile in on-command: busy-waits an hour on the world clock. Each turn
 * of the loop is a host call, which costs little fuel but real time, so
 * with ordinary limits the wall-clock deadline stops it long before fuel
 * runs out (and with a frozen test clock nothing else would). */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    (void)verb;
    (void)args;
    uint64_t until = realm_now_ms() + 3600u * 1000u;
    while (realm_now_ms() < until) {
    }
    return true;
}

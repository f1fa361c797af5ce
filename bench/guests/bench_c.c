/* /bench_c - the sandbox benchmark's C guest.
 *   reset      : nothing (an empty hook)
 *   heartbeat  : ten now-ms calls (the cost of one host import, times ten)
 *   on-command : a typical command, three host calls: read a counter,
 *                write it back, say something */
#include "realm.h"

void realm_reset(realm_str self) { (void)self; }

void realm_heartbeat(realm_str self) {
    (void)self;
    for (int i = 0; i < 10; i++) (void)realm_now_ms();
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self; (void)actor; (void)args;
    int64_t count = 0;
    realm_state_get_int(RS("count"), &count);
    realm_state_set_int(RS("count"), count + 1);
    realm_say(verb);
    return true;
}

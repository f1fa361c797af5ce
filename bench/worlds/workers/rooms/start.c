/* /rooms/start - where bench/workers.py's player stands and types
 * "ping <token>": the room's own on-command makes one state-get (its ping
 * count), one state-set (the count plus one) and one say, which from a room
 * narrates to everyone in it: "Pong: <token> (<count>)". */
#include "realm.h"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("A bench room"));
    realm_state_set_text(RS("long"), RS("A bare room for the worker benchmark. Type 'ping <word>'."));
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("ping")}, 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    if (!realm_str_eqz(verb, "ping")) return false;
    int64_t count = 0;
    realm_state_get_int(RS("pings"), &count);
    count += 1;
    realm_state_set_int(RS("pings"), count);
    realm_buf line;
    realm_buf_init(&line, NULL, 0);
    realm_buf_z(&line, "Pong: ");
    realm_buf_add(&line, args);
    realm_buf_z(&line, " (");
    realm_buf_int(&line, count);
    realm_buf_z(&line, ")");
    realm_say(realm_buf_str(&line));
    return true;
}

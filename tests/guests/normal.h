/*
 * normal.h - well-behaved hooks for the hostile test guests.
 *
 * Each hostile guest misbehaves in exactly one hook. It defines
 * HOSTILE_<HOOK> (e.g. HOSTILE_ON_COMMAND) before including this file and
 * writes that hook itself; every other hook comes from here and behaves,
 * so a test can check that the rest of the guest still works:
 *
 *   on-load     sets name/short/ids
 *   on-reload   logs "reloaded from <old>"
 *   on-enter    sets state `last_enter` to who
 *   on-leave    sets state `last_leave` to who
 *   heartbeat   adds one to state `beats`
 *   reset       sets state `was_reset` to true
 *   on-command  "ping" tells the actor "pong" (and is handled); else not
 *   on-callout  sets state `last_callout` to the method
 *   on-message  sets state `last_message` to the kind
 */
#include "realm.h"

#ifndef HOSTILE_ON_LOAD
void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("guest"));
    realm_state_set_text(RS("short"), RS("a test guest"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("guest")}, 1);
}
#endif

#ifndef HOSTILE_ON_RELOAD
void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    realm_log(REALM_INFO, realm_str_concat(RS("reloaded from "), old_version));
}
#endif

#ifndef HOSTILE_ON_ENTER
void realm_on_enter(realm_str self, realm_str who, const realm_str *from) {
    (void)self;
    (void)from;
    realm_state_set_text(RS("last_enter"), who);
}
#endif

#ifndef HOSTILE_ON_LEAVE
void realm_on_leave(realm_str self, realm_str who, const realm_str *to) {
    (void)self;
    (void)to;
    realm_state_set_text(RS("last_leave"), who);
}
#endif

#ifndef HOSTILE_HEARTBEAT
void realm_heartbeat(realm_str self) {
    (void)self;
    int64_t beats = 0;
    realm_state_get_int(RS("beats"), &beats);
    realm_state_set_int(RS("beats"), beats + 1);
}
#endif

#ifndef HOSTILE_RESET
void realm_reset(realm_str self) {
    (void)self;
    realm_state_set_bool(RS("was_reset"), true);
}
#endif

#ifndef HOSTILE_ON_COMMAND
bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)args;
    if (!realm_str_eqz(verb, "ping")) return false;
    realm_tell(actor, RS("pong"));
    return true;
}
#endif

#ifndef HOSTILE_ON_CALLOUT
void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)self;
    (void)args;
    realm_state_set_text(RS("last_callout"), method);
}
#endif

#ifndef HOSTILE_ON_MESSAGE
void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    (void)sender;
    (void)payload;
    realm_state_set_text(RS("last_message"), kind);
}
#endif

/* /obj/ticker - a test gadget for scheduling.
 *   "arm [ms]" : schedules a "tick" callout in ms (default 50)
 *   "storm" : starts an endless chain of zero-delay callouts
 *   "beat"  : turns a 200 ms heartbeat on
 *   "boom"  : sets state, says something, then traps (all or nothing)
 *   "vitals": sends GMCP Char.Vitals to the actor; "badgmcp" sends non-JSON
 * `ticks` counts callouts run, `beats` heartbeats, `mark` is set on load. */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("ticker"));
    realm_state_set_text(RS("short"), RS("a ticking gadget"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("ticker"), RS("gadget")}, 2);
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("arm"), RS("storm"), RS("beat"), RS("boom"),
                                                    RS("vitals"), RS("badgmcp")}, 6);
    realm_state_set_int(RS("mark"), 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (realm_str_eqz(verb, "arm")) {
        int64_t delay = 50;
        realm_str_to_int(realm_str_trim(args), &delay);
        realm_callout(RS("tick"), (uint32_t)delay, NULL, 0);
        realm_tell(actor, RS("Armed."));
        return true;
    }
    if (realm_str_eqz(verb, "storm")) {
        realm_callout(RS("storm"), 0, NULL, 0);
        return true;
    }
    if (realm_str_eqz(verb, "beat")) {
        realm_set_heartbeat(200);
        return true;
    }
    if (realm_str_eqz(verb, "vitals")) {
        realm_gmcp(actor, RS("Char.Vitals"), RS("{\"hp\": 7, \"maxhp\": 10}"));
        return true;
    }
    if (realm_str_eqz(verb, "badgmcp")) {
        realm_gmcp(actor, RS("Char.Vitals"), RS("{hp: oops"));
        return true;
    }
    if (realm_str_eqz(verb, "boom")) {
        realm_state_set_int(RS("boomed"), 1);
        realm_say(RS("This must never be heard."));
        __builtin_trap();
    }
    return false;
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)self; (void)args;
    int64_t ticks = 0;
    realm_state_get_int(RS("ticks"), &ticks);
    realm_state_set_int(RS("ticks"), ticks + 1);
    if (realm_str_eqz(method, "storm")) realm_callout(RS("storm"), 0, NULL, 0);
}

void realm_heartbeat(realm_str self) {
    (void)self;
    int64_t beats = 0;
    realm_state_get_int(RS("beats"), &beats);
    realm_state_set_int(RS("beats"), beats + 1);
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self; (void)old_version;
    int64_t reloads = 0;
    realm_state_get_int(RS("reloads"), &reloads);
    realm_state_set_int(RS("reloads"), reloads + 1);
}

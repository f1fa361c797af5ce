/* /bench_imports - the sandbox benchmark's per-import guest.
 *   on-command(actor, verb = an import's WIT name, args = N): calls that one
 *   host import N times with fixed, typical arguments and returns true.
 *   verb "none" makes no call (the baseline). Every call is a real import;
 *   the compiler cannot drop it. */
#include "realm.h"

static const uint8_t SEVEN[1] = {0x07};    /* CBOR 7 */
static const uint8_t NOTHING[1] = {0xf6};  /* CBOR null */

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    int64_t n = 0;
    if (!realm_str_to_int(args, &n) || n < 0) return false;
    const uint8_t *value;
    size_t len;
    realm_str where;
#define EACH(name, body) \
    if (realm_str_eqz(verb, name)) { for (int64_t i = 0; i < n; i++) { body; } return true; }
    EACH("none", (void)0)
    EACH("tell", realm_tell(RS("/player/ann"), RS("You hear a click.")))
    EACH("say", realm_say(RS("Click! The counter now reads 42.")))
    EACH("emote", realm_emote(RS("waves.")))
    EACH("gmcp", realm_gmcp(RS("/player/ann"), RS("Char.Vitals"), RS("{\"hp\":7,\"maxhp\":10}")))
    EACH("state-get", (void)realm_state_get(RS("count"), &value, &len))
    EACH("state-set", realm_state_set(RS("count"), SEVEN, sizeof SEVEN))
    EACH("state-delete", realm_state_delete(RS("gone")))
    EACH("callout", (void)realm_callout(RS("tick"), 1000, NOTHING, sizeof NOTHING))
    EACH("cancel-callout", (void)realm_cancel_callout(12345))
    EACH("set-heartbeat", realm_set_heartbeat(1000))
    EACH("clone", (void)realm_clone(RS("/obj/coin")))
    EACH("destruct", (void)realm_destruct(RS("/obj/coin#000001")))
    EACH("move", (void)realm_move(RS("/obj/coin#000001"), RS("/rooms/square")))
    EACH("environment", (void)realm_environment(RS("/player/ann"), &where))
    EACH("contents", (void)realm_contents(RS("/rooms/square")))
    EACH("query", (void)realm_query(RS("/obj/coin#000001"), RS("short"), &value, &len))
    EACH("now-ms", (void)realm_now_ms())
    EACH("log", realm_log(REALM_INFO, RS("pushed")))
#undef EACH
    return false;
}

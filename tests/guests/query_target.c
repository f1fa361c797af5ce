/* A well-behaved guest for the host-error scenario: on-command reads the
 * `secret` key of the object named in args (the actor if none) with
 * `query` and tells the actor what it got. The test's world raises inside
 * `query`; the call must fail as a host error, with nothing applied (the
 * state write before the query included). */
#define HOSTILE_ON_COMMAND
#include "normal.h"

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)verb;
    realm_state_set_bool(RS("asked"), true);
    realm_str target = args.len ? args : actor;
    realm_str answer = RS("nothing");
    const uint8_t *value;
    size_t len;
    if (realm_query(target, RS("secret"), &value, &len)) {
        realm_cbor_reader r;
        realm_cbor_reader_init(&r, value, len);
        realm_cbor_get_text(&r, &answer);
    }
    realm_tell(actor, answer);
    return true;
}

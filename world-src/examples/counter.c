/*
 * /examples/counter - a brass counter with a button.
 *
 * The smallest useful C blueprint: it describes itself when it is created,
 * and "push" adds one to a number kept in its state. Try it without a
 * server:
 *
 *     jitrealm invoke /examples/counter on-command /player/ann push ""
 *
 * The count lives in the `count` state key (a CBOR integer), never in a C
 * variable: the driver may run each call on a fresh instance, and every
 * clone of the counter shares this code but has its own state.
 */
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("counter"));
    realm_state_set_text(RS("short"), RS("a brass counter"));
    realm_state_set_text(RS("long"),
                         RS("A brass counter with a big round button on top. "
                            "Its little wheels show how often it has been pushed."));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("counter"), RS("button"), RS("brass counter")}, 3);
    realm_state_set_bool(RS("gettable"), true);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)args;
    if (!realm_str_eqz(verb, "push") && !realm_str_eqz(verb, "press")) return false;

    int64_t count = 0; /* an unset key means nobody has pushed it yet */
    realm_state_get_int(RS("count"), &count);
    count += 1;
    realm_state_set_int(RS("count"), count);

    realm_tell(actor, RS("You push the button. Click!"));

    realm_buf line;
    realm_buf_init(&line, NULL, 0);
    realm_buf_z(&line, "Click! The counter now reads ");
    realm_buf_int(&line, count);
    realm_buf_z(&line, ".");
    realm_say(realm_buf_str(&line));
    return true;
}

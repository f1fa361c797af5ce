/*
 * /obj/bag - a leather satchel that holds things. `container: true` is
 * all it takes: the driver implements `put X in satchel` and
 * `get X from satchel`, and `look at satchel` lists what is inside.
 */
#include "realm.h"

static const char *const DETAILS[] = {
    "buckle|brass buckle|brass",
    "A brass buckle, green at the edges, that has clearly been opened a thousand times.",
    "strap|mended strap",
    "The strap has been mended twice, with different colours of thread.",
    "leather",
    "Scuffed brown leather, soft with age.",
};

void realm_describe(realm_str self) {
    (void)self;
    const realm_str ids[] = {RS("satchel"), RS("bag"), RS("leather satchel"), RS("leather bag")};
    realm_state_set_text(RS("name"), RS("satchel"));
    realm_state_set_text(RS("short"), RS("a leather satchel"));
    realm_state_set_text(RS("long"),
        RS("A scuffed leather satchel with a brass buckle and a mended strap, roomy enough for a loaf, "
           "a lamp and a few secrets. Put things in it with {bold}put <thing> in satchel{/}, and take "
           "them out with {bold}get <thing> from satchel{/}."));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), NULL, 0); /* no commands of its own */
    realm_state_set_bool(RS("gettable"), true);
    realm_state_set_bool(RS("container"), true);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
}


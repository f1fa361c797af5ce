/* Hostile at admission: imports `jitrealm:realm/evil@0.1.0`, an interface
 * outside the blueprint world (tests/guests/wit/evil.wit), and calls its
 * `read-file` from on-command. A component like this must be refused
 * before any of its code runs. */
#define HOSTILE_ON_COMMAND
#include "normal.h"

/* read-file: func(path: string) -> string; the result comes back through a
 * return area: (pointer, length). */
__attribute__((import_module("jitrealm:realm/evil@0.1.0"), import_name("read-file")))
void evil_read_file(const char *path, size_t path_len, realm_str *ret);

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)verb;
    (void)args;
    realm_str secret;
    evil_read_file("/etc/passwd", 11, &secret);
    realm_tell(actor, secret);
    return true;
}

/*
 * sdk_probe - a well-behaved guest that exercises realm.h for
 * tests/test_c_sdk.py. Every `on-command` verb runs one group of checks and
 * reports through tells to the actor (or through state); the test's host
 * compares them with what Python (cbor2) says.
 *
 * heartbeat and reset are deliberately not defined: the SDK's default
 * exports must then do nothing.
 */
#include "realm.h"

/* --- reporting ----------------------------------------------------------- */

static realm_str actor_id;

static void report(const char *name, realm_str value) {
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, name);
    realm_buf_char(&b, '=');
    realm_buf_add(&b, value);
    realm_tell(actor_id, realm_buf_str(&b));
}

static void report_int(const char *name, int64_t value) { report(name, realm_int_str(value)); }

static void report_bool(const char *name, bool value) { report(name, value ? RS("true") : RS("false")); }

static void hex(realm_buf *b, const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        realm_buf_char(b, digits[p[i] >> 4]);
        realm_buf_char(b, digits[p[i] & 15]);
    }
}

/* --- CBOR writing -------------------------------------------------------- */

static void cbor_write(void) {
    static const int64_t ints[] = {
        0, 1, 23, 24, 255, 256, 65535, 65536, 4294967295LL, 4294967296LL, INT64_MAX,
        -1, -24, -25, -256, -257, -65537, INT64_MIN,
    };
    const size_t n = sizeof ints / sizeof ints[0];
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_array(&w, n);
    for (size_t i = 0; i < n; i++) realm_cbor_put_int(&w, ints[i]);
    realm_state_set_cbor(RS("ints"), &w);

    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_uint(&w, UINT64_MAX);
    realm_state_set_cbor(RS("uint"), &w);

    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, 2);
    realm_cbor_put_text(&w, RS("north"));
    realm_cbor_put_text(&w, RS("/rooms/forest"));
    realm_cbor_put_textz(&w, "south");
    realm_cbor_put_textz(&w, "/rooms/meadow");
    realm_state_set_cbor(RS("exits"), &w);

    realm_state_set_strs(RS("ids"), (realm_str[]){RS("probe"), RS("brass probe")}, 2);

    static const uint8_t raw[] = {0x00, 0xff};
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_array(&w, 7);
    realm_cbor_put_bool(&w, true);
    realm_cbor_put_bool(&w, false);
    realm_cbor_put_null(&w);
    realm_cbor_put_bytes(&w, raw, sizeof raw);
    realm_cbor_put_text(&w, RS("h\xc3\xa9llo"));
    realm_cbor_put_map(&w, 0);
    realm_cbor_put_array(&w, 0);
    realm_state_set_cbor(RS("misc"), &w);

    /* A long text so the arena writer has to grow several times. */
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_array(&w, 300);
    for (int i = 0; i < 300; i++) realm_cbor_put_text(&w, RS("0123456789"));
    realm_state_set_cbor(RS("long"), &w);

    realm_state_set_int(RS("count"), 42);
    realm_state_set_int(RS("negative"), -1000000);
    realm_state_set_bool(RS("flag"), true);
    realm_state_set_text(RS("title"), RS("Sir"));

    /* A fixed buffer that is too small reports overflow, writes nothing. */
    uint8_t small[4];
    realm_cbor_writer_init(&w, small, sizeof small);
    realm_cbor_put_text(&w, RS("far too long"));
    report_bool("overflow", w.overflow);
    report_int("overflow_len", (int64_t)realm_cbor_writer_bytes(&w).len);

    /* The same in a buffer that fits. */
    uint8_t fits[16];
    realm_cbor_writer_init(&w, fits, sizeof fits);
    realm_cbor_put_text(&w, RS("short"));
    realm_state_set_cbor(RS("fixed"), &w);
}

/* --- CBOR reading: render any value as text ------------------------------ */

static bool render(realm_cbor_reader *r, realm_buf *b, int depth) {
    if (depth > 64) return false;
    size_t n;
    int64_t i;
    uint64_t u;
    realm_str s;
    realm_bytes bytes;
    bool flag;
    switch (realm_cbor_peek(r)) {
    case REALM_CBOR_UINT:
    case REALM_CBOR_NEGINT:
        if (realm_cbor_get_int(r, &i)) { realm_buf_int(b, i); return true; }
        if (realm_cbor_get_uint(r, &u)) { realm_buf_z(b, "big"); return true; }
        realm_buf_z(b, "huge-negative");
        return realm_cbor_skip(r);
    case REALM_CBOR_TEXT:
        if (!realm_cbor_get_text(r, &s)) return false;
        realm_buf_char(b, '"');
        realm_buf_add(b, s);
        realm_buf_char(b, '"');
        return true;
    case REALM_CBOR_BYTES:
        if (!realm_cbor_get_bytes(r, &bytes)) return false;
        realm_buf_z(b, "h'");
        hex(b, bytes.ptr, bytes.len);
        realm_buf_char(b, '\'');
        return true;
    case REALM_CBOR_ARRAY:
        if (!realm_cbor_get_array(r, &n)) return false;
        realm_buf_char(b, '[');
        for (size_t k = 0; k < n; k++) {
            if (k) realm_buf_char(b, ',');
            if (!render(r, b, depth + 1)) return false;
        }
        realm_buf_char(b, ']');
        return true;
    case REALM_CBOR_MAP:
        if (!realm_cbor_get_map(r, &n)) return false;
        realm_buf_char(b, '{');
        for (size_t k = 0; k < n; k++) {
            if (k) realm_buf_char(b, ',');
            if (!render(r, b, depth + 1)) return false;
            realm_buf_char(b, ':');
            if (!render(r, b, depth + 1)) return false;
        }
        realm_buf_char(b, '}');
        return true;
    case REALM_CBOR_BOOL:
        if (!realm_cbor_get_bool(r, &flag)) return false;
        realm_buf_z(b, flag ? "true" : "false");
        return true;
    case REALM_CBOR_NULL:
        realm_cbor_get_null(r);
        realm_buf_z(b, "null");
        return true;
    case REALM_CBOR_FLOAT:
        realm_buf_z(b, "float");
        return realm_cbor_skip(r);
    case REALM_CBOR_TAG:
        realm_buf_z(b, "tag");
        return realm_cbor_skip(r);
    default:
        return false;
    }
}

static void render_key(const char *key) {
    realm_cbor_reader r;
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    if (!realm_state_reader(realm_z(key), &r)) {
        realm_buf_z(&b, "unset");
    } else if (!render(&r, &b, 0) || !realm_cbor_at_end(&r)) {
        bool malformed = r.error || realm_cbor_peek(&r) == REALM_CBOR_INVALID;
        realm_buf_z(&b, malformed ? "!malformed" : "!unreadable");
    }
    report(key, realm_buf_str(&b));
}

static void cbor_read(void) {
    render_key("input");
    render_key("bad");
    render_key("missing");

    realm_cbor_reader r;
    realm_str room = RS("none");
    if (realm_state_reader(RS("exits"), &r) && realm_cbor_map_find(&r, RS("south")))
        realm_cbor_get_text(&r, &room);
    report("south", room);
    /* Not found: the reader stays at the map. */
    bool found = realm_state_reader(RS("exits"), &r) && realm_cbor_map_find(&r, RS("up"));
    report_bool("up_found", found);
    report_bool("still_map", realm_cbor_peek(&r) == REALM_CBOR_MAP);

    /* Type mismatch does not move the reader or set the error flag. */
    realm_state_reader(RS("exits"), &r);
    int64_t i = 7;
    report_bool("int_on_map", realm_cbor_get_int(&r, &i));
    report_bool("mismatch_error", r.error);
    report_bool("skip_map", realm_cbor_skip(&r));
    report_bool("at_end", realm_cbor_at_end(&r));

    int64_t count = -1;
    realm_state_get_int(RS("count"), &count);
    report_int("count", count);
    int64_t preset = 99;
    report_bool("get_int_on_text", realm_state_get_int(RS("title"), &preset));
    report_int("preset", preset);
    realm_str title = RS("?");
    realm_state_get_text(RS("title"), &title);
    report("title", title);
    bool flag = false;
    realm_state_get_bool(RS("flag"), &flag);
    report_bool("flag", flag);
}

/* --- strings --------------------------------------------------------------- */

static void strings(realm_str args) {
    report_bool("eq", realm_str_eq(RS("abc"), RS("abc")));
    report_bool("ne", realm_str_eq(RS("abc"), RS("abd")));
    report_bool("eqz", realm_str_eqz(RS("look"), "look"));
    report_int("cmp_lt", realm_str_cmp(RS("abc"), RS("abd")));
    report_int("cmp_prefix", realm_str_cmp(RS("ab"), RS("abc")));
    report_int("cmp_eq", realm_str_cmp(RS("x"), RS("x")));
    report_int("cmp_high", realm_str_cmp(RS("\xc3"), RS("a")));
    report_bool("starts", realm_str_starts_with(RS("/rooms/meadow"), RS("/rooms/")));
    report_int("find", realm_str_find(RS("hello world"), RS("world")));
    report_int("find_missing", realm_str_find(RS("hello"), RS("xyz")));
    report("trim", realm_str_trim(RS("  \t padded \n")));

    realm_str rest = args;
    realm_str first = realm_str_word(&rest);
    realm_str second = realm_str_word(&rest);
    report("word1", first);
    report("word2", second);
    report("rest", rest);

    int64_t v = 0;
    static const char *const numbers[] = {
        "0", "42", "-17", " +8 ", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "-9223372036854775809", "", "-", "12a", "1 2",
    };
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++) {
        v = 0;
        bool ok = realm_str_to_int(realm_z(numbers[k]), &v);
        realm_buf b;
        realm_buf_init(&b, NULL, 0);
        realm_buf_z(&b, ok ? "ok:" : "no:");
        realm_buf_int(&b, v);
        report("to_int", realm_buf_str(&b));
    }

    char digits[21];
    size_t n = realm_int_to_str(INT64_MIN, digits);
    report("int_min", realm_str_of(digits, n));
    report("int_zero", realm_int_str(0));
    report("int_neg", realm_int_str(-5));

    char small[6];
    size_t copied = realm_str_copy(small, sizeof small, RS("truncate me"));
    report("copy", realm_z(small));
    report_int("copied", (int64_t)copied);

    report("concat", realm_str_concat(RS("foo"), RS("bar")));
    report("dup", realm_str_dup(RS("twin")));

    char fixed[8];
    realm_buf fb;
    realm_buf_init(&fb, fixed, sizeof fixed);
    realm_buf_z(&fb, "12345");
    realm_buf_int(&fb, 6789);
    report("fixed_buf", realm_buf_str(&fb));
    report_bool("fixed_truncated", fb.truncated);

    realm_buf big;
    realm_buf_init(&big, NULL, 0);
    for (int k = 0; k < 1000; k++) realm_buf_char(&big, (char)('a' + k % 26));
    report_int("big_len", (int64_t)big.len);
}

/* --- every host import ---------------------------------------------------- */

static void host_calls(void) {
    realm_say(RS("said"));
    realm_emote(RS("waves."));

    realm_result c = realm_clone(RS("/obj/sword"));
    report("clone_ok", c.ok ? c.value : RS("(failed)"));
    c = realm_clone(RS("/obj/forbidden"));
    report("clone_err", c.ok ? RS("(succeeded)") : c.error);

    realm_result d = realm_destruct(RS("/obj/sword#000001"));
    report_bool("destruct_ok", d.ok);
    d = realm_destruct(RS("/rooms/void"));
    report("destruct_err", d.ok ? RS("(succeeded)") : d.error);

    realm_result m = realm_move(RS("/obj/sword#000001"), RS("/rooms/meadow"));
    report_bool("move_ok", m.ok);
    m = realm_move(RS("/obj/sword#000001"), RS("/rooms/void"));
    report("move_err", m.ok ? RS("(succeeded)") : m.error);

    realm_str env = RS("?");
    report_bool("env_some", realm_environment(RS("/player/ann"), &env));
    report("env", env);
    report_bool("env_none", realm_environment(RS("/rooms/meadow"), &env));
    report_int("env_none_len", (int64_t)env.len);

    realm_strs inside = realm_contents(RS("/rooms/meadow"));
    report_int("contents_n", (int64_t)inside.len);
    for (size_t i = 0; i < inside.len; i++) report("content", inside.items[i]);
    report_int("contents_empty", (int64_t)realm_contents(RS("/obj/empty")).len);

    const uint8_t *value;
    size_t len;
    if (realm_query(RS("/rooms/meadow"), RS("short"), &value, &len)) {
        realm_cbor_reader r;
        realm_str s = RS("?");
        realm_cbor_reader_init(&r, value, len);
        realm_cbor_get_text(&r, &s);
        report("query", s);
    }
    report_bool("query_none", realm_query(RS("/rooms/meadow"), RS("secret"), &value, &len));

    static const uint8_t args[] = {0x82, 0x01, 0x02};
    uint64_t h1 = realm_callout(RS("tick"), 1000, args, sizeof args);
    uint64_t h2 = realm_callout(RS("tock"), 0, NULL, 0);
    report_int("handle1", (int64_t)h1);
    report_int("handle2", (int64_t)h2);
    report_bool("cancel_yes", realm_cancel_callout(h1));
    report_bool("cancel_no", realm_cancel_callout(0xFFFFFFFFFFull));
    realm_set_heartbeat(2500);

    uint64_t now = realm_now_ms();
    report_bool("now_big", now > 0xFFFFFFFFull);
    report_int("now", (int64_t)now);

    realm_log(REALM_DEBUG, RS("d"));
    realm_log(REALM_INFO, RS("i"));
    realm_log(REALM_WARN, RS("w"));
    realm_log(REALM_ERROR, RS("e"));

    realm_state_set(RS("gone"), "\xf6", 1);
    report_bool("state_set_then_get", realm_state_get(RS("gone"), NULL, NULL));
    realm_state_delete(RS("gone"));
    report_bool("state_deleted", realm_state_get(RS("gone"), &value, &len));
    report_int("deleted_len", (int64_t)len);
}

/* --- memory ------------------------------------------------------------- */

static void alloc(void) {
    /* 3 MiB in 64 KiB pieces, every one written to. */
    for (int i = 0; i < 48; i++) {
        uint8_t *p = realm_alloc(65536);
        p[0] = 1;
        p[65535] = 2;
    }
    size_t mark = realm_arena_mark();
    realm_alloc(1000);
    realm_arena_release(mark);
    report_bool("released", realm_arena_mark() == mark);
    uint8_t *z = realm_alloc_zeroed(32);
    report_int("zeroed", z[0] + z[31]);
    report_int("pages", (int64_t)__builtin_wasm_memory_size(0));
    report_int("aligned", (int64_t)((uintptr_t)realm_alloc(3) % 8 + (uintptr_t)realm_alloc(1) % 8));
}

static void oom(void) {
    for (;;) {
        uint8_t *p = realm_alloc(1 << 20);
        p[0] = 1;
    }
}

/* --- hooks --------------------------------------------------------------- */

void realm_on_load(realm_str self) {
    realm_state_set_text(RS("loaded_as"), self);
}

void realm_on_reload(realm_str self, realm_str old_version) {
    actor_id = RS("/log");
    report("reload", realm_str_concat(self, realm_str_concat(RS(" from "), old_version)));
}

static void movement(const char *what, realm_str self, realm_str who, const realm_str *where) {
    actor_id = RS("/log");
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_add(&b, self);
    realm_buf_char(&b, ' ');
    realm_buf_add(&b, who);
    realm_buf_char(&b, ' ');
    if (where) realm_buf_add(&b, *where);
    else realm_buf_z(&b, "(none)");
    report(what, realm_buf_str(&b));
}

void realm_on_enter(realm_str self, realm_str who, const realm_str *from) { movement("enter", self, who, from); }

void realm_on_leave(realm_str self, realm_str who, const realm_str *to) { movement("leave", self, who, to); }

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)self;
    actor_id = RS("/log");
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_add(&b, method);
    realm_buf_char(&b, ':');
    hex(&b, args.ptr, args.len);
    report("callout", realm_buf_str(&b));
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    actor_id = RS("/log");
    realm_cbor_reader r;
    realm_str text = RS("?");
    realm_cbor_reader_init(&r, payload.ptr, payload.len);
    realm_cbor_get_text(&r, &text);
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_add(&b, sender);
    realm_buf_char(&b, ' ');
    realm_buf_add(&b, kind);
    realm_buf_char(&b, ' ');
    realm_buf_add(&b, text);
    report("message", realm_buf_str(&b));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    actor_id = actor;
    if (realm_str_eqz(verb, "cbor-write")) cbor_write();
    else if (realm_str_eqz(verb, "cbor-read")) cbor_read();
    else if (realm_str_eqz(verb, "strings")) strings(args);
    else if (realm_str_eqz(verb, "host")) host_calls();
    else if (realm_str_eqz(verb, "alloc")) alloc();
    else if (realm_str_eqz(verb, "oom")) oom();
    else return false;
    return true;
}

/*
 * import_probe - a well-behaved guest that calls any host import with any
 * arguments, for tests/integration/test_conventions.py, which runs the same
 * scripts on both calling conventions and compares the outcomes.
 *
 * A script is steps separated by ';', each an import name and its
 * arguments separated by spaces:
 *
 *   data (a string or list<u8> argument), passed to the import as raw bytes
 *   (so it may be invalid UTF-8): parts joined by '+', each
 *       x<hex>          the bytes written in hex ("x" alone: no bytes)
 *       r<count>:<hex2> one byte repeated count times ("r65536:61")
 *   number (u32, u64, the log level): decimal, '-' for two's complement,
 *       or '@' for the handle the last `callout` step returned
 *
 *   tell D D | say D | emote D | gmcp D D D
 *   state-get D | state-set D D | state-delete D
 *   callout D N D | cancel-callout N | set-heartbeat N
 *   clone D | destruct D | move D D | environment D | contents D | query D D
 *   now-ms | log N D
 * and for the script itself:
 *   say-oob          say with a pointer past the end of linear memory
 *   repeat N STEP    run STEP N times
 *   trace            from here on, log (debug) "step <i>" before each step
 *   spin N           count down from N (for fuel and deadline)
 *   unhandled        on-command returns false
 *
 * What every hook saw and what every step got back is written, as one CBOR
 * array, to the state key `out` when the hook returns:
 *   [hook name, the hook's arguments (option: null or the string; list<u8>:
 *    bytes)..., then one item per step:
 *      null for imports without a result, bool (cancel-callout),
 *      uint (callout handle, now-ms), null or bytes (state-get, query),
 *      null or text (environment), [text...] (contents),
 *      {"ok": text or null} or {"err": text} (clone, destruct, move)]
 *
 * Scripts: on-command runs "<verb> <args>"; on-callout runs its args when
 * the method is "run"; on-message runs its payload when the kind is "run".
 */
#include "realm.h"

static realm_cbor_writer out;
static uint64_t last_handle;
static bool tracing;
static bool handled;
static size_t step_no;

/* --- the report ------------------------------------------------------------ */

static void raw_byte(uint8_t b) { realm__cbor_raw(&out, &b, 1); }

static void begin(const char *hook, realm_str self) {
    last_handle = 0;
    tracing = false;
    handled = true;
    step_no = 0;
    realm_cbor_writer_init(&out, NULL, 0);
    raw_byte(0x9f); /* an indefinite-length array, closed in finish() */
    realm_cbor_put_textz(&out, hook);
    realm_cbor_put_text(&out, self);
}

static void put_opt(const realm_str *s) {
    if (s) realm_cbor_put_text(&out, *s);
    else realm_cbor_put_null(&out);
}

static void finish(void) {
    raw_byte(0xff);
    realm_state_set_cbor(RS("out"), &out);
}

static __attribute__((noreturn)) void bad_script(const char *why, realm_str near) {
    realm_log(REALM_ERROR, realm_str_concat(realm_str_concat(realm_z("bad script: "), realm_z(why)),
                                            realm_str_concat(RS(": "), near)));
    __builtin_trap();
}

/* --- arguments ------------------------------------------------------------- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static realm_str next_arg(realm_str *rest) {
    if (!rest->len) bad_script("missing argument", *rest);
    return realm_str_word(rest);
}

static uint64_t parse_count(realm_str s) {
    if (!s.len) bad_script("empty number", s);
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9') bad_script("not a number", s);
        v = v * 10u + (uint64_t)(s.ptr[i] - '0');
    }
    return v;
}

static uint64_t num(realm_str *rest) {
    realm_str s = next_arg(rest);
    if (realm_str_eqz(s, "@")) return last_handle;
    if (s.len && s.ptr[0] == '-') return 0u - parse_count((realm_str){s.ptr + 1, s.len - 1});
    return parse_count(s);
}

/* One part of a data argument: its length, and its bytes written to `to`
 * unless `to` is NULL. */
static size_t part(realm_str p, uint8_t *to) {
    if (p.len && p.ptr[0] == 'x') {
        if ((p.len - 1) % 2) bad_script("odd hex", p);
        size_t n = (p.len - 1) / 2;
        for (size_t i = 0; i < n; i++) {
            int hi = hexval(p.ptr[1 + 2 * i]), lo = hexval(p.ptr[2 + 2 * i]);
            if (hi < 0 || lo < 0) bad_script("bad hex", p);
            if (to) to[i] = (uint8_t)(hi * 16 + lo);
        }
        return n;
    }
    if (p.len && p.ptr[0] == 'r') {
        ptrdiff_t colon = realm_str_find(p, RS(":"));
        if (colon < 0 || p.len - (size_t)colon != 3) bad_script("bad repeat", p);
        size_t n = (size_t)parse_count((realm_str){p.ptr + 1, (size_t)colon - 1});
        int hi = hexval(p.ptr[colon + 1]), lo = hexval(p.ptr[colon + 2]);
        if (hi < 0 || lo < 0) bad_script("bad hex", p);
        if (to)
            for (size_t i = 0; i < n; i++) to[i] = (uint8_t)(hi * 16 + lo);
        return n;
    }
    bad_script("data must start with x or r", p);
}

static realm_bytes data(realm_str *rest) {
    realm_str s = next_arg(rest);
    size_t total = 0;
    for (int fill = 0; fill < 2; fill++) {
        uint8_t *to = fill ? (uint8_t *)realm_alloc(total ? total : 1) : NULL;
        size_t at = 0, start = 0;
        for (size_t i = 0; i <= s.len; i++) {
            if (i == s.len || s.ptr[i] == '+') {
                at += part((realm_str){s.ptr + start, i - start}, to ? to + at : NULL);
                start = i + 1;
            }
        }
        if (fill) return (realm_bytes){to, total};
        total = at;
    }
    __builtin_unreachable();
}

#define STR(b) ((const char *)(b).ptr), (b).len

/* --- results ---------------------------------------------------------------- */

static void put_some_bytes(const realm__ret_variant *ret) {
    if (ret->tag) realm_cbor_put_bytes(&out, ret->ptr, ret->len);
    else realm_cbor_put_null(&out);
}

static void put_result(const realm__ret_variant *ret, bool ok_has_payload) {
    realm_cbor_put_map(&out, 1);
    realm_cbor_put_textz(&out, ret->tag ? "err" : "ok");
    if (ret->tag || ok_has_payload) realm_cbor_put_text(&out, (realm_str){ret->ptr, ret->len});
    else realm_cbor_put_null(&out);
}

/* --- the interpreter -------------------------------------------------------- */

static void step(realm_str op, realm_str rest);

static void run_step(realm_str op, realm_str rest) {
    if (tracing) {
        realm_buf b;
        realm_buf_init(&b, NULL, 0);
        realm_buf_z(&b, "step ");
        realm_buf_int(&b, (int64_t)step_no);
        realm_log(REALM_DEBUG, realm_buf_str(&b));
    }
    step_no++;
    step(op, rest);
}

static void step(realm_str op, realm_str rest) {
    realm__ret_variant ret;
    if (realm_str_eqz(op, "tell")) {
        realm_bytes t = data(&rest), x = data(&rest);
        realm__host_tell(STR(t), STR(x));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "say")) {
        realm_bytes x = data(&rest);
        realm__host_say(STR(x));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "say-oob")) {
        realm__host_say((const char *)0xfffffff0u, 64);
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "emote")) {
        realm_bytes x = data(&rest);
        realm__host_emote(STR(x));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "gmcp")) {
        realm_bytes t = data(&rest), p = data(&rest), j = data(&rest);
        realm__host_gmcp(STR(t), STR(p), STR(j));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "state-get")) {
        realm_bytes k = data(&rest);
        realm__host_state_get(STR(k), &ret);
        put_some_bytes(&ret);
    } else if (realm_str_eqz(op, "state-set")) {
        realm_bytes k = data(&rest), v = data(&rest);
        realm__host_state_set(STR(k), v.ptr, v.len);
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "state-delete")) {
        realm_bytes k = data(&rest);
        realm__host_state_delete(STR(k));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "callout")) {
        realm_bytes m = data(&rest);
        uint32_t delay = (uint32_t)num(&rest);
        realm_bytes a = data(&rest);
        last_handle = realm__host_callout(STR(m), delay, a.ptr, a.len);
        realm_cbor_put_uint(&out, last_handle);
    } else if (realm_str_eqz(op, "cancel-callout")) {
        realm_cbor_put_bool(&out, realm__host_cancel_callout(num(&rest)) != 0);
    } else if (realm_str_eqz(op, "set-heartbeat")) {
        realm__host_set_heartbeat((uint32_t)num(&rest));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "clone")) {
        realm_bytes b = data(&rest);
        realm__host_clone(STR(b), &ret);
        put_result(&ret, true);
    } else if (realm_str_eqz(op, "destruct")) {
        realm_bytes t = data(&rest);
        realm__host_destruct(STR(t), &ret);
        put_result(&ret, false);
    } else if (realm_str_eqz(op, "move")) {
        realm_bytes t = data(&rest), d = data(&rest);
        realm__host_move(STR(t), STR(d), &ret);
        put_result(&ret, false);
    } else if (realm_str_eqz(op, "environment")) {
        realm_bytes t = data(&rest);
        realm__host_environment(STR(t), &ret);
        if (ret.tag) realm_cbor_put_text(&out, (realm_str){ret.ptr, ret.len});
        else realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "contents")) {
        realm_bytes t = data(&rest);
        realm__ret_list list;
        realm__host_contents(STR(t), &list);
        const realm_str *items = (const realm_str *)list.ptr;
        realm_cbor_put_array(&out, list.len);
        for (size_t i = 0; i < list.len; i++) realm_cbor_put_text(&out, items[i]);
    } else if (realm_str_eqz(op, "query")) {
        realm_bytes t = data(&rest), k = data(&rest);
        realm__host_query(STR(t), STR(k), &ret);
        put_some_bytes(&ret);
    } else if (realm_str_eqz(op, "now-ms")) {
        realm_cbor_put_uint(&out, realm__host_now_ms());
    } else if (realm_str_eqz(op, "log")) {
        int32_t level = (int32_t)num(&rest);
        realm_bytes x = data(&rest);
        realm__host_log(level, STR(x));
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "repeat")) {
        uint64_t n = num(&rest);
        realm_str inner = realm_str_word(&rest);
        for (uint64_t i = 0; i < n; i++) run_step(inner, rest);
        return; /* the inner steps reported themselves */
    } else if (realm_str_eqz(op, "trace")) {
        tracing = true;
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "spin")) {
        volatile uint64_t n = num(&rest);
        while (n) n = n - 1;
        realm_cbor_put_null(&out);
    } else if (realm_str_eqz(op, "unhandled")) {
        handled = false;
        realm_cbor_put_null(&out);
    } else {
        bad_script("unknown step", op);
    }
    if (rest.len) bad_script("extra arguments", rest);
}

static void run(realm_str script) {
    while (script.len) {
        ptrdiff_t semi = realm_str_find(script, RS(";"));
        size_t n = semi < 0 ? script.len : (size_t)semi;
        realm_str rest = {script.ptr, n};
        realm_str op = realm_str_word(&rest);
        if (op.len) run_step(op, rest);
        script = semi < 0 ? (realm_str){script.ptr + n, 0} : (realm_str){script.ptr + n + 1, script.len - n - 1};
    }
}

/* --- hooks ------------------------------------------------------------------ */

void realm_on_load(realm_str self) {
    begin("on-load", self);
    finish();
}

void realm_on_reload(realm_str self, realm_str old_version) {
    begin("on-reload", self);
    realm_cbor_put_text(&out, old_version);
    finish();
}

void realm_on_enter(realm_str self, realm_str who, const realm_str *from) {
    begin("on-enter", self);
    realm_cbor_put_text(&out, who);
    put_opt(from);
    finish();
}

void realm_on_leave(realm_str self, realm_str who, const realm_str *to) {
    begin("on-leave", self);
    realm_cbor_put_text(&out, who);
    put_opt(to);
    finish();
}

void realm_heartbeat(realm_str self) {
    begin("heartbeat", self);
    finish();
}

void realm_reset(realm_str self) {
    begin("reset", self);
    finish();
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    begin("on-command", self);
    realm_cbor_put_text(&out, actor);
    realm_cbor_put_text(&out, verb);
    realm_cbor_put_text(&out, args);
    run(realm_str_concat(realm_str_concat(verb, RS(" ")), args));
    finish();
    return handled;
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    begin("on-callout", self);
    realm_cbor_put_text(&out, method);
    realm_cbor_put_bytes(&out, args.ptr, args.len);
    if (realm_str_eqz(method, "run")) run((realm_str){(const char *)args.ptr, args.len});
    finish();
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    begin("on-message", self);
    realm_cbor_put_text(&out, sender);
    realm_cbor_put_text(&out, kind);
    realm_cbor_put_bytes(&out, payload.ptr, payload.len);
    if (realm_str_eqz(kind, "run")) run((realm_str){(const char *)payload.ptr, payload.len});
    finish();
}

/*
 * realm.h - the JitRealm SDK for blueprints written in C.
 *
 * A blueprint is one C file. It includes this header, defines the hooks it
 * cares about, and `jitrealm build` turns it into a WebAssembly component:
 *
 *     #include "realm.h"
 *
 *     void realm_on_load(realm_str self) {
 *         realm_state_set_text(RS("name"), RS("lamp"));
 *         realm_state_set_text(RS("short"), RS("a brass lamp"));
 *     }
 *
 *     bool realm_on_command(realm_str self, realm_str actor,
 *                           realm_str verb, realm_str args) {
 *         if (!realm_str_eqz(verb, "rub")) return false;   // not ours
 *         realm_tell(actor, RS("Nothing happens. Yet."));
 *         return true;                                      // handled
 *     }
 *
 * The file is compiled freestanding: there is no libc, no printf, no malloc,
 * no files, no clock but the world's. Everything a blueprint can do goes
 * through the functions below, which are thin bindings of the `host`
 * interface in wit/realm.wit (read that file for what each one means; this
 * header says how to call it from C).
 *
 * -------------------------------------------------------------------------
 * Contents
 *   1. Strings from and to the host: realm_str, realm_bytes, RS("...")
 *   2. Hooks: the functions you may define (all optional)
 *   3. The host API: messages, state, callouts, world operations, clock, log
 *   4. Memory: the per-call arena (realm_alloc)
 *   5. String helpers and the string builder (realm_buf)
 *   6. CBOR: writing and reading state values (realm_cbor_*)
 *   7. State helpers: ints, text, bools, string arrays, text maps in one
 *      call; other objects' public text and bools
 *   8. Everyday helpers: the words a player typed, names, telling the
 *      others in a room, keeping a room stocked
 *   (the rest of the file is the implementation: canonical-ABI glue)
 *
 * -------------------------------------------------------------------------
 * Things to know
 *
 * State lives in the driver, not in your program. An object's state is a
 * map from text keys to CBOR values. Global variables in your C file are
 * NOT state: one running instance of your blueprint serves every clone of
 * it, and the driver may throw the instance away and start a fresh one at
 * any moment (after an error, a reload, or a restart). Keep everything that
 * matters in state.
 *
 * Each hook call is a transaction. Messages, state writes, callouts, moves
 * and clones take effect only if your hook returns normally. If it traps,
 * runs out of fuel, runs past its deadline or runs out of memory, nothing it
 * did happens, and the error goes to your tenant's error log.
 *
 * Strings are (pointer, length) pairs, not NUL-terminated. Everything the
 * host hands you (hook arguments, state values, ids) is a realm_str or
 * realm_bytes. Write literals with RS("text"); wrap a NUL-terminated string
 * with realm_z(p). Strings you pass to the host must be valid UTF-8.
 *
 * Memory is an arena that is emptied when your hook returns. Everything the
 * host gives you and everything you realm_alloc() is valid until then and
 * gone afterwards, so never keep a pointer in a global across calls. You
 * never free anything. The arena grows as needed up to your tenant's memory
 * cap; past it, the call fails with a memory error.
 *
 * The C stack is 128 KiB. Deep recursion traps.
 *
 * Limits per call (defaults; your tenant's may differ): 50M fuel (roughly
 * instructions), 200 ms, 64 MiB of memory, 256 messages, 64 callouts, 1 MiB
 * of state written, 64 KiB for any one string. Going over any of them fails
 * the call with no effect.
 *
 * Names: everything public starts with realm_ / REALM_ (plus the RS macro);
 * names with a double underscore (realm__*) are internal.
 */
#ifndef JITREALM_REALM_H
#define JITREALM_REALM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__wasm32__)
#error "realm.h targets wasm32 components; build blueprints with `jitrealm build`"
#endif

/* ======================================================================
 * 1. Strings
 * ====================================================================== */

/* A string: `len` bytes of UTF-8 at `ptr`, NOT NUL-terminated. */
typedef struct realm_str {
    const char *ptr;
    size_t len;
} realm_str;

/* Raw bytes (CBOR values, callout arguments, message payloads). */
typedef struct realm_bytes {
    const uint8_t *ptr;
    size_t len;
} realm_bytes;

/* A list of strings (what realm_contents returns). */
typedef struct realm_strs {
    const realm_str *items;
    size_t len;
} realm_strs;

/* A realm_str from a string literal: RS("hello"). Literals only. */
#define RS(literal) ((realm_str){(literal), sizeof(literal) - 1})

/* A realm_str from a pointer and a length. */
static inline realm_str realm_str_of(const char *ptr, size_t len) {
    return (realm_str){ptr, len};
}

/* A realm_str over a NUL-terminated string (the NUL is not included). */
static inline realm_str realm_z(const char *z);

/* ======================================================================
 * 2. Hooks
 *
 * Define any of these in your file, with exactly these signatures, and the
 * driver calls them. Leave one out and that hook does nothing (on-command
 * then answers "not handled"). `self` is the id of the object the hook runs
 * for: "/rooms/meadow" for a master object, "/obj/sword#000042" for a clone.
 * The names are the WIT hook names with `realm_` in front and `-` as `_`.
 * ====================================================================== */

#define REALM__HOOK __attribute__((weak))

/* Describe self: set the state the driver reads without calling you
 * (short, long, ids, exits, details, verbs...). It runs first in on-load and
 * first in on-reload, so an edited description reaches every object when
 * the blueprint is reloaded. Call it yourself when what it shows changes
 * (a lamp being lit). */
REALM__HOOK void realm_describe(realm_str self);
/* The object was just created (master object loaded, or clone made). */
REALM__HOOK void realm_on_load(realm_str self);
/* The blueprint was reloaded; `old_version` is the version self ran until now. */
REALM__HOOK void realm_on_reload(realm_str self, realm_str old_version);
/* `who` arrived in self, coming from `*from` (NULL: a new object, a login). */
REALM__HOOK void realm_on_enter(realm_str self, realm_str who, const realm_str *from);
/* `who` left self, going to `*to` (NULL: destroyed, or logged out). */
REALM__HOOK void realm_on_leave(realm_str self, realm_str who, const realm_str *to);
/* The periodic heartbeat (see realm_set_heartbeat). */
REALM__HOOK void realm_heartbeat(realm_str self);
/* The periodic room reset. */
REALM__HOOK void realm_reset(realm_str self);
/* A player's command line: `verb` is the first word, `args` the rest.
 * Return true if self handled it; false lets other objects try. */
REALM__HOOK bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args);
/* A callout scheduled with realm_callout is due; `args` is what you passed. */
REALM__HOOK void realm_on_callout(realm_str self, realm_str method, realm_bytes args);
/* Another object sent self a message. realm_tell from an object arrives
 * as kind "tell" with the text as a CBOR text string in `payload`. */
REALM__HOOK void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload);

/* ======================================================================
 * 3. The host API
 *
 * Every call acts for self. Ids are strings like "/rooms/meadow".
 * ====================================================================== */

/* --- messages ---------------------------------------------------------- */

/* Send `text` to one object (a player sees it; an object gets on-message). */
static inline void realm_tell(realm_str target, realm_str text);
/* Send GMCP `package` (e.g. "Char.Vitals") with a JSON payload to a player's
 * client: realm_gmcp(actor, RS("Char.Vitals"), RS("{\"hp\": 7, \"maxhp\": 10}")). */
static inline void realm_gmcp(realm_str target, realm_str package, realm_str json);
/* Say `text` aloud to everyone in self's environment but self. */
static inline void realm_say(realm_str text);
/* Act out `text` ("waves."): others see "<self's name> waves.". */
static inline void realm_emote(realm_str text);

/* --- own state (values are CBOR; see sections 6 and 7) ---------------- */

/* Read a state key. Returns false if it is not set; otherwise *value and
 * *len hold its CBOR bytes (valid until the hook returns). Sees writes made
 * earlier in the same call. Either out pointer may be NULL. */
static inline bool realm_state_get(realm_str key, const uint8_t **value, size_t *len);
/* Write a state key. `value` must be `len` bytes of CBOR. */
static inline void realm_state_set(realm_str key, const void *value, size_t len);
/* Remove a state key (no error if it is absent). */
static inline void realm_state_delete(realm_str key);

/* --- scheduling -------------------------------------------------------- */

/* Run realm_on_callout(self, method, args) after `delay_ms` (0: right after
 * the current event). `args` (CBOR, or any bytes) is handed back untouched;
 * it may be NULL with len 0. Returns a handle for realm_cancel_callout. */
static inline uint64_t realm_callout(realm_str method, uint32_t delay_ms, const void *args, size_t args_len);
/* Cancel a pending callout. True if it was still pending. */
static inline bool realm_cancel_callout(uint64_t handle);
/* Call realm_heartbeat every `interval_ms`; 0 turns it off. */
static inline void realm_set_heartbeat(uint32_t interval_ms);

/* --- world operations (objects of your own tenant only) ----------------- */

/* The outcome of clone / destruct / move. When `ok`, `value` is the result
 * (the new clone's id; empty for destruct and move). Otherwise `error` says
 * why the world refused, ready to show to a player. */
typedef struct realm_result {
    bool ok;
    union {
        realm_str value;
        realm_str error;
    };
} realm_result;

/* Make a clone of `blueprint` ("/obj/sword"). It has no environment until
 * you move it; its on-load runs after the current event. */
static inline realm_result realm_clone(realm_str blueprint);
/* Destroy an object (self included); its contents fall into its environment. */
static inline realm_result realm_destruct(realm_str target);
/* Move `target` into `destination`. */
static inline realm_result realm_move(realm_str target, realm_str destination);
/* The object containing `target`: true and *env set, or false if none.
 * `env` may be NULL. */
static inline bool realm_environment(realm_str target, realm_str *env);
/* The objects `target` contains, in the order they arrived. */
static inline realm_strs realm_contents(realm_str target);
/* Read another object's public state key (like realm_state_get). */
static inline bool realm_query(realm_str target, realm_str key, const uint8_t **value, size_t *len);

/* --- clock and log ----------------------------------------------------- */

/* Milliseconds since the Unix epoch, by the world clock. */
static inline uint64_t realm_now_ms(void);

typedef enum realm_level {
    REALM_DEBUG = 0,
    REALM_INFO = 1,
    REALM_WARN = 2,
    REALM_ERROR = 3,
} realm_level;

/* Write a line to your tenant's log. The log is kept even if the call fails,
 * which makes it the place for "how far did I get" messages. */
static inline void realm_log(realm_level level, realm_str text);

/* ======================================================================
 * 4. Memory
 * ====================================================================== */

/* `size` bytes, 8-byte aligned, uninitialised, valid until the hook
 * returns. Never returns NULL: if memory runs out the call fails. */
static inline void *realm_alloc(size_t size);
/* Like realm_alloc, zero-filled. */
static inline void *realm_alloc_zeroed(size_t size);
/* Resize an allocation (in place when it is the latest one). */
static inline void *realm_realloc(void *ptr, size_t old_size, size_t new_size);
/* For long loops: remember the arena's position, and later give back
 * everything allocated since (pointers into it become invalid). */
static inline size_t realm_arena_mark(void);
static inline void realm_arena_release(size_t mark);

/* ======================================================================
 * 5. Strings
 * ====================================================================== */

/* Length of a NUL-terminated string. */
static inline size_t realm_strlen(const char *z);
/* Byte-wise equality. */
static inline bool realm_str_eq(realm_str a, realm_str b);
/* Equality with a NUL-terminated string: realm_str_eqz(verb, "look"). */
static inline bool realm_str_eqz(realm_str a, const char *z);
/* Byte-wise order: <0, 0 or >0, like strcmp. */
static inline int realm_str_cmp(realm_str a, realm_str b);
static inline bool realm_str_starts_with(realm_str s, realm_str prefix);
/* Byte offset of the first `needle` in `s`, or -1. */
static inline ptrdiff_t realm_str_find(realm_str s, realm_str needle);
/* `s` without leading and trailing spaces, tabs and newlines. */
static inline realm_str realm_str_trim(realm_str s);
/* Split off the first space-separated word: returns it and leaves the
 * trimmed remainder in *rest. "get  red ball" -> "get", rest "red ball". */
static inline realm_str realm_str_word(realm_str *rest);
/* Parse an optionally signed decimal integer (surrounding spaces allowed).
 * False if `s` is not one or does not fit in int64_t. */
static inline bool realm_str_to_int(realm_str s, int64_t *out);
/* Copy into dst[cap] as a NUL-terminated string, truncating if needed;
 * returns the number of bytes copied (excluding the NUL). */
static inline size_t realm_str_copy(char *dst, size_t cap, realm_str src);
/* A copy in the arena (e.g. to outlive a buffer you reuse). */
static inline realm_str realm_str_dup(realm_str s);
/* A copy in the arena with ASCII letters in lower case ("Old WELL" ->
 * "old well"); other bytes, UTF-8 included, are copied as they are. */
static inline realm_str realm_str_lower(realm_str s);
/* a + b, in the arena. */
static inline realm_str realm_str_concat(realm_str a, realm_str b);
/* Decimal digits of `value` into out (at least 21 bytes), NUL-terminated;
 * returns the length. */
static inline size_t realm_int_to_str(int64_t value, char *out);
/* Decimal digits of `value` as a realm_str in the arena. */
static inline realm_str realm_int_str(int64_t value);

/* A string builder. Initialise with storage to write into a fixed buffer
 * (text that does not fit is cut off and `truncated` is set), or with
 * NULL/0 to grow in the arena:
 *
 *     realm_buf b;
 *     realm_buf_init(&b, NULL, 0);
 *     realm_buf_z(&b, "The counter reads ");
 *     realm_buf_int(&b, count);
 *     realm_buf_z(&b, ".");
 *     realm_say(realm_buf_str(&b));
 */
typedef struct realm_buf {
    char *ptr;
    size_t len;
    size_t cap;
    bool fixed;
    bool truncated;
} realm_buf;

static inline void realm_buf_init(realm_buf *b, char *storage, size_t cap);
static inline void realm_buf_add(realm_buf *b, realm_str s);
static inline void realm_buf_z(realm_buf *b, const char *z);
static inline void realm_buf_char(realm_buf *b, char c);
static inline void realm_buf_int(realm_buf *b, int64_t value);
/* What has been written so far. */
static inline realm_str realm_buf_str(const realm_buf *b);

/* ======================================================================
 * 6. CBOR
 *
 * State values are CBOR (RFC 8949). The writer produces definite-length
 * items; the reader understands everything the driver and cbor2 write
 * except that it cannot decode floats (it can skip them) and refuses
 * indefinite-length items.
 *
 * Writing an `exits` map (realm_state_set_text_map in section 7 does
 * this in one call):
 *
 *     realm_cbor_writer w;
 *     realm_cbor_writer_init(&w, NULL, 0);          // grows in the arena
 *     realm_cbor_put_map(&w, 2);                    // then 2 key/value pairs
 *     realm_cbor_put_text(&w, RS("north"));
 *     realm_cbor_put_text(&w, RS("/rooms/forest"));
 *     realm_cbor_put_text(&w, RS("south"));
 *     realm_cbor_put_text(&w, RS("/rooms/meadow"));
 *     realm_state_set_cbor(RS("exits"), &w);
 *
 * Reading it back:
 *
 *     realm_cbor_reader r;
 *     realm_str room;
 *     if (realm_state_reader(RS("exits"), &r)
 *         && realm_cbor_map_find(&r, RS("north"))
 *         && realm_cbor_get_text(&r, &room)) { ... }
 * ====================================================================== */

typedef struct realm_cbor_writer {
    uint8_t *ptr;
    size_t len;
    size_t cap;
    bool fixed;    /* writing into caller storage (never grows) */
    bool overflow; /* a fixed buffer was too small: the output is unusable */
} realm_cbor_writer;

/* Start writing into storage[cap], or into the arena when storage is NULL. */
static inline void realm_cbor_writer_init(realm_cbor_writer *w, void *storage, size_t cap);
static inline void realm_cbor_put_uint(realm_cbor_writer *w, uint64_t value);
static inline void realm_cbor_put_int(realm_cbor_writer *w, int64_t value);
static inline void realm_cbor_put_text(realm_cbor_writer *w, realm_str text);
static inline void realm_cbor_put_textz(realm_cbor_writer *w, const char *z);
static inline void realm_cbor_put_bytes(realm_cbor_writer *w, const void *data, size_t len);
static inline void realm_cbor_put_bool(realm_cbor_writer *w, bool value);
static inline void realm_cbor_put_null(realm_cbor_writer *w);
/* An array of `count` items: write the items next. */
static inline void realm_cbor_put_array(realm_cbor_writer *w, size_t count);
/* A map of `count` entries: write key, value, key, value, ... next. */
static inline void realm_cbor_put_map(realm_cbor_writer *w, size_t count);
/* The encoded bytes so far. */
static inline realm_bytes realm_cbor_writer_bytes(const realm_cbor_writer *w);

typedef enum realm_cbor_type {
    REALM_CBOR_END = 0,   /* no more data */
    REALM_CBOR_INVALID,   /* malformed or unsupported data */
    REALM_CBOR_UINT,
    REALM_CBOR_NEGINT,
    REALM_CBOR_BYTES,
    REALM_CBOR_TEXT,
    REALM_CBOR_ARRAY,
    REALM_CBOR_MAP,
    REALM_CBOR_TAG,
    REALM_CBOR_BOOL,
    REALM_CBOR_NULL,
    REALM_CBOR_FLOAT,
    REALM_CBOR_OTHER      /* undefined and other simple values */
} realm_cbor_type;

/* A cursor over CBOR bytes. The realm_cbor_get_* functions read one item
 * and return true, or return false without moving if the next item is of
 * another type. Malformed data sets `error`; every later read fails. */
typedef struct realm_cbor_reader {
    const uint8_t *ptr;
    const uint8_t *end;
    bool error;
} realm_cbor_reader;

static inline void realm_cbor_reader_init(realm_cbor_reader *r, const void *data, size_t len);
/* The type of the next item (without reading it). */
static inline realm_cbor_type realm_cbor_peek(const realm_cbor_reader *r);
static inline bool realm_cbor_at_end(const realm_cbor_reader *r);
static inline bool realm_cbor_get_uint(realm_cbor_reader *r, uint64_t *out);
/* An unsigned or negative integer that fits in int64_t. */
static inline bool realm_cbor_get_int(realm_cbor_reader *r, int64_t *out);
/* Text and bytes point into the data being read (no copy). */
static inline bool realm_cbor_get_text(realm_cbor_reader *r, realm_str *out);
static inline bool realm_cbor_get_bytes(realm_cbor_reader *r, realm_bytes *out);
static inline bool realm_cbor_get_bool(realm_cbor_reader *r, bool *out);
static inline bool realm_cbor_get_null(realm_cbor_reader *r);
/* The header of an array / map: *count items / entries follow. */
static inline bool realm_cbor_get_array(realm_cbor_reader *r, size_t *count);
static inline bool realm_cbor_get_map(realm_cbor_reader *r, size_t *count);
/* Skip one whole item, however deeply nested. */
static inline bool realm_cbor_skip(realm_cbor_reader *r);
/* With the reader at a map whose keys are text: find `key` and leave the
 * reader at its value. If it is not there, returns false and leaves the
 * reader where it was. */
static inline bool realm_cbor_map_find(realm_cbor_reader *r, realm_str key);

/* ======================================================================
 * 7. State helpers
 * ====================================================================== */

/* A reader over a state key's value; false if the key is not set. */
static inline bool realm_state_reader(realm_str key, realm_cbor_reader *r);
static inline void realm_state_set_cbor(realm_str key, const realm_cbor_writer *w);
/* Scalars: the get functions return false if the key is unset or of
 * another type, leaving *out alone (so you can preset a default). */
static inline bool realm_state_get_int(realm_str key, int64_t *out);
static inline void realm_state_set_int(realm_str key, int64_t value);
static inline bool realm_state_get_text(realm_str key, realm_str *out);
static inline void realm_state_set_text(realm_str key, realm_str value);
static inline bool realm_state_get_bool(realm_str key, bool *out);
static inline void realm_state_set_bool(realm_str key, bool value);
/* An array of text, e.g. `ids`:
 *     realm_state_set_strs(RS("ids"), (realm_str[]){RS("lamp"), RS("brass lamp")}, 2); */
static inline void realm_state_set_strs(realm_str key, const realm_str *items, size_t count);
/* A map of text to text, e.g. `exits` or `details`, from a flat array of
 * NUL-terminated strings: key, value, key, value... `count` is the number
 * of pairs (half the array). A key may list alternatives separated by '|':
 * each becomes a key of its own with the same value (empty alternatives
 * are skipped, and a key that comes again keeps its first value). The
 * driver's `look at` finds a detail by the exact noun, in lower case, so
 * write details' keys in lower case and list the nouns players will try:
 *
 *     static const char *const EXITS[] = {
 *         "north", "/rooms/forest",
 *         "south", "/rooms/meadow",
 *     };
 *     static const char *const DETAILS[] = {
 *         "well|old well|rim", "The well is old, older than the village.",
 *         "bucket|rope",       "An oak bucket on a fraying rope.",
 *     };
 *     realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
 *     realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
 */
static inline void realm_state_set_text_map(realm_str key, const char *const *pairs, size_t count);

/* Another object's public state (see realm_query): like the scalar get
 * functions above, false if the key is not public, unset or of another
 * type, leaving *out alone. Text points into the arena. */
static inline bool realm_query_text(realm_str target, realm_str key, realm_str *out);
static inline bool realm_query_bool(realm_str target, realm_str key, bool *out);

/* ======================================================================
 * 8. Everyday helpers
 *
 * What most rooms, items and NPCs do, built from the functions above.
 * A command hook typically reads:
 *
 *     bool realm_on_command(realm_str self, realm_str actor,
 *                           realm_str verb, realm_str args) {
 *         if (!realm_str_eqz(verb, "light")) return false;
 *         if (!realm_one_of("lamp|brass lamp", realm_noun_of(args)))
 *             return false;                    // another lamp, perhaps
 *         realm_state_set_bool(RS("lit"), true);
 *         realm_announce(actor, RS("You light the lamp."), RS("lights a lamp."));
 *         return true;
 *     }
 *
 * and a room keeps its furniture with realm_stock in on-load and reset.
 * ====================================================================== */

/* The number of elements of an array (an array, not a pointer):
 * realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids)). */
#define REALM_LEN(array) (sizeof(array) / sizeof((array)[0]))

/* --- the words a player typed ------------------------------------------ */

/* Is `word` exactly one of the '|'-separated alternatives in `alts`?
 * Byte-wise, so compare with realm_noun_of's lower-case result:
 *     realm_one_of("lamp|brass lamp|lantern", noun) */
static inline bool realm_one_of(const char *alts, realm_str word);
/* The thing a command is about, ready for realm_one_of: `args` trimmed,
 * in lower case (realm_str_lower), without the leading words "at", "in",
 * "into", "on", "from", "to", "my", "the", "a" and "an", however many:
 * "at the Old Well" -> "old well", "" -> "". In the arena. */
static inline realm_str realm_noun_of(realm_str args);

/* --- who is who --------------------------------------------------------- */

/* Is `id` a player's ("/player/ann")? */
static inline bool realm_is_player(realm_str id);
/* The name players know `who` by: its `name` ("Tansy", "Marta"); for a
 * player without one, the id's last part with a capital ("/player/ann" ->
 * "Ann"); "Someone" for anything else. */
static inline realm_str realm_name_of(realm_str who);

/* --- telling the people around ------------------------------------------ */

/* Tell `text` to every player in `room` but `except` (usually the actor).
 * Only players: to any other object a tell is an on-message it would have
 * to make sense of. (From a room, realm_say tells everything it contains,
 * the actor included.) */
static inline void realm_tell_others(realm_str room, realm_str except, realm_str text);
/* The two sides of an action: `to_actor` to the actor, and to the other
 * players in the actor's room the actor's name, a space and `to_others`
 * (like realm_emote):
 *     realm_announce(actor, RS("You light the lamp."), RS("lights a lamp."));
 * Ann sees "You light the lamp.", Bob beside her "Ann lights a lamp." */
static inline void realm_announce(realm_str actor, realm_str to_actor, realm_str to_others);

/* --- what is where, and keeping a room stocked -------------------------- */

/* The first object in `where` that is a clone of `blueprint` ("/obj/coin"
 * finds "/obj/coin#000012") or whose `name` is `name` (a coin from
 * elsewhere that calls itself "coin"); an empty id if there is none.
 * Either test is left out when its argument is empty. lpMUD's present(). */
static inline realm_str realm_present(realm_str where, realm_str blueprint, realm_str name);
/* Whether realm_present finds anything. */
static inline bool realm_holds(realm_str where, realm_str blueprint, realm_str name);
/* Keep one `blueprint` in `room` (call it in on-load and reset): unless
 * realm_holds(room, blueprint, name), clone one and move it in. A refusal
 * is logged as a warning ("cannot stock: <why>"). True if one is there
 * now. */
static inline bool realm_stock(realm_str room, realm_str blueprint, realm_str name);

/* ======================================================================
 * Implementation. Nothing below is part of the API.
 * ====================================================================== */

/* The canonical ABI lays out a realm_str exactly like a WIT string in
 * memory (i32 pointer, i32 length), which is what lets list<string>
 * results be used in place. */
_Static_assert(sizeof(realm_str) == 8 && _Alignof(realm_str) == 4, "wasm32 string layout");
_Static_assert(sizeof(realm_bytes) == 8, "wasm32 list layout");

/* --- raw imports: interface jitrealm:realm/host@0.1.0 -------------------
 * Parameters are the canonical ABI's flattened form: a string or list is
 * (pointer, length), a u64 is an i64, an enum or bool an i32. A function
 * whose result does not flatten to one value takes a pointer to a return
 * area as its last parameter instead, laid out as below. */

/* option<string>, option<list<u8>>, result<string, string>, result<_, string>:
 * a u8 case (option: 0 none / 1 some; result: 0 ok / 1 err) at offset 0,
 * then the payload's (pointer, length) at offsets 4 and 8. */
typedef struct realm__ret_variant {
    uint8_t tag;
    const void *ptr;
    size_t len;
} realm__ret_variant;
_Static_assert(sizeof(realm__ret_variant) == 12, "return area layout");
_Static_assert(offsetof(realm__ret_variant, ptr) == 4, "return area layout");

/* list<T>: (pointer, length) at offsets 0 and 4. */
typedef struct realm__ret_list {
    const void *ptr;
    size_t len;
} realm__ret_list;

#define REALM__IMPORT(name) \
    __attribute__((import_module("jitrealm:realm/host@0.1.0"), import_name(name)))

REALM__IMPORT("tell") void realm__host_tell(const char *target, size_t target_len, const char *text, size_t text_len);
REALM__IMPORT("gmcp") void realm__host_gmcp(const char *target, size_t target_len, const char *package, size_t package_len, const char *json, size_t json_len);
REALM__IMPORT("say") void realm__host_say(const char *text, size_t text_len);
REALM__IMPORT("emote") void realm__host_emote(const char *text, size_t text_len);
REALM__IMPORT("state-get") void realm__host_state_get(const char *key, size_t key_len, realm__ret_variant *ret);
REALM__IMPORT("state-set") void realm__host_state_set(const char *key, size_t key_len, const void *value, size_t value_len);
REALM__IMPORT("state-delete") void realm__host_state_delete(const char *key, size_t key_len);
REALM__IMPORT("callout") uint64_t realm__host_callout(const char *method, size_t method_len, uint32_t delay_ms, const void *args, size_t args_len);
REALM__IMPORT("cancel-callout") int32_t realm__host_cancel_callout(uint64_t handle);
REALM__IMPORT("set-heartbeat") void realm__host_set_heartbeat(uint32_t interval_ms);
REALM__IMPORT("clone") void realm__host_clone(const char *blueprint, size_t blueprint_len, realm__ret_variant *ret);
REALM__IMPORT("destruct") void realm__host_destruct(const char *target, size_t target_len, realm__ret_variant *ret);
REALM__IMPORT("move") void realm__host_move(const char *target, size_t target_len, const char *dest, size_t dest_len, realm__ret_variant *ret);
REALM__IMPORT("environment") void realm__host_environment(const char *target, size_t target_len, realm__ret_variant *ret);
REALM__IMPORT("contents") void realm__host_contents(const char *target, size_t target_len, realm__ret_list *ret);
REALM__IMPORT("query") void realm__host_query(const char *target, size_t target_len, const char *key, size_t key_len, realm__ret_variant *ret);
REALM__IMPORT("now-ms") uint64_t realm__host_now_ms(void);
REALM__IMPORT("log") void realm__host_log(int32_t level, const char *text, size_t text_len);

/* --- the arena ------------------------------------------------------------
 * One bump allocator over linear memory from __heap_base up. It grows
 * memory with memory.grow and is reset to empty after every hook, so an
 * instance that serves thousands of calls never accumulates garbage. The
 * host allocates hook arguments and import results here too (through
 * cabi_realloc), which is why the reset happens when the hook *returns*:
 * the arguments were allocated just before it was called. */

extern unsigned char __heap_base;

#define REALM__PAGE ((uint64_t)65536)

static uintptr_t realm__arena_top;  /* next free byte (0: not started) */
static uintptr_t realm__arena_last; /* start of the latest allocation */

/* Growing memory failed: the tenant's memory cap is reached. This traps
 * with a function of this exact name on the stack, which is how the host
 * tells "out of memory" from other traps. Do not rename it. */
__attribute__((noinline, noreturn, cold)) void realm_out_of_memory(void) {
    __builtin_trap();
}

static inline uintptr_t realm__arena_base(void) {
    return ((uintptr_t)&__heap_base + 7u) & ~(uintptr_t)7u;
}

static inline void realm__arena_reset(void) {
    realm__arena_top = realm__arena_base();
    realm__arena_last = realm__arena_top;
}

static void *realm__arena_alloc(size_t align, size_t size) {
    if (realm__arena_top == 0) realm__arena_reset();
    if (align == 0 || (align & (align - 1)) != 0) align = 8;
    uint64_t start = ((uint64_t)realm__arena_top + (align - 1)) & ~(uint64_t)(align - 1);
    uint64_t end = start + (uint64_t)size;
    uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * REALM__PAGE;
    if (end > have) {
        if (end > (uint64_t)UINT32_MAX) realm_out_of_memory();
        uint64_t pages = (end - have + REALM__PAGE - 1) / REALM__PAGE;
        if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) realm_out_of_memory();
    }
    realm__arena_last = (uintptr_t)start;
    realm__arena_top = (uintptr_t)end;
    return (void *)(uintptr_t)start;
}

static void *realm__arena_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    if (ptr == NULL) return realm__arena_alloc(align, new_size);
    uintptr_t p = (uintptr_t)ptr;
    if (p == realm__arena_last && p + old_size == realm__arena_top) {
        /* The latest allocation: grow or shrink it in place. */
        realm__arena_top = p;
        void *again = realm__arena_alloc(1, new_size);
        (void)again; /* == ptr */
        realm__arena_last = p;
        return ptr;
    }
    void *fresh = realm__arena_alloc(align, new_size);
    __builtin_memcpy(fresh, ptr, old_size < new_size ? old_size : new_size);
    return fresh;
}

/* The canonical ABI's allocator: the host calls it to copy strings and
 * lists into this instance's memory. */
__attribute__((export_name("cabi_realloc")))
void *realm__cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    return realm__arena_realloc(ptr, old_size, align, new_size);
}

static inline void *realm_alloc(size_t size) { return realm__arena_alloc(8, size); }

static inline void *realm_alloc_zeroed(size_t size) {
    void *p = realm__arena_alloc(8, size);
    __builtin_memset(p, 0, size);
    return p;
}

static inline void *realm_realloc(void *ptr, size_t old_size, size_t new_size) {
    return realm__arena_realloc(ptr, old_size, 8, new_size);
}

static inline size_t realm_arena_mark(void) {
    if (realm__arena_top == 0) realm__arena_reset();
    return realm__arena_top;
}

static inline void realm_arena_release(size_t mark) {
    if (mark >= realm__arena_base() && mark <= realm__arena_top) {
        realm__arena_top = mark;
        realm__arena_last = mark;
    }
}

/* --- strings ------------------------------------------------------------- */

static inline size_t realm_strlen(const char *z) {
    size_t n = 0;
    if (z) while (z[n]) n++;
    return n;
}

static inline realm_str realm_z(const char *z) { return (realm_str){z, realm_strlen(z)}; }

static inline bool realm_str_eq(realm_str a, realm_str b) {
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (a.ptr[i] != b.ptr[i]) return false;
    return true;
}

static inline bool realm_str_eqz(realm_str a, const char *z) { return realm_str_eq(a, realm_z(z)); }

static inline int realm_str_cmp(realm_str a, realm_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];
        if (x != y) return x < y ? -1 : 1;
    }
    return a.len < b.len ? -1 : (a.len > b.len ? 1 : 0);
}

static inline bool realm_str_starts_with(realm_str s, realm_str prefix) {
    return s.len >= prefix.len && realm_str_eq((realm_str){s.ptr, prefix.len}, prefix);
}

static inline ptrdiff_t realm_str_find(realm_str s, realm_str needle) {
    if (needle.len > s.len) return -1;
    for (size_t i = 0; i + needle.len <= s.len; i++)
        if (realm_str_eq((realm_str){s.ptr + i, needle.len}, needle)) return (ptrdiff_t)i;
    return -1;
}

static inline bool realm__is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline realm_str realm_str_trim(realm_str s) {
    while (s.len && realm__is_space(s.ptr[0])) { s.ptr++; s.len--; }
    while (s.len && realm__is_space(s.ptr[s.len - 1])) s.len--;
    return s;
}

static inline realm_str realm_str_word(realm_str *rest) {
    realm_str s = realm_str_trim(*rest);
    size_t n = 0;
    while (n < s.len && !realm__is_space(s.ptr[n])) n++;
    *rest = realm_str_trim((realm_str){s.ptr + n, s.len - n});
    return (realm_str){s.ptr, n};
}

static inline bool realm_str_to_int(realm_str s, int64_t *out) {
    s = realm_str_trim(s);
    bool negative = false;
    size_t i = 0;
    if (i < s.len && (s.ptr[i] == '-' || s.ptr[i] == '+')) negative = s.ptr[i++] == '-';
    if (i == s.len) return false;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    uint64_t value = 0;
    for (; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9') return false;
        uint64_t digit = (uint64_t)(c - '0');
        if (value > (limit - digit) / 10u) return false;
        value = value * 10u + digit;
    }
    *out = negative ? (int64_t)(0u - value) : (int64_t)value;
    return true;
}

static inline size_t realm_str_copy(char *dst, size_t cap, realm_str src) {
    if (cap == 0) return 0;
    size_t n = src.len < cap - 1 ? src.len : cap - 1;
    __builtin_memcpy(dst, src.ptr, n);
    dst[n] = 0;
    return n;
}

static inline realm_str realm_str_dup(realm_str s) {
    char *p = (char *)realm__arena_alloc(1, s.len);
    __builtin_memcpy(p, s.ptr, s.len);
    return (realm_str){p, s.len};
}

static inline realm_str realm_str_lower(realm_str s) {
    char *p = (char *)realm__arena_alloc(1, s.len);
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        p[i] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
    }
    return (realm_str){p, s.len};
}

static inline realm_str realm_str_concat(realm_str a, realm_str b) {
    char *p = (char *)realm__arena_alloc(1, a.len + b.len);
    __builtin_memcpy(p, a.ptr, a.len);
    __builtin_memcpy(p + a.len, b.ptr, b.len);
    return (realm_str){p, a.len + b.len};
}

static inline size_t realm_int_to_str(int64_t value, char *out) {
    char digits[20];
    size_t n = 0, len = 0;
    uint64_t v = value < 0 ? 0u - (uint64_t)value : (uint64_t)value;
    do { digits[n++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    if (value < 0) out[len++] = '-';
    while (n) out[len++] = digits[--n];
    out[len] = 0;
    return len;
}

static inline realm_str realm_int_str(int64_t value) {
    char *p = (char *)realm__arena_alloc(1, 21);
    size_t n = realm_int_to_str(value, p);
    return (realm_str){p, n};
}

/* --- string builder -------------------------------------------------------- */

static inline void realm_buf_init(realm_buf *b, char *storage, size_t cap) {
    b->ptr = storage;
    b->len = 0;
    b->cap = storage ? cap : 0;
    b->fixed = storage != NULL;
    b->truncated = false;
}

static inline void realm_buf_add(realm_buf *b, realm_str s) {
    size_t n = s.len;
    if (b->len + n > b->cap) {
        if (b->fixed) {
            n = b->cap - b->len;
            b->truncated = true;
        } else {
            size_t cap = b->cap ? b->cap * 2 : 64;
            while (cap < b->len + n) cap *= 2;
            b->ptr = (char *)realm__arena_realloc(b->ptr, b->cap, 1, cap);
            b->cap = cap;
        }
    }
    __builtin_memcpy(b->ptr + b->len, s.ptr, n);
    b->len += n;
}

static inline void realm_buf_z(realm_buf *b, const char *z) { realm_buf_add(b, realm_z(z)); }

static inline void realm_buf_char(realm_buf *b, char c) { realm_buf_add(b, (realm_str){&c, 1}); }

static inline void realm_buf_int(realm_buf *b, int64_t value) {
    char digits[21];
    size_t n = realm_int_to_str(value, digits);
    realm_buf_add(b, (realm_str){digits, n});
}

static inline realm_str realm_buf_str(const realm_buf *b) { return (realm_str){b->ptr, b->len}; }

/* --- host API wrappers ------------------------------------------------------ */

static inline void realm_tell(realm_str target, realm_str text) {
    realm__host_tell(target.ptr, target.len, text.ptr, text.len);
}

static inline void realm_gmcp(realm_str target, realm_str package, realm_str json) {
    realm__host_gmcp(target.ptr, target.len, package.ptr, package.len, json.ptr, json.len);
}

static inline void realm_say(realm_str text) { realm__host_say(text.ptr, text.len); }

static inline void realm_emote(realm_str text) { realm__host_emote(text.ptr, text.len); }

static inline bool realm__some_bytes(const realm__ret_variant *ret, const uint8_t **value, size_t *len) {
    bool some = ret->tag != 0;
    if (value) *value = some ? (const uint8_t *)ret->ptr : NULL;
    if (len) *len = some ? ret->len : 0;
    return some;
}

static inline bool realm_state_get(realm_str key, const uint8_t **value, size_t *len) {
    realm__ret_variant ret;
    realm__host_state_get(key.ptr, key.len, &ret);
    return realm__some_bytes(&ret, value, len);
}

static inline void realm_state_set(realm_str key, const void *value, size_t len) {
    realm__host_state_set(key.ptr, key.len, value, len);
}

static inline void realm_state_delete(realm_str key) { realm__host_state_delete(key.ptr, key.len); }

static inline uint64_t realm_callout(realm_str method, uint32_t delay_ms, const void *args, size_t args_len) {
    return realm__host_callout(method.ptr, method.len, delay_ms, args, args_len);
}

static inline bool realm_cancel_callout(uint64_t handle) { return realm__host_cancel_callout(handle) != 0; }

static inline void realm_set_heartbeat(uint32_t interval_ms) { realm__host_set_heartbeat(interval_ms); }

/* result<string, string> and result<_, string> (where the ok case has no
 * payload, so `value` stays empty). */
static inline realm_result realm__result(const realm__ret_variant *ret, bool ok_has_payload) {
    realm_result r;
    r.ok = ret->tag == 0;
    if (!r.ok || ok_has_payload) r.value = (realm_str){(const char *)ret->ptr, ret->len};
    else r.value = (realm_str){"", 0};
    return r;
}

static inline realm_result realm_clone(realm_str blueprint) {
    realm__ret_variant ret;
    realm__host_clone(blueprint.ptr, blueprint.len, &ret);
    return realm__result(&ret, true);
}

static inline realm_result realm_destruct(realm_str target) {
    realm__ret_variant ret;
    realm__host_destruct(target.ptr, target.len, &ret);
    return realm__result(&ret, false);
}

static inline realm_result realm_move(realm_str target, realm_str destination) {
    realm__ret_variant ret;
    realm__host_move(target.ptr, target.len, destination.ptr, destination.len, &ret);
    return realm__result(&ret, false);
}

static inline bool realm_environment(realm_str target, realm_str *env) {
    realm__ret_variant ret;
    realm__host_environment(target.ptr, target.len, &ret);
    bool some = ret.tag != 0;
    if (env) *env = some ? (realm_str){(const char *)ret.ptr, ret.len} : (realm_str){"", 0};
    return some;
}

static inline realm_strs realm_contents(realm_str target) {
    realm__ret_list ret;
    realm__host_contents(target.ptr, target.len, &ret);
    return (realm_strs){(const realm_str *)ret.ptr, ret.len};
}

static inline bool realm_query(realm_str target, realm_str key, const uint8_t **value, size_t *len) {
    realm__ret_variant ret;
    realm__host_query(target.ptr, target.len, key.ptr, key.len, &ret);
    return realm__some_bytes(&ret, value, len);
}

static inline uint64_t realm_now_ms(void) { return realm__host_now_ms(); }

static inline void realm_log(realm_level level, realm_str text) {
    realm__host_log((int32_t)level, text.ptr, text.len);
}

/* --- CBOR writer ------------------------------------------------------------- */

static inline void realm_cbor_writer_init(realm_cbor_writer *w, void *storage, size_t cap) {
    w->ptr = (uint8_t *)storage;
    w->len = 0;
    w->cap = storage ? cap : 0;
    w->fixed = storage != NULL;
    w->overflow = false;
}

static inline void realm__cbor_raw(realm_cbor_writer *w, const void *data, size_t n) {
    if (w->overflow) return;
    if (w->len + n > w->cap) {
        if (w->fixed) { w->overflow = true; return; }
        size_t cap = w->cap ? w->cap * 2 : 64;
        while (cap < w->len + n) cap *= 2;
        w->ptr = (uint8_t *)realm__arena_realloc(w->ptr, w->cap, 1, cap);
        w->cap = cap;
    }
    __builtin_memcpy(w->ptr + w->len, data, n);
    w->len += n;
}

/* An item head: major type (0-7) and its argument, in the shortest form. */
static inline void realm__cbor_head(realm_cbor_writer *w, uint8_t major, uint64_t arg) {
    uint8_t head[9];
    size_t n;
    major = (uint8_t)(major << 5);
    if (arg < 24) { head[0] = (uint8_t)(major | arg); n = 1; }
    else if (arg <= 0xffu) { head[0] = major | 24; head[1] = (uint8_t)arg; n = 2; }
    else if (arg <= 0xffffu) { head[0] = major | 25; n = 3; }
    else if (arg <= 0xffffffffu) { head[0] = major | 26; n = 5; }
    else { head[0] = major | 27; n = 9; }
    if (n > 2)
        for (size_t i = 1; i < n; i++) head[i] = (uint8_t)(arg >> (8 * (n - 1 - i)));
    realm__cbor_raw(w, head, n);
}

static inline void realm_cbor_put_uint(realm_cbor_writer *w, uint64_t value) { realm__cbor_head(w, 0, value); }

static inline void realm_cbor_put_int(realm_cbor_writer *w, int64_t value) {
    if (value >= 0) realm__cbor_head(w, 0, (uint64_t)value);
    else realm__cbor_head(w, 1, ~(uint64_t)value); /* -1 - value */
}

static inline void realm_cbor_put_text(realm_cbor_writer *w, realm_str text) {
    realm__cbor_head(w, 3, text.len);
    realm__cbor_raw(w, text.ptr, text.len);
}

static inline void realm_cbor_put_textz(realm_cbor_writer *w, const char *z) { realm_cbor_put_text(w, realm_z(z)); }

static inline void realm_cbor_put_bytes(realm_cbor_writer *w, const void *data, size_t len) {
    realm__cbor_head(w, 2, len);
    realm__cbor_raw(w, data, len);
}

static inline void realm_cbor_put_bool(realm_cbor_writer *w, bool value) {
    uint8_t b = value ? 0xf5 : 0xf4;
    realm__cbor_raw(w, &b, 1);
}

static inline void realm_cbor_put_null(realm_cbor_writer *w) {
    uint8_t b = 0xf6;
    realm__cbor_raw(w, &b, 1);
}

static inline void realm_cbor_put_array(realm_cbor_writer *w, size_t count) { realm__cbor_head(w, 4, count); }

static inline void realm_cbor_put_map(realm_cbor_writer *w, size_t count) { realm__cbor_head(w, 5, count); }

static inline realm_bytes realm_cbor_writer_bytes(const realm_cbor_writer *w) {
    return (realm_bytes){w->ptr, w->overflow ? 0 : w->len};
}

/* --- CBOR reader --------------------------------------------------------------- */

static inline void realm_cbor_reader_init(realm_cbor_reader *r, const void *data, size_t len) {
    r->ptr = (const uint8_t *)data;
    r->end = r->ptr + len;
    r->error = data == NULL && len != 0;
}

/* Decode the head at r->ptr without consuming it: major type, argument,
 * and the head's size in bytes. False for truncated, reserved (28-30) or
 * indefinite-length (31) heads. */
static inline bool realm__cbor_peek_head(const realm_cbor_reader *r, uint8_t *major, uint64_t *arg, size_t *size) {
    if (r->error || r->ptr >= r->end) return false;
    uint8_t initial = r->ptr[0], info = initial & 31u;
    size_t extra;
    *major = initial >> 5;
    if (info < 24) { *arg = info; *size = 1; return true; }
    if (info == 24) extra = 1;
    else if (info == 25) extra = 2;
    else if (info == 26) extra = 4;
    else if (info == 27) extra = 8;
    else return false;
    if ((size_t)(r->end - r->ptr) < 1 + extra) return false;
    uint64_t v = 0;
    for (size_t i = 1; i <= extra; i++) v = (v << 8) | r->ptr[i];
    *arg = v;
    *size = 1 + extra;
    return true;
}

static inline realm_cbor_type realm_cbor_peek(const realm_cbor_reader *r) {
    if (r->error) return REALM_CBOR_INVALID;
    if (r->ptr >= r->end) return REALM_CBOR_END;
    uint8_t major;
    uint64_t arg;
    size_t size;
    if (!realm__cbor_peek_head(r, &major, &arg, &size)) return REALM_CBOR_INVALID;
    switch (major) {
    case 0: return REALM_CBOR_UINT;
    case 1: return REALM_CBOR_NEGINT;
    case 2: return REALM_CBOR_BYTES;
    case 3: return REALM_CBOR_TEXT;
    case 4: return REALM_CBOR_ARRAY;
    case 5: return REALM_CBOR_MAP;
    case 6: return REALM_CBOR_TAG;
    default: break;
    }
    uint8_t info = r->ptr[0] & 31u;
    if (info == 20 || info == 21) return REALM_CBOR_BOOL;
    if (info == 22) return REALM_CBOR_NULL;
    if (info >= 25 && info <= 27) return REALM_CBOR_FLOAT;
    return REALM_CBOR_OTHER;
}

static inline bool realm_cbor_at_end(const realm_cbor_reader *r) { return !r->error && r->ptr >= r->end; }

/* Consume a head of the wanted major type; on a malformed head, set the
 * error flag; on another type, return false and leave the reader alone. */
static inline bool realm__cbor_take(realm_cbor_reader *r, uint8_t want, uint64_t *arg) {
    uint8_t major;
    size_t size;
    if (r->error || r->ptr >= r->end) return false;
    if (!realm__cbor_peek_head(r, &major, arg, &size)) { r->error = true; return false; }
    if (major != want) return false;
    r->ptr += size;
    return true;
}

static inline bool realm_cbor_get_uint(realm_cbor_reader *r, uint64_t *out) { return realm__cbor_take(r, 0, out); }

static inline bool realm_cbor_get_int(realm_cbor_reader *r, int64_t *out) {
    uint8_t major;
    uint64_t arg;
    size_t size;
    if (r->error || !realm__cbor_peek_head(r, &major, &arg, &size)) return false;
    if ((major != 0 && major != 1) || arg > (uint64_t)INT64_MAX) return false;
    r->ptr += size;
    *out = major == 0 ? (int64_t)arg : -1 - (int64_t)arg;
    return true;
}

static inline bool realm__cbor_get_string(realm_cbor_reader *r, uint8_t major, const uint8_t **ptr, size_t *len) {
    const uint8_t *start = r->ptr;
    uint64_t n;
    if (!realm__cbor_take(r, major, &n)) return false;
    if (n > (uint64_t)(r->end - r->ptr)) { r->ptr = start; r->error = true; return false; }
    *ptr = r->ptr;
    *len = (size_t)n;
    r->ptr += n;
    return true;
}

static inline bool realm_cbor_get_text(realm_cbor_reader *r, realm_str *out) {
    const uint8_t *p;
    size_t n;
    if (!realm__cbor_get_string(r, 3, &p, &n)) return false;
    *out = (realm_str){(const char *)p, n};
    return true;
}

static inline bool realm_cbor_get_bytes(realm_cbor_reader *r, realm_bytes *out) {
    const uint8_t *p;
    size_t n;
    if (!realm__cbor_get_string(r, 2, &p, &n)) return false;
    *out = (realm_bytes){p, n};
    return true;
}

static inline bool realm_cbor_get_bool(realm_cbor_reader *r, bool *out) {
    if (realm_cbor_peek(r) != REALM_CBOR_BOOL) return false;
    *out = r->ptr[0] == 0xf5;
    r->ptr++;
    return true;
}

static inline bool realm_cbor_get_null(realm_cbor_reader *r) {
    if (realm_cbor_peek(r) != REALM_CBOR_NULL) return false;
    r->ptr++;
    return true;
}

/* Container heads: every item takes at least one byte (an entry two), so
 * a count larger than what is left is malformed, not just big. */
static inline bool realm__cbor_get_container(realm_cbor_reader *r, uint8_t major, uint64_t per_item, size_t *count) {
    const uint8_t *start = r->ptr;
    uint64_t n;
    if (!realm__cbor_take(r, major, &n)) return false;
    if (n > (uint64_t)(r->end - r->ptr) / per_item) { r->ptr = start; r->error = true; return false; }
    *count = (size_t)n;
    return true;
}

static inline bool realm_cbor_get_array(realm_cbor_reader *r, size_t *count) {
    return realm__cbor_get_container(r, 4, 1, count);
}

static inline bool realm_cbor_get_map(realm_cbor_reader *r, size_t *count) {
    return realm__cbor_get_container(r, 5, 2, count);
}

static inline bool realm_cbor_skip(realm_cbor_reader *r) {
    /* Iterative, so hostile nesting cannot exhaust the stack: `pending`
     * counts the items still to skip, and as each takes at least one byte
     * it can never exceed the bytes left. */
    uint64_t pending = 1;
    while (pending) {
        uint8_t major;
        uint64_t arg;
        size_t size;
        if (r->error) return false;
        if (!realm__cbor_peek_head(r, &major, &arg, &size)) { r->error = true; return false; }
        uint64_t left = (uint64_t)(r->end - r->ptr) - size;
        pending--;
        if (major == 2 || major == 3) {
            if (arg > left) { r->error = true; return false; }
            size += (size_t)arg;
            left -= arg;
        } else if (major == 4 || major == 5) {
            if (arg > left) { r->error = true; return false; }
            pending += major == 4 ? arg : 2 * arg;
        } else if (major == 6) {
            pending += 1;
        }
        if (pending > left) { r->error = true; return false; }
        r->ptr += size;
    }
    return true;
}

static inline bool realm_cbor_map_find(realm_cbor_reader *r, realm_str key) {
    realm_cbor_reader at = *r;
    size_t count;
    if (!realm_cbor_get_map(&at, &count)) return false;
    for (size_t i = 0; i < count; i++) {
        realm_str k;
        if (realm_cbor_get_text(&at, &k)) {
            if (realm_str_eq(k, key)) { *r = at; return true; }
        } else if (!realm_cbor_skip(&at)) {
            return false;
        }
        if (!realm_cbor_skip(&at)) return false;
    }
    return false;
}

/* --- state helpers ---------------------------------------------------------------- */

static inline bool realm_state_reader(realm_str key, realm_cbor_reader *r) {
    const uint8_t *value;
    size_t len;
    if (!realm_state_get(key, &value, &len)) return false;
    realm_cbor_reader_init(r, value, len);
    return true;
}

static inline void realm_state_set_cbor(realm_str key, const realm_cbor_writer *w) {
    realm_bytes b = realm_cbor_writer_bytes(w);
    realm_state_set(key, b.ptr, b.len);
}

static inline bool realm_state_get_int(realm_str key, int64_t *out) {
    realm_cbor_reader r;
    return realm_state_reader(key, &r) && realm_cbor_get_int(&r, out);
}

static inline void realm_state_set_int(realm_str key, int64_t value) {
    uint8_t buf[9];
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, buf, sizeof buf);
    realm_cbor_put_int(&w, value);
    realm_state_set_cbor(key, &w);
}

static inline bool realm_state_get_text(realm_str key, realm_str *out) {
    realm_cbor_reader r;
    return realm_state_reader(key, &r) && realm_cbor_get_text(&r, out);
}

static inline void realm_state_set_text(realm_str key, realm_str value) {
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_text(&w, value);
    realm_state_set_cbor(key, &w);
}

static inline bool realm_state_get_bool(realm_str key, bool *out) {
    realm_cbor_reader r;
    return realm_state_reader(key, &r) && realm_cbor_get_bool(&r, out);
}

static inline void realm_state_set_bool(realm_str key, bool value) {
    uint8_t b = value ? 0xf5 : 0xf4;
    realm_state_set(key, &b, 1);
}

static inline void realm_state_set_strs(realm_str key, const realm_str *items, size_t count) {
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_array(&w, count);
    for (size_t i = 0; i < count; i++) realm_cbor_put_text(&w, items[i]);
    realm_state_set_cbor(key, &w);
}

/* The next '|'-separated alternative of *alts (possibly empty); false at
 * the end. Moves *alts past it. */
static inline bool realm__next_alt(const char **alts, realm_str *out) {
    const char *p = *alts;
    if (p == NULL || *p == 0) return false;
    size_t n = 0;
    while (p[n] && p[n] != '|') n++;
    *out = (realm_str){p, n};
    *alts = p + n + (p[n] == '|');
    return true;
}

static inline void realm_state_set_text_map(realm_str key, const char *const *pairs, size_t count) {
    /* Gather the keys first: the map's head says how many entries follow,
     * and a repeated key must not be written twice. */
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        const char *alts = pairs[2 * i];
        realm_str alt;
        while (realm__next_alt(&alts, &alt)) total++;
    }
    realm_str *keys = (realm_str *)realm__arena_alloc(_Alignof(realm_str), total * sizeof(realm_str));
    size_t *values = (size_t *)realm__arena_alloc(_Alignof(size_t), total * sizeof(size_t));
    size_t unique = 0;
    for (size_t i = 0; i < count; i++) {
        const char *alts = pairs[2 * i];
        realm_str alt;
        while (realm__next_alt(&alts, &alt)) {
            bool seen = alt.len == 0;
            for (size_t j = 0; j < unique && !seen; j++) seen = realm_str_eq(keys[j], alt);
            if (seen) continue;
            keys[unique] = alt;
            values[unique] = 2 * i + 1;
            unique++;
        }
    }
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_map(&w, unique);
    for (size_t j = 0; j < unique; j++) {
        realm_cbor_put_text(&w, keys[j]);
        realm_cbor_put_textz(&w, pairs[values[j]]);
    }
    realm_state_set_cbor(key, &w);
}

static inline bool realm__query_reader(realm_str target, realm_str key, realm_cbor_reader *r) {
    const uint8_t *value;
    size_t len;
    if (!realm_query(target, key, &value, &len)) return false;
    realm_cbor_reader_init(r, value, len);
    return true;
}

static inline bool realm_query_text(realm_str target, realm_str key, realm_str *out) {
    realm_cbor_reader r;
    return realm__query_reader(target, key, &r) && realm_cbor_get_text(&r, out);
}

static inline bool realm_query_bool(realm_str target, realm_str key, bool *out) {
    realm_cbor_reader r;
    return realm__query_reader(target, key, &r) && realm_cbor_get_bool(&r, out);
}

/* --- everyday helpers --------------------------------------------------------------- */

static inline bool realm_one_of(const char *alts, realm_str word) {
    realm_str alt;
    while (realm__next_alt(&alts, &alt))
        if (realm_str_eq(alt, word)) return true;
    return false;
}

static inline realm_str realm_noun_of(realm_str args) {
    static const char *const skip[] = {"at ", "in ", "into ", "on ", "from ", "to ", "my ", "the ", "a ", "an "};
    realm_str s = realm_str_lower(realm_str_trim(args));
    for (size_t i = 0; i < REALM_LEN(skip); i++) {
        realm_str word = realm_z(skip[i]);
        if (realm_str_starts_with(s, word)) {
            s = realm_str_trim((realm_str){s.ptr + word.len, s.len - word.len});
            i = (size_t)-1; /* start over: "at the well" */
        }
    }
    return s;
}

static inline bool realm_is_player(realm_str id) { return realm_str_starts_with(id, RS("/player/")); }

static inline realm_str realm_name_of(realm_str who) {
    realm_str name;
    if (realm_query_text(who, RS("name"), &name) && name.len) return name;
    if (!realm_is_player(who) || who.len == 8) return RS("Someone");
    name = realm_str_dup((realm_str){who.ptr + 8, who.len - 8});
    if (name.ptr[0] >= 'a' && name.ptr[0] <= 'z') ((char *)name.ptr)[0] = (char)(name.ptr[0] - ('a' - 'A'));
    return name;
}

static inline void realm_tell_others(realm_str room, realm_str except, realm_str text) {
    realm_strs here = realm_contents(room);
    for (size_t i = 0; i < here.len; i++)
        if (realm_is_player(here.items[i]) && !realm_str_eq(here.items[i], except)) realm_tell(here.items[i], text);
}

static inline void realm_announce(realm_str actor, realm_str to_actor, realm_str to_others) {
    realm_str room;
    realm_tell(actor, to_actor);
    if (!realm_environment(actor, &room)) return;
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_add(&b, realm_name_of(actor));
    realm_buf_char(&b, ' ');
    realm_buf_add(&b, to_others);
    realm_tell_others(room, actor, realm_buf_str(&b));
}

static inline realm_str realm_present(realm_str where, realm_str blueprint, realm_str name) {
    realm_strs here = realm_contents(where);
    realm_str prefix = realm_str_concat(blueprint, RS("#"));
    for (size_t i = 0; i < here.len; i++) {
        realm_str id = here.items[i], called;
        if (blueprint.len && realm_str_starts_with(id, prefix)) return id;
        if (name.len && realm_query_text(id, RS("name"), &called) && realm_str_eq(called, name)) return id;
    }
    return (realm_str){"", 0};
}

static inline bool realm_holds(realm_str where, realm_str blueprint, realm_str name) {
    return realm_present(where, blueprint, name).len != 0;
}

static inline bool realm_stock(realm_str room, realm_str blueprint, realm_str name) {
    if (realm_holds(room, blueprint, name)) return true;
    realm_result made = realm_clone(blueprint);
    if (made.ok) made = realm_move(made.value, room);
    if (!made.ok) realm_log(REALM_WARN, realm_str_concat(RS("cannot stock: "), made.error));
    return made.ok;
}

/* --- hook exports: interface jitrealm:realm/object@0.1.0 ---------------------
 * All nine exports always exist (the world requires them). Each forwards to
 * the author's hook if the file defines it (an undefined weak function has
 * address 0), then empties the arena. */

#define REALM__EXPORT(name) __attribute__((export_name("jitrealm:realm/object@0.1.0#" name)))
#define REALM__S(p, n) ((realm_str){(const char *)(p), (n)})

REALM__EXPORT("on-load")
void realm__export_on_load(const char *self, size_t self_len) {
    if (realm_describe) realm_describe(REALM__S(self, self_len));
    if (realm_on_load) realm_on_load(REALM__S(self, self_len));
    realm__arena_reset();
}

REALM__EXPORT("on-reload")
void realm__export_on_reload(const char *self, size_t self_len, const char *old, size_t old_len) {
    if (realm_describe) realm_describe(REALM__S(self, self_len));
    if (realm_on_reload) realm_on_reload(REALM__S(self, self_len), REALM__S(old, old_len));
    realm__arena_reset();
}

REALM__EXPORT("on-enter")
void realm__export_on_enter(const char *self, size_t self_len, const char *who, size_t who_len,
                            int32_t from_tag, const char *from, size_t from_len) {
    if (realm_on_enter) {
        realm_str from_str = REALM__S(from, from_len);
        realm_on_enter(REALM__S(self, self_len), REALM__S(who, who_len), from_tag ? &from_str : NULL);
    }
    realm__arena_reset();
}

REALM__EXPORT("on-leave")
void realm__export_on_leave(const char *self, size_t self_len, const char *who, size_t who_len,
                            int32_t to_tag, const char *to, size_t to_len) {
    if (realm_on_leave) {
        realm_str to_str = REALM__S(to, to_len);
        realm_on_leave(REALM__S(self, self_len), REALM__S(who, who_len), to_tag ? &to_str : NULL);
    }
    realm__arena_reset();
}

REALM__EXPORT("heartbeat")
void realm__export_heartbeat(const char *self, size_t self_len) {
    if (realm_heartbeat) realm_heartbeat(REALM__S(self, self_len));
    realm__arena_reset();
}

REALM__EXPORT("reset")
void realm__export_reset(const char *self, size_t self_len) {
    if (realm_reset) realm_reset(REALM__S(self, self_len));
    realm__arena_reset();
}

REALM__EXPORT("on-command")
int32_t realm__export_on_command(const char *self, size_t self_len, const char *actor, size_t actor_len,
                                 const char *verb, size_t verb_len, const char *args, size_t args_len) {
    bool handled = false;
    if (realm_on_command)
        handled = realm_on_command(REALM__S(self, self_len), REALM__S(actor, actor_len),
                                   REALM__S(verb, verb_len), REALM__S(args, args_len));
    realm__arena_reset();
    return handled ? 1 : 0;
}

REALM__EXPORT("on-callout")
void realm__export_on_callout(const char *self, size_t self_len, const char *method, size_t method_len,
                              const uint8_t *args, size_t args_len) {
    if (realm_on_callout)
        realm_on_callout(REALM__S(self, self_len), REALM__S(method, method_len), (realm_bytes){args, args_len});
    realm__arena_reset();
}

REALM__EXPORT("on-message")
void realm__export_on_message(const char *self, size_t self_len, const char *sender, size_t sender_len,
                              const char *kind, size_t kind_len, const uint8_t *payload, size_t payload_len) {
    if (realm_on_message)
        realm_on_message(REALM__S(self, self_len), REALM__S(sender, sender_len), REALM__S(kind, kind_len),
                         (realm_bytes){payload, payload_len});
    realm__arena_reset();
}

#undef REALM__S
#undef REALM__EXPORT
#undef REALM__IMPORT

#endif /* JITREALM_REALM_H */

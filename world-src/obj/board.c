/*
 * /obj/board - the notice board in the market square.
 *
 * `write <text>` pins a note; `read board` lists them. The notes are a
 * CBOR array of text in the `notes` state key ("Ann: lost goat, answers to
 * Bess"), the newest last, at most MAX_NOTES of them. State lives in the
 * driver, so the notes survive a reload of this blueprint: on-reload only
 * refreshes the description (an edited text shows at once) and logs a line.
 */
#include "realm.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_NOTES 12
#define MAX_NOTE_BYTES 200

#define IDS "board|notice board|noticeboard|notices|notes|note"

/* Lower-cased `args` without a leading "at", "the", "my"... */
static realm_str noun_of(realm_str args) {
    static const char *const SKIP[] = {"at ", "to ", "my ", "the ", "a ", "an "};
    realm_str s = realm_str_trim(args);
    char *p = (char *)realm_alloc(s.len + 1);
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        p[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    s = (realm_str){p, s.len};
    for (size_t i = 0; i < LEN(SKIP); i++) {
        realm_str skip = realm_z(SKIP[i]);
        if (realm_str_starts_with(s, skip)) {
            s = realm_str_trim((realm_str){s.ptr + skip.len, s.len - skip.len});
            i = (size_t)-1;
        }
    }
    return s;
}

/* Is `word` one of the '|'-separated alternatives in `alts`? */
static bool one_of(const char *alts, realm_str word) {
    while (*alts) {
        size_t n = 0;
        while (alts[n] && alts[n] != '|') n++;
        if (realm_str_eq(realm_str_of(alts, n), word)) return true;
        alts += n + (alts[n] == '|');
    }
    return false;
}

/* The name players know `who` by ("/player/ann" -> "Ann" if unset). */
static realm_str name_of(realm_str who) {
    const uint8_t *v;
    size_t n;
    realm_cbor_reader r;
    realm_str name;
    if (realm_query(who, RS("name"), &v, &n)) {
        realm_cbor_reader_init(&r, v, n);
        if (realm_cbor_get_text(&r, &name) && name.len) return name;
    }
    if (!realm_str_starts_with(who, RS("/player/")) || who.len == 8) return RS("Someone");
    name = realm_str_dup((realm_str){who.ptr + 8, who.len - 8});
    if (name.ptr[0] >= 'a' && name.ptr[0] <= 'z') ((char *)name.ptr)[0] = (char)(name.ptr[0] - 32);
    return name;
}

/* Show `text` to every player in `room` but `actor`. */
static void tell_others(realm_str room, realm_str actor, realm_str text) {
    realm_strs here = realm_contents(room);
    for (size_t i = 0; i < here.len; i++)
        if (realm_str_starts_with(here.items[i], RS("/player/")) && !realm_str_eq(here.items[i], actor))
            realm_tell(here.items[i], text);
}

/* How many notes are pinned up. */
static size_t note_count(void) {
    realm_cbor_reader r;
    size_t count = 0;
    if (!realm_state_reader(RS("notes"), &r) || !realm_cbor_get_array(&r, &count)) return 0;
    return count;
}

static void describe(void) {
    const realm_str ids[] = {RS("board"), RS("notice board"), RS("noticeboard"), RS("notices"), RS("notes")};
    const realm_str verbs[] = {RS("read"), RS("write"), RS("post")};
    size_t count = note_count();
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, "A board of silvered oak on two stout posts, bristling with old nail holes. ");
    if (count == 0) {
        realm_buf_z(&b, "It is bare just now.");
    } else {
        realm_buf_int(&b, (int64_t)count);
        realm_buf_z(&b, count == 1 ? " note is" : " notes are");
        realm_buf_z(&b, " pinned to it.");
    }
    realm_buf_z(&b, " Type {bold}read board{/} to read the notes, {bold}write <text>{/} to add one.");
    realm_state_set_text(RS("name"), RS("board"));
    realm_state_set_text(RS("short"), RS("a notice board"));
    realm_state_set_text(RS("long"), realm_buf_str(&b));
    realm_state_set_strs(RS("ids"), ids, LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, LEN(verbs));
    realm_state_set_bool(RS("gettable"), false);
}

/* `text` as written: markup braces doubled, control characters blanked. */
static void add_escaped(realm_buf *b, realm_str text) {
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        if (c == '{') realm_buf_char(b, '{');
        realm_buf_char(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
    }
}

static void read_notes(realm_str actor) {
    realm_cbor_reader r;
    size_t count = 0;
    if (!realm_state_reader(RS("notes"), &r) || !realm_cbor_get_array(&r, &count) || count == 0) {
        realm_tell(actor, RS("The notice board is bare. Be the first: {bold}write <text>{/}."));
        return;
    }
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, "{bold}Notes pinned to the board:{/}");
    for (size_t i = 0; i < count; i++) {
        realm_str note;
        if (!realm_cbor_get_text(&r, &note)) {
            if (!realm_cbor_skip(&r)) break;
            continue;
        }
        realm_buf_z(&b, "\n  ");
        realm_buf_int(&b, (int64_t)(i + 1));
        realm_buf_z(&b, ". ");
        add_escaped(&b, note);
    }
    realm_tell(actor, realm_buf_str(&b));
}

static void write_note(realm_str actor, realm_str text) {
    realm_str name = name_of(actor);
    text = realm_str_trim(text);
    if (text.len == 0) {
        realm_tell(actor, RS("Write what? ({bold}write <text>{/})"));
        return;
    }
    if (text.len > MAX_NOTE_BYTES) { /* cut on a UTF-8 character boundary */
        size_t n = MAX_NOTE_BYTES;
        while (n > 0 && (text.ptr[n] & 0xC0) == 0x80) n--;
        text.len = n;
    }
    /* The old notes, minus the oldest ones if the board is full. */
    realm_cbor_reader r;
    size_t count = 0;
    if (!realm_state_reader(RS("notes"), &r) || !realm_cbor_get_array(&r, &count)) count = 0;
    size_t drop = count >= MAX_NOTES ? count - (MAX_NOTES - 1) : 0;
    realm_cbor_writer w;
    realm_cbor_writer_init(&w, NULL, 0);
    realm_cbor_put_array(&w, count - drop + 1);
    for (size_t i = 0; i < count; i++) {
        realm_str note;
        if (!realm_cbor_get_text(&r, &note)) note = RS("(smudged)");
        if (i >= drop) realm_cbor_put_text(&w, note);
    }
    realm_cbor_put_text(&w, realm_str_concat(realm_str_concat(name, RS(": ")), text));
    realm_state_set_cbor(RS("notes"), &w);
    describe(); /* the note count in the description */

    realm_tell(actor, RS("You scribble your note and pin it to the board."));
    realm_str room;
    if (realm_environment(actor, &room))
        tell_others(room, actor, realm_str_concat(name, RS(" pins a note to the notice board.")));
}

void realm_on_load(realm_str self) {
    (void)self;
    describe();
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, "notice board reloaded (was version ");
    realm_buf_add(&b, old_version);
    realm_buf_z(&b, "); ");
    realm_buf_int(&b, (int64_t)note_count());
    realm_buf_z(&b, " notes kept");
    realm_log(REALM_INFO, realm_buf_str(&b));
    describe();
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (realm_str_eqz(verb, "read")) {
        realm_str noun = noun_of(args);
        if (noun.len && !one_of(IDS, noun)) return false;
        read_notes(actor);
        return true;
    }
    if (realm_str_eqz(verb, "write") || realm_str_eqz(verb, "post")) {
        write_note(actor, args);
        return true;
    }
    return false;
}

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

#define MAX_NOTES 12
#define MAX_NOTE_BYTES 200

#define IDS "board|notice board|noticeboard|notices|notes|note"

/* How many notes are pinned up. */
static size_t note_count(void) {
    realm_cbor_reader r;
    size_t count = 0;
    if (!realm_state_reader(RS("notes"), &r) || !realm_cbor_get_array(&r, &count)) return 0;
    return count;
}

static const char *const DETAILS[] = {
    "posts|post",
    "Two stout oak posts, sunk deep in the cobbles.",
    "holes|nail holes|nails|nail",
    "Hundreds of nail holes: every notice Thornwick ever pinned up, lost goats included.",
    "oak|silvered oak",
    "Oak, silvered by weather, that will outlast everyone who reads it.",
};

void realm_describe(realm_str self) {
    (void)self;
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
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
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

static void write_note(realm_str self, realm_str actor, realm_str text) {
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
    realm_cbor_put_text(&w, realm_str_concat(realm_str_concat(realm_name_of(actor), RS(": ")), text));
    realm_state_set_cbor(RS("notes"), &w);
    realm_describe(self); /* the note count in the description */

    realm_announce(actor, RS("You scribble your note and pin it to the board."),
                   RS("pins a note to the notice board."));
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
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (realm_str_eqz(verb, "read")) {
        realm_str noun = realm_noun_of(args);
        if (noun.len && !realm_one_of(IDS, noun)) return false;
        read_notes(actor);
        return true;
    }
    if (realm_str_eqz(verb, "write") || realm_str_eqz(verb, "post")) {
        write_note(self, actor, args);
        return true;
    }
    return false;
}

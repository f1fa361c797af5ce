/*
 * /npc/cat - Tansy, a stray tabby who does the rounds of the village.
 *
 * Every 20-40 seconds (a callout, "wander") she either idles where she is
 * or picks one of her room's exits that leads somewhere on her ROUNDS,
 * announces her going, moves, and announces her arrival. The choice uses a
 * small random generator seeded from the world clock and kept in state.
 * `due` holds when the next wander should happen; if a nudge (any tell,
 * e.g. from her home room's reset) or a reload finds that time long past,
 * her callouts were lost, and she starts wandering again.
 *
 * Players can `pet`, `stroke`, `scratch` or `feed` her. Her home, the
 * well green, clones her; she cannot be picked up.
 */
#include "realm.h"

#define WANDER_MIN_MS 20000
#define WANDER_SPAN_MS 20000
#define OVERDUE_MS 60000

#define IDS "cat|tabby|tabby cat|tansy|stray"

/* The rooms she visits; she never leaves them. */
static const char *const ROUNDS[] = {
    "/rooms/green", "/rooms/square", "/rooms/tavern", "/rooms/mill", "/rooms/path",
};

static const char *const IDLE[] = {
    "stretches luxuriously and yawns, showing a small pink tongue.",
    "washes a paw with tremendous concentration.",
    "stares intently at nothing at all, then looks away as if embarrassed.",
    "curls up in a patch of sun and pretends to be asleep.",
};

static const char *const LEAVE[] = {
    "pads off %s, tail held high.",
    "slinks away %s.",
    "trots off %s on some urgent cat business.",
};

static const char *const ARRIVE[] = {
    "pads in and sits down to wash an ear.",
    "saunters in as if she owns the place.",
    "slips in silently, tail twitching.",
};

static const char *const PURR[] = {
    "purrs like a small engine and leans into %s's hand.",
    "tolerates %s's attention for exactly three seconds, then bats at their fingers.",
    "rolls over to show %s her belly. It is a trap.",
};

/* xorshift64*, seeded from the clock and the previous draw. */
static uint64_t draw(uint64_t below) {
    int64_t seed = 0;
    realm_state_get_int(RS("seed"), &seed);
    uint64_t x = (uint64_t)seed ^ realm_now_ms() ^ 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    realm_state_set_int(RS("seed"), (int64_t)(x >> 1));
    return ((x * 0x2545F4914F6CDD1Dull) >> 32) % below;
}

/* `fmt` with its one "%s" replaced by `arg`. */
static realm_str fill(const char *fmt, realm_str arg) {
    realm_str s = realm_z(fmt);
    ptrdiff_t at = realm_str_find(s, RS("%s"));
    if (at < 0) return s;
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_add(&b, (realm_str){s.ptr, (size_t)at});
    realm_buf_add(&b, arg);
    realm_buf_add(&b, (realm_str){s.ptr + at + 2, s.len - (size_t)at - 2});
    return realm_buf_str(&b);
}

static void schedule(void) {
    uint32_t delay = WANDER_MIN_MS + (uint32_t)draw(WANDER_SPAN_MS);
    realm_callout(RS("wander"), delay, NULL, 0);
    realm_state_set_int(RS("due"), (int64_t)(realm_now_ms() + delay));
}

/* Restart wandering if the callout chain was lost. */
static void check_overdue(void) {
    int64_t due = 0;
    if (!realm_state_get_int(RS("due"), &due) || (int64_t)realm_now_ms() > due + OVERDUE_MS) {
        realm_log(REALM_INFO, RS("Tansy was not wandering; she is again"));
        schedule();
    }
}

static bool on_rounds(realm_str room) {
    for (size_t i = 0; i < REALM_LEN(ROUNDS); i++)
        if (realm_str_eqz(room, ROUNDS[i])) return true;
    return false;
}

/* "north" -> "to the north"; "in" -> "inside"... */
static realm_str way(realm_str dir) {
    if (realm_str_eqz(dir, "up")) return RS("upstairs");
    if (realm_str_eqz(dir, "down")) return RS("downstairs");
    if (realm_str_eqz(dir, "in")) return RS("inside");
    if (realm_str_eqz(dir, "out")) return RS("outside");
    return realm_str_concat(RS("to the "), dir);
}

static void wander(realm_str self) {
    realm_str here, dirs[12], dests[12];
    size_t n = 0, count = 0;
    const uint8_t *v;
    size_t len;
    realm_cbor_reader r;
    if (!realm_environment(self, &here)) return;
    if (draw(3) == 0) { /* stay a while */
        realm_emote(realm_z(IDLE[draw(REALM_LEN(IDLE))]));
        return;
    }
    if (!realm_query(here, RS("exits"), &v, &len)) return;
    realm_cbor_reader_init(&r, v, len);
    if (!realm_cbor_get_map(&r, &count)) return;
    for (size_t i = 0; i < count && n < REALM_LEN(dirs); i++) {
        realm_str dir, dest;
        if (!realm_cbor_get_text(&r, &dir) || !realm_cbor_get_text(&r, &dest)) return;
        if (!on_rounds(dest)) continue;
        /* Two exits to one room ("west", "out"): take the first. */
        bool seen = false;
        for (size_t j = 0; j < n; j++) seen = seen || realm_str_eq(dests[j], dest);
        if (seen) continue;
        dirs[n] = dir;
        dests[n] = dest;
        n++;
    }
    if (n == 0) return;
    size_t pick = (size_t)draw(n);
    realm_emote(fill(LEAVE[draw(REALM_LEN(LEAVE))], way(dirs[pick])));
    if (realm_move(self, dests[pick]).ok)
        realm_emote(realm_z(ARRIVE[draw(REALM_LEN(ARRIVE))])); /* heard in the new room */
}

/* What `look at ear` and the like show while Tansy is about. */
static const char *const DETAILS[] = {
    "ear|torn ear",
    "Her left ear is torn at the tip: an old argument with a goose, by the look of it, which she claims to have won.",
    "socks|paws|white socks|paw",
    "Four white paws, as neat as if she had dipped them in milk on purpose.",
    "fur|coat|tabby|stripes",
    "Brown tabby stripes, a little scruffy, warm from somebody's hearth.",
};

void realm_on_load(realm_str self) {
    const realm_str ids[] = {RS("cat"), RS("tabby"), RS("tabby cat"), RS("stray")};
    const realm_str verbs[] = {RS("pet"), RS("stroke"), RS("scratch"), RS("feed")};
    (void)self;
    realm_state_set_text(RS("name"), RS("Tansy"));
    realm_state_set_text(RS("short"), RS("Tansy, a scruffy tabby cat"));
    realm_state_set_text(RS("long"),
        RS("A scruffy tabby with one torn ear, white socks and the calm self-regard of a creature "
           "fed at every door in the village. She belongs to no one and everyone. You could "
           "{bold}pet{/} her, if she allows it."));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), false);
    schedule();
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_log(REALM_INFO, RS("Tansy reloaded"));
    check_overdue();
}

void realm_on_callout(realm_str self, realm_str method, realm_bytes args) {
    (void)args;
    if (!realm_str_eqz(method, "wander")) return;
    wander(self);
    schedule();
}

/* Any tell is a nudge (her home room sends one on reset). */
void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    (void)sender;
    (void)payload;
    if (realm_str_eqz(kind, "tell")) check_overdue();
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    if (!realm_one_of(IDS, realm_noun_of(args))) return false;
    realm_str name = realm_name_of(actor);
    if (realm_str_eqz(verb, "feed")) {
        realm_tell(actor, RS("You have nothing a cat would want. Tansy looks at your empty hands "
                             "with open contempt. (Marta at the tavern keeps bacon for her.)"));
        return true;
    }
    if (!realm_str_eqz(verb, "pet") && !realm_str_eqz(verb, "stroke") && !realm_str_eqz(verb, "scratch"))
        return false;
    realm_tell(actor, RS("You reach down to scratch Tansy behind her torn ear."));
    realm_emote(fill(PURR[draw(REALM_LEN(PURR))], name)); /* everyone here sees it, the actor too */
    return true;
}

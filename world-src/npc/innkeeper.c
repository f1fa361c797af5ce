/*
 * /npc/innkeeper - Marta, who keeps the Crooked Lantern.
 *
 * She chats on a heartbeat (every 30 s, one of LINES in turn, kept in the
 * `line` state key; she saves her breath when no player is in the room),
 * greets players who walk in (she `hears`, so arrivals, says and emotes in
 * her room reach her on-message), answers `ask marta about <topic>`,
 * `talk to marta` and `order <drink>`, and has a soft spot for the cat.
 *
 * She remembers her regulars: `visits:<player id>` counts a player's
 * visits, and a regular is welcomed back as one. What she serves arrives:
 * `order ale` (or `buy ale`) hands over a mug (/obj/ale) and `order cider`
 * a cup (/obj/cider), both drinkable; stew is eaten on the spot. The first
 * drink is on the house for a newcomer (`served:<player id>`).
 */
#include "thornwick.h"

#define CHAT_MS 30000

#define IDS "marta|innkeeper|woman|barkeep|landlady"

/* Said aloud when they start with '>', acted out otherwise. */
static const char *const LINES[] = {
    "polishes a tankard until she can see her face in it.",
    ">Mind the third step down to the cellar. It bites.",
    "throws another log on the fire, sending up a swirl of sparks.",
    ">Heading into the Whisperwood? Stick to the path, and don't answer if the trees talk back.",
    "hums an old river song as she wipes down the bar.",
    ">The stone in the glade speaks, they say. Never to me, mind.",
    "shoos a goose back out of the door with her apron.",
    ">Lost something? Old Hobb at the mill had a satchel going spare, last I heard.",
};

/* "keyword|keyword...", then what Marta says about it. */
static const char *const TOPICS[] = {
    "village|thornwick|here|town|place",
    "Thornwick? Forty-odd souls, three hundred geese and one tavern, thank the gods. Market's out "
    "front, the well's up the lane north, and the mill beyond that.",
    "well|wish|wishes|green",
    "That well's older than the village. Folk toss a coin in for luck. Drink from it too, if you "
    "don't mind a bit of iron in your teeth.",
    "mill|miller|hobb|lever|sluice|wheel",
    "Old Hobb's mill, north past the green. He lets anyone work the sluice lever, which is how he "
    "gets out of doing it himself.",
    "river|ford|wend|heron|water",
    "The Wend runs shallow at the ford, east of the mill. Wade it if you must, but it's cold enough "
    "to stop your heart.",
    "forest|wood|woods|whisperwood|trees|path|whispers",
    "The Whisperwood starts where the square ends, west. The trees whisper; it's only the wind, "
    "mostly. Keep to the path.",
    "ruin|ruins|tower|watchtower|sword|hill",
    "The broken tower over the ford? Burned in my granny's day. Children dare each other to go up "
    "there, and some come back with treasures. Rusty ones.",
    "stone|glade|oracle|moonflower|moonflowers",
    "There's a standing stone in a glade in the deep woods, north of the path. Ask it a question and "
    "it answers, they say. I never liked what it told me.",
    "cellar|barrels|barrel|trapdoor|downstairs|brick",
    "My cellar? Black as a boot down there, and there's a loose brick behind the old barrels I never "
    "got round to looking behind. Take the lamp if you go.",
    "cat|tansy|tabby",
    "Tansy? Belongs to nobody and everybody. She does the rounds of the village and expects bacon "
    "at every stop.",
    "board|notes|notice|notices",
    "The notice board's out in the square. Write on it if you've something to say; read it if you "
    "want to know who's lost a goat.",
    "lamp|light|lantern",
    "There's an old brass lamp kicking about in here somewhere. Light it before you go anywhere "
    "dark.",
    "ale|beer|drink|drinks|food|stew|cider|menu",
    "We've brown ale, sharp cider and rabbit stew. Just {bold}order{/} what you fancy.",
    "marta|you|yourself|innkeeper|tavern|lantern",
    "Me? Born upstairs, and I'll likely die upstairs. In between, I pour ale.",
};

static bool players_here(realm_str self) {
    realm_str room;
    if (!realm_environment(self, &room)) return false;
    realm_strs here = realm_contents(room);
    for (size_t i = 0; i < here.len; i++)
        if (realm_is_player(here.items[i])) return true;
    return false;
}

static realm_str cat3(realm_str a, realm_str b, realm_str c) {
    return realm_str_concat(realm_str_concat(a, b), c);
}

/* Does `text` (lower case) mention one of `alts` as a whole word? */
static bool mentions(realm_str text, const char *alts) {
    size_t i = 0;
    while (i < text.len) {
        while (i < text.len && !(text.ptr[i] >= 'a' && text.ptr[i] <= 'z')) i++;
        size_t start = i;
        while (i < text.len && text.ptr[i] >= 'a' && text.ptr[i] <= 'z') i++;
        if (i > start && realm_one_of(alts, (realm_str){text.ptr + start, i - start})) return true;
    }
    return false;
}

static void answer(realm_str topic) {
    for (size_t i = 0; i < REALM_LEN(TOPICS); i += 2)
        if (mentions(topic, TOPICS[i])) {
            realm_say(realm_z(TOPICS[i + 1]));
            return;
        }
    realm_emote(RS("purses her lips. \"Can't say I know much about that, love. Ask me about the "
                   "village, the well, the mill, the river, the woods, the ruin or the cellar.\""));
}

static int64_t count_of(const char *what, realm_str who) {
    int64_t n = 0;
    realm_state_get_int(realm_str_concat(realm_z(what), who), &n);
    return n;
}

static void count_up(const char *what, realm_str who) {
    realm_state_set_int(realm_str_concat(realm_z(what), who), count_of(what, who) + 1);
}

/* Hand `actor` a fresh clone of `blueprint` (a drink). False if it failed. */
static bool serve(realm_str actor, const char *blueprint) {
    realm_result drink = realm_clone(realm_z(blueprint));
    if (drink.ok) drink = realm_move(drink.value, actor);
    if (!drink.ok) {
        realm_log(REALM_WARN, realm_str_concat(RS("cannot serve: "), drink.error));
        realm_say(RS("Oh, bother. We're clean out, love. Try again in a moment."));
    }
    return drink.ok;
}

static void on_the_house(realm_str actor) {
    if (count_of("served:", actor) == 0)
        realm_say(RS("First one's on the house, for newcomers. Don't tell the regulars."));
    else
        realm_say(cat3(RS("On the slate, "), realm_name_of(actor), RS(", as ever.")));
    count_up("served:", actor);
}

static void order(realm_str actor, realm_str what) {
    realm_str name = realm_name_of(actor);
    if (mentions(what, "stew|food|rabbit|bowl|supper|dinner|meal")) {
        realm_emote(cat3(RS("ladles a steaming bowl of rabbit stew and sets it down in front of "), name,
                         RS(". It smells of thyme and is gone in no time.")));
        thornwick_vitals(actor, "stew");
    } else if (mentions(what, "cider")) {
        if (!serve(actor, "/obj/cider")) return;
        realm_emote(cat3(RS("pours a cup of cloudy cider and hands it to "), name, RS(". It is sharp enough to make your eyes water.")));
        on_the_house(actor);
    } else if (what.len == 0 || mentions(what, "ale|beer|drink|pint|mug|tankard|something")) {
        if (!serve(actor, "/obj/ale")) return;
        realm_emote(cat3(RS("draws a foaming mug of brown ale and slides it along the bar to "), name, RS(".")));
        on_the_house(actor);
    } else {
        realm_say(RS("We've ale, cider and rabbit stew, love. Nothing fancier."));
    }
}

/* What `look at apron` and the like show. */
static const char *const DETAILS[] = {
    "apron|flour",
    "A once-white apron, floured to the elbows and patched at the pocket. Something in the pocket clinks.",
    "laugh",
    "You cannot look at a laugh, but Marta's you could hear from the square.",
    "cheeks|face",
    "Red cheeks, from the fire or the ale or simply from Marta.",
};

void realm_on_load(realm_str self) {
    const realm_str ids[] = {RS("marta"), RS("innkeeper"), RS("woman"), RS("barkeep")};
    const realm_str verbs[] = {RS("ask"), RS("talk"), RS("greet"), RS("order"), RS("buy")};
    (void)self;
    realm_state_set_text(RS("name"), RS("Marta"));
    realm_state_set_text(RS("short"), RS("Marta the innkeeper"));
    realm_state_set_text(RS("long"),
        RS("A broad, red-cheeked woman with flour on her apron and a laugh you can hear from the "
           "square. She keeps the Crooked Lantern the way a hen keeps chicks: fiercely, and with a "
           "great deal of clucking. Try {bold}ask marta about <something>{/}, {bold}talk to marta{/} "
           "or {bold}order ale{/}."));
    realm_state_set_strs(RS("ids"), ids, REALM_LEN(ids));
    realm_state_set_strs(RS("verbs"), verbs, REALM_LEN(verbs));
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_bool(RS("gettable"), false);
    realm_state_set_bool(RS("hears"), true);
    realm_set_heartbeat(CHAT_MS);
}

void realm_on_reload(realm_str self, realm_str old_version) {
    (void)self;
    (void)old_version;
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_log(REALM_INFO, RS("Marta reloaded"));
}

void realm_heartbeat(realm_str self) {
    if (!players_here(self)) return; /* nobody to chat to */
    int64_t line = 0;
    realm_state_get_int(RS("line"), &line);
    if (line < 0 || line >= (int64_t)REALM_LEN(LINES)) line = 0;
    realm_str text = realm_z(LINES[line]);
    if (text.ptr[0] == '>')
        realm_say((realm_str){text.ptr + 1, text.len - 1});
    else
        realm_emote(text);
    realm_state_set_int(RS("line"), (line + 1) % (int64_t)REALM_LEN(LINES));
}

void realm_on_message(realm_str self, realm_str sender, realm_str kind, realm_bytes payload) {
    (void)self;
    if (realm_str_eqz(kind, "arrive")) {
        if (realm_is_player(sender)) {
            if (count_of("visits:", sender) == 0)
                realm_tell(sender, cat3(RS("Marta looks up from the bar and beams. {yellow}\"Welcome to the "
                                           "Crooked Lantern, "),
                                        realm_name_of(sender),
                                        RS("! Sit yourself by the fire. Ask me about anything you like.\"{/}")));
            else
                realm_tell(sender, cat3(RS("Marta waves a cloth at you. {yellow}\"Back again, "),
                                        realm_name_of(sender),
                                        RS("! Your stool's where you left it. The usual?\"{/}")));
            count_up("visits:", sender);
        } else if (realm_str_starts_with(sender, RS("/npc/cat#")))
            realm_emote(RS("sneaks Tansy a scrap of bacon from under the bar."));
        return;
    }
    if (!realm_str_eqz(kind, "say") || !realm_is_player(sender)) return;
    realm_cbor_reader r;
    realm_str said;
    realm_cbor_reader_init(&r, payload.ptr, payload.len);
    if (!realm_cbor_get_text(&r, &said)) return;
    said = realm_str_lower(said);
    if (mentions(said, "hello|hi|hiya|hey|greetings|morning|evening|afternoon|hail|howdy"))
        realm_say(cat3(RS("And hello to you, "), realm_name_of(sender), RS("! What'll it be?")));
    else if (mentions(said, "thanks|thank|cheers"))
        realm_say(RS("Bless you, it's nothing."));
    else if (mentions(said, "bye|goodbye|farewell"))
        realm_say(RS("Mind how you go!"));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    realm_str rest = realm_noun_of(args);
    realm_str who = realm_str_word(&rest);
    bool named = realm_one_of(IDS, who);

    if (realm_str_eqz(verb, "ask")) {
        /* ask marta about X | ask about X */
        if (!named && !realm_str_eqz(who, "about")) return false;
        if (named && realm_str_starts_with(rest, RS("about"))) realm_str_word(&rest);
        if (rest.len == 0) {
            realm_tell(actor, RS("Ask Marta about what? (ask marta about <topic>)"));
            return true;
        }
        answer(rest);
        return true;
    }
    if (realm_str_eqz(verb, "talk") || realm_str_eqz(verb, "greet")) {
        if (who.len && !named) return false;
        if (count_of("visits:", actor) > 1)
            realm_say(cat3(RS("Hello again, "), realm_name_of(actor),
                           RS("! Good to see a regular. What'll it be, the usual ale? Or has the Whisperwood "
                              "been talking to you again?")));
        else
            realm_say(cat3(RS("Hello, "), realm_name_of(actor),
                           RS("! New in Thornwick? Have a look about: the market's out front, the well and the mill "
                              "up north, the woods to the west. Ask me about any of it.")));
        return true;
    }
    if (realm_str_eqz(verb, "order") || realm_str_eqz(verb, "buy")) {
        /* order ale | order ale from marta | buy a drink */
        order(actor, realm_noun_of(args));
        return true;
    }
    return false;
}

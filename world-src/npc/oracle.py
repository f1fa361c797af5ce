"""/npc/oracle - the standing stone in the moonflower glade, which answers
questions.

`ask stone <question>` (or just saying a question aloud in the glade: the
stone `hears`) gets a prophecy, chosen from the question, how many questions
the stone has answered so far and the world clock. `touch stone` for a
shiver. The stone remembers everyone who has visited the glade (the
`visitors` state key, a list of names) and greets newcomers and old friends
differently.
"""

import realm

IDS = ["stone", "standing stone", "grey stone", "oracle", "menhir", "face"]

PROPHECIES = [
    "What you seek is closer than the forest's edge, and further than you would like.",
    "Three geese will know before you do.",
    "The river keeps what it is given. Give it nothing you want back.",
    "A light carried into darkness finds more than darkness.",
    "Yes. But not in the way you mean.",
    "The tower fell once. It remembers how to stand.",
    "Ask the cat. She will not answer, but she knows.",
    "Coins in the well are wishes; wishes in the well are coins.",
    "Before the moon is old, you will walk a path you have not walked.",
    "No.",
    "The sun-folk carved their faces on me. I have kept them longer than they kept theirs.",
    "Sit. Stay. The answer is in no hurry, and neither am I.",
]

MAX_VISITORS = 200

# What `look at brow` and the like show: the face the weather made.
DETAILS = {
    "brow": "A heavy ridge of stone, furrowed as if the stone were thinking hard.",
    "eye": "A hollow where an eye would be. Rainwater collects in it, and looks back at you.",
    "hollow": "A hollow where an eye would be. Rainwater collects in it, and looks back at you.",
    "mouth": "A crack that might be a mouth, and might be smiling. It is hard to be sure.",
    "carvings": "A ring of carved suns around the base, each with a face, worn almost smooth.",
    "carving": "A ring of carved suns around the base, each with a face, worn almost smooth.",
    "sun": "A ring of carved suns around the base, each with a face, worn almost smooth.",
    "base": "The stone's base is sunk deep in the grass, ringed with worn carvings of a sun.",
}


def escape(text):
    """Player text shown as written, not as colour markup."""
    return text.replace("{", "{{")


def noun_of(args):
    """Lower case, without a leading article."""
    words = args.lower().split()
    while words and words[0] in ("at", "to", "the", "a", "an"):
        words.pop(0)
    return " ".join(words)


class Oracle(realm.Blueprint):
    def describe(self):
        answered = self.state.get("answered", 0)
        self.state["name"] = "stone"
        self.state["short"] = "a tall grey standing stone"
        self.state["long"] = (
            "A tall grey stone, twice the height of a man, leaning very slightly as if listening. "
            "Wind and rain have worn its face into something that is almost a face: a brow, the "
            "hollow of an eye, a mouth that might be smiling. Worn carvings of a sun circle its base. "
            + (f"It has answered {answered} question{'s' if answered != 1 else ''}. " if answered else "")
            + "Try {bold}ask stone <your question>{/}."
        )
        self.state["ids"] = IDS
        self.state["details"] = DETAILS
        self.state["verbs"] = ["ask", "consult", "touch"]
        self.state["gettable"] = False
        self.state["hears"] = True

    # -- hooks ---------------------------------------------------------------

    def on_load(self):
        self.describe()

    def on_reload(self, old_version):
        realm.log(f"the stone reloaded (was {old_version[:12]}); it remembers "
                  f"{len(self.state.get('visitors', []))} visitors")
        self.describe()

    def on_command(self, actor, verb, args):
        noun = noun_of(args)
        if verb == "touch":
            if noun not in IDS:
                return False
            realm.tell(actor, "You lay your palm on the stone. It is warm, as if it had been lying "
                              "in the sun all day, though the glade is in shade. Something very slow "
                              "and very old notices you.")
            self.others(actor, f"{self.name_of(actor)} lays a hand on the standing stone.")
            return True
        if verb == "consult":
            if noun and noun not in IDS:
                return False
            realm.tell(actor, "The stone waits. Ask it something: {bold}ask stone <your question>{/}.")
            return True
        # ask stone <question> / ask stone about <thing>
        words = args.split(None, 1)
        if not words or words[0].lower() not in ("stone", "oracle", "menhir"):
            return False
        question = words[1].strip() if len(words) > 1 else ""
        if not question:
            realm.tell(actor, "Ask it what? ({bold}ask stone <your question>{/})")
            return True
        self.others(actor, f"{self.name_of(actor)} asks the standing stone: {escape(question)}")
        self.prophesy(question)
        return True

    def on_message(self, sender, kind, payload):
        if not sender.startswith("/player/"):
            return
        if kind == "arrive":
            self.welcome(sender)
        elif kind == "say" and isinstance(payload, str) and payload.rstrip().endswith("?"):
            self.prophesy(payload)

    # -- behaviour ------------------------------------------------------------

    def welcome(self, player):
        name = self.name_of(player)
        visitors = self.state.setdefault("visitors", [])
        if name in visitors:
            realm.tell(player, "The moonflowers turn toward you. The grey stone seems to remember you.")
            return
        visitors.append(name)  # written back to state when the hook returns
        del visitors[:-MAX_VISITORS]
        realm.tell(player, "The moonflowers turn their pale faces toward you, one by one. In the "
                           "middle of the glade the grey stone seems to be... waiting. "
                           "(Perhaps you could {bold}ask stone{/} something.)")

    def prophesy(self, question):
        answered = self.state.get("answered", 0)
        seed = answered * 7919 + realm.now_ms() // 1000
        for ch in question.lower():
            seed = (seed * 31 + ord(ch)) % 1_000_003
        answer = PROPHECIES[seed % len(PROPHECIES)]
        self.state["answered"] = answered + 1
        self.describe()
        self.room(
            "A deep hum rises from the standing stone, and the moonflowers shiver. A voice like "
            f"grinding millstones speaks from everywhere at once: {{cyan}}\"{answer}\"{{/}}"
        )

    # -- helpers --------------------------------------------------------------

    def name_of(self, who):
        return realm.query(who, "name") or "Someone"

    def players_here(self):
        room = realm.environment(self.id)
        return [o for o in realm.contents(room) if o.startswith("/player/")] if room else []

    def room(self, text):
        """Show `text` to every player in the glade (a stone has no voice of
        its own to `say` with: say would print "stone says: ...")."""
        for player in self.players_here():
            realm.tell(player, text)

    def others(self, actor, text):
        for player in self.players_here():
            if player != actor:
                realm.tell(player, text)

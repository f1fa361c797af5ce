"""/obj/greeter - the Python blueprint bench/workers.py's wizard reloads:
"greet" says "Hello <version>", and the benchmark writes a new version into
the line below (a real change, so the reload really recompiles)."""

import realm

VERSION = "v0"


class Greeter(realm.Blueprint):
    def on_load(self):
        self.state["name"] = "greeter"
        self.state["short"] = "a cheerful greeter"
        self.state["ids"] = ["greeter"]
        self.state["verbs"] = ["greet"]
        self.state["gettable"] = False

    def on_command(self, actor, verb, args):
        if verb != "greet":
            return False
        self.state["greetings"] = self.state.get("greetings", 0) + 1
        realm.say(f"Hello {VERSION}")
        return True

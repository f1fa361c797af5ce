"""A greeter: the smallest Python blueprint that uses state, commands and
messages. Try `greet` in its room, or `tell greeter hi`."""

import realm


class Greeter(realm.Blueprint):
    def on_load(self):
        self.state["name"] = "greeter"
        self.state["short"] = "a cheerful greeter"
        self.state["long"] = "A cheerful greeter beams at everyone. Try 'greet'."
        self.state["ids"] = ["greeter", "man"]
        self.state["gettable"] = False

    def on_command(self, actor, verb, args):
        if verb != "greet":
            return False
        count = self.state.get("greetings", 0) + 1
        self.state["greetings"] = count
        times = "once" if count == 1 else f"{count} times"
        realm.say(f"Hello, {args or 'everyone'}! I have greeted {times}.")
        return True

    def on_message(self, sender, kind, payload):
        self.state["last_sender"] = sender

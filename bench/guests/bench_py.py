"""/bench_py - the sandbox benchmark's Python guest (same hooks as bench_c)."""

import realm


class Bench(realm.Blueprint):
    def reset(self):
        pass

    def heartbeat(self):
        for _ in range(10):
            realm.now_ms()

    def on_command(self, actor, verb, args):
        self.state["count"] = self.state.get("count", 0) + 1
        realm.say(verb)
        return True

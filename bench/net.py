"""Network benchmark: 2,000 players over telnet and WebSocket, the server on one core.

Prints one JSON document: sessions held, commands per second, round-trip
latency (p50/p90/p99/max), login time, errors, and whether the goals of the
Players issue were met (2,000 sessions, p99 <= 50 ms at 2,000 commands/s,
the server verifiably on one core). The commands are the driver's built-ins
(``say``, or ``look``): no guest code runs for them; bench/e2e.py is the
benchmark whose commands are handled by a guest's ``on-command``.

How it runs is :mod:`loadgen` (the server pinned to one CPU, open-loop
generators on the other(s), a warm-up before the measured window); what
this benchmark adds:

* **The world** is ``world-src`` unless ``--world`` says otherwise.
* **Where the players are.** A MUD's players are spread over its rooms, and
  that matters: ``say`` reaches everyone in the room and ``look`` lists
  them, so 2,000 players in one room make every command cost 2,000 writes.
  ``--per-room`` (default 5) places each character in a room with a few
  others; the demo world's ten rooms are cloned to make enough rooms, each
  clone with its own on-load contents (the notice board, Marta, the cat...).
* **The command.** Each session sends ``say <token>`` (``--command look``:
  ``look``), by default 1 a second per session (well under the 10 lines a
  second a telnet player may type); the reply is ``You say: <token>`` (for
  ``look`` the room's ``Obvious exits``).

Keys (the rest is explained in :mod:`loadgen`):

* ``commands_per_second``: replies that arrived inside the measured window,
  divided by its length (replies during the drain after it do not count).
  At a steady offered rate this is the offered rate give or take the few
  replies the window's edges cut, which is why its goal is met within 1%
  (a server that cannot keep up shows it in ``latency_ms`` long before).
* ``latency_ms``: round trips of the commands sent inside the window,
  however late the reply.
* ``server_pin``: the verified pin (every server thread's affinity read back
  before and after the window; its CPU time within one core's wall time).
  If the pin did not take effect the run fails: ``failed`` says why and the
  exit status is 1.

Guest code (the world's rooms and NPCs: on-load, on-message for those
that hear a say...) runs in one sandbox worker process under the server, on
its core, as `jitrealm run` runs guests by default (``--sandbox inproc``:
in the server process). ``--persist`` runs the server with its SQLite
store in a scratch data directory, as `jitrealm run` does: every answer then waits for its group
commit. (The server tunes its garbage collector in ``serve()``; this
benchmark is how that setting was found: with Python's default thresholds,
full collections of every session's in-flight objects every couple of
seconds put p99 at ~500 ms.)
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import loadgen
from common import ROOT

COMMANDS = {
    "say": ("say {token}", "You say: {token}\r\n"),
    "look": ("look", loadgen.ROOM_MARK.decode()),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Network benchmark: N sessions over telnet + WebSocket; prints JSON.")
    loadgen.add_arguments(p, sessions=2000, rate=2000.0, seconds=20.0, world=ROOT / "world-src", per_room=5)
    p.add_argument("--command", choices=sorted(COMMANDS), default="say", help="what each session types (default say)")
    p.add_argument("--persist", action="store_true",
                   help="run the server with its SQLite store (answers wait for their commit)")
    ns = p.parse_args(argv)
    loadgen.check_arguments(p, ns)
    return ns


def main() -> None:
    # A polite kill of the benchmark still stops its children (run's finally).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = parse_args()
    line, marker = COMMANDS[ns.command]
    result: dict[str, Any] = {"benchmark": "net"}
    result.update(loadgen.run(ns, line=line, marker=marker, persist=ns.persist))
    p99 = result["latency_ms"]["p99"]
    result["goals"] = {
        "sessions_ge_2000": result["sessions_held"] >= 2000,
        "p99_le_50ms": p99 is not None and p99 <= 50,
        "rate_ge_2000_per_s_within_1pct": result["commands_per_second"] >= 2000 * 0.99,
        "server_on_one_core": result["server_pin"]["ok"],
    }
    loadgen.finish(result)


if __name__ == "__main__":
    main()

"""Crowded rooms: what the output path costs when many players share a room.

Prints one JSON document from one run. A native MUD driver answers a crowded
room's ``look`` and ``say`` with little CPU; this benchmark measures how close
JitRealm's output path (render the markup, wrap it, encode it, compress it,
write it) comes, with the clients a MUD really has: half of them negotiate
everything (NAWS 60 columns, TTYPE answered up to ``MTTS 15``, so 256 colours
and UTF-8, CHARSET, EOR, and MCCP2, whose stream they inflate), half refuse
every option the server offers (80 columns, 16 colours, no compression,
prompts marked with GA). Client ``i`` negotiates when ``i`` is even.

The processes (the machinery is :mod:`loadgen`'s, reused, not copied):

* **the server** (``--serve``), started pinned to one CPU (set between fork and
  exec, so every thread it makes inherits it) and the pin verified for every
  phase (every thread's affinity read back before and after the window, its
  CPU time within one core's wall time; a broken pin fails the run). It is
  the real server (:func:`driver.server.serve`: the loop, the telnet and HTTP
  listeners) with the WebAssembly runtime in process (``--sandbox inproc``),
  over ``bench/worlds/crowd``: one room blueprint, a paragraph of description
  that a 60-column client needs wrapped, four exits, no commands of its own
  (so ``look`` and ``say`` are the driver's built-ins), and clones of it for
  more rooms. Each player's body exists before the server listens, out of the
  world and remembering its room, as in a persistent world; logging in puts it
  there. Accounts are in memory with cheap scrypt parameters, so logins do not
  measure the KDF. No persistence: the SQLite store is not what is measured.
  What a public server limits per player and per tenant is raised out of
  reach, as the admin of a world this busy would: the input rate (10 lines
  a second by default; a closed-loop player types much faster) and the
  tenant's rate budgets.
* **one generator** (``--generate``) on the other CPU(s), with every client:
  raw trio telnet streams from their own loopback addresses, logging in with
  ``connect <name> <password>`` and reading everything the server sends for
  the whole run (so no output ever backs up).
* **the orchestrator** (this process), which starts them, times the phases
  and reads the server's CPU time and RSS from ``/proc``.

Phases and keys:

* ``look_room_of_50``: 50 players in one room, each sending ``look`` again as
  soon as the previous one is answered (closed loop; answered = the prompt
  after the room's description arrived). ``server_cpu_us_per_look`` is the
  server's CPU time over the window divided by the looks answered inside it.
* ``say_room_of_50``: the same 50 players, each sending ``say <token>`` again
  as soon as its own ``You say: <token>`` arrives (closed loop).
  ``lines_delivered`` counts the lines the clients *received* inside the
  window: every ``<name> says: ...`` line (one per other player in the room)
  and every ``You say: ...`` line; ``server_cpu_us_per_delivered_line`` is
  the server's CPU time over the window divided by it.
* ``say_room_of_200_at_200_per_s``: 200 players in another room, each saying
  something once a second on an open-loop schedule (phases spread evenly, 200
  says a second in all; a slow answer never delays the next say). Latency
  runs from writing ``say <token>`` to reading ``You say: <token>``, for every
  say sent inside the window however late its answer; ``server_cpu_percent``
  is the server's CPU time over the window / its length.
* ``memory``: a fresh server with 1,000 players' bodies in rooms of 10.
  ``idle_rss_mb`` is its resident set once it listens, before any
  connection; then 500 refusing clients log in and stay idle, then 500
  negotiating ones. ``rss_kb_per_session_just_logged_in`` is the growth read
  right after the logins; the sessions then stay idle for
  ``idle_for_seconds`` (longer than the server's MCCP2 rest period, after
  which an idle stream is ended and its zlib state freed) and
  ``rss_mb_per_1000_sessions_after_idling`` is the growth for all 1,000 (half of each
  kind) as they stay idle; ``rss_kb_per_session_after_idling`` gives it per session,
  by kind.

Each timed phase has a warm-up at the same load before its window; only
answers that arrive inside the window count. ``cpu_wait_percent`` says how
long the server was runnable but had no CPU because something else on the
machine had it (near 0 in a clean run); the machine this runs on is shared,
so compare runs with that in mind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import loadgen
from common import ROOT

try:
    from common import unthrottled_quotas
except ImportError:  # an older tree (the "before" figures): the same, here

    def unthrottled_quotas() -> tuple[Any, list[str]]:
        import dataclasses

        from driver.tenancy.quotas import Quotas

        quotas = Quotas()
        raised = {f.name: 1e12 for f in dataclasses.fields(quotas) if f.name.endswith("_per_second")}
        return dataclasses.replace(quotas, **raised), sorted(raised)

WORLD = ROOT / "bench" / "worlds" / "crowd"
NAWS_WIDTH = 60
MTTS_ANSWERS = (b"CROWDBENCH", b"XTERM-256COLOR", b"MTTS 15")  # ANSI, VT100, UTF-8, 256 colours
LOOK_DONE = b"\r\n> "  # the prompt that follows the room's last line
SAY_LINE = b" says: "
ECHO_LINE = b"You say: "
ROOM_LINE = b"Obvious exits"

# Telnet bytes the clients need.
IAC, DONT, DO, WONT, WILL, SB, GA, SE, EOR = 255, 254, 253, 252, 251, 250, 249, 240, 239
OPT_TTYPE, OPT_NAWS, OPT_CHARSET, OPT_MCCP2 = 24, 31, 42, 86
RICH_ACCEPTS = {1, 3, 25, 42, 86}  # ECHO, SGA, EOR, CHARSET, MCCP2 (server WILLs we DO)
RICH_OFFERS = {24, 31, 42}  # TTYPE, NAWS, CHARSET (server DOs we WILL)


def rooms_spec(text: str) -> list[int]:
    """``"50,200"`` -> [50, 200]; ``"10*100"`` -> a hundred rooms of 10."""
    sizes: list[int] = []
    for item in text.split(","):
        size, _, times = item.partition("*")
        sizes += [int(size)] * int(times or 1)
    return sizes


def rss_kb(pid: int) -> int:
    """Resident set of a process now (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- the server process -------------------------------------------------------------------------


async def place_players(realm: Any, sizes: list[int]) -> list[str]:
    """One room per size (the start room, then clones of it), and that many
    players' bodies remembering it, in player-index order."""
    from driver.world import ids

    tenant = realm.tenant
    start = realm.start_room
    rooms = []
    for n in range(len(sizes)):
        room = await tenant.find(start) if n == 0 else await tenant.clone(start)
        while await realm.loop.step():  # the room's on-load follow-ups
            pass
        rooms.append(room)
    index = 0
    for room, size in zip(rooms, sizes, strict=True):
        for _ in range(size):
            body = tenant.add_player(ids.player_id(loadgen.player_name(index)), {})
            body.set("last_room", room.id)
            index += 1
    return [room.id for room in rooms]


def serve_main(ns: argparse.Namespace) -> None:
    """Child process: the real server, runtime in process, on free ports,
    until its stdin closes."""
    import functools
    import logging

    import trio

    from driver.app import Realm, RealmConfig
    from driver.auth.accounts import ScryptParams, hash_password, new_account
    from driver.net.telnet_server import TelnetConfig
    from driver.runtimes.wasm import start_wasm_runtime
    from driver.server import serve
    from driver.store.accounts import MemoryAccountStore

    sizes = rooms_spec(ns.rooms)
    loadgen.raise_fd_limit(sum(sizes) * 2 + 256)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    cheap = ScryptParams(n=16, r=1, p=1)
    accounts = MemoryAccountStore()
    encoded = hash_password(loadgen.PASSWORD, cheap)
    for index in range(sum(sizes)):
        accounts.create(new_account(loadgen.player_name(index), encoded))
    scratch = tempfile.TemporaryDirectory(prefix="jitrealm-crowd-")
    # The tenant's rate budgets are raised out of reach, as an admin would
    # for a world this busy: the load is what is measured, not a budget.
    quotas, _ = unthrottled_quotas()
    config = RealmConfig(world_dir=ns.world, build_dir=loadgen.build_dir_for(ns.world),
                         data_dir=Path(scratch.name), kdf_params=cheap, quotas=quotas)
    profiler: Any = None

    async def main() -> None:
        nonlocal profiler
        async with trio.open_nursery() as nursery:
            runtime = await start_wasm_runtime(nursery, "inproc", cache_dir=config.build_dir / "cache")
            realm = Realm(config, runtime=runtime, accounts=accounts)
            for problem in await realm.publish_all():
                print(f"refused: {problem}", file=sys.stderr)
            rooms = await place_players(realm, sizes)
            # Closed-loop players type far faster than the 10 lines a second
            # a public server allows each: the benchmark's admin lets them.
            telnet = TelnetConfig(lines_per_second=1e9, line_burst=1 << 30)
            telnet_port, http_port = await nursery.start(
                functools.partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0), telnet_config=telnet)
            )
            import driver

            print(json.dumps({"telnet": telnet_port, "http": http_port, "rooms": rooms,
                              "driver": str(Path(driver.__file__).parent)}), flush=True)
            # Orders from the parent, one a line; end of input: stop.
            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            pending = b""
            while chunk := await stdin.receive_some(4096):
                pending += chunk
                while b"\n" in pending:
                    order, _, pending = pending.partition(b"\n")
                    words = order.decode().split()
                    if words[:1] == ["profile-start"]:
                        import cProfile

                        profiler = cProfile.Profile()
                        profiler.enable()
                    elif words[:1] == ["profile-stop"] and profiler is not None:
                        profiler.disable()
                        profiler.dump_stats(words[1])
                        profiler = None
                    print(json.dumps({"done": words[:1], "sessions": len(realm.presence.links)}), flush=True)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        scratch.cleanup()


# -- the generator process ----------------------------------------------------------------------


class CrowdClient(loadgen.Client):
    """A telnet client that either negotiates what a modern MUD client does
    (``rich``) or refuses every option; it inflates MCCP2, strips telnet
    commands, counts the lines that matter and matches replies in order."""

    kind = "telnet"

    def __init__(self, index: int, stats: loadgen.Stats, rich: bool) -> None:
        super().__init__(index, stats)
        self.rich = rich
        self.raw = bytearray()  # a telnet command split across reads
        self.inflate: Any = None  # zlib stream once MCCP2 has started
        self.ttype_round = 0
        self.counts = {SAY_LINE: 0, ECHO_LINE: 0, ROOM_LINE: 0}
        self.tails = {marker: b"" for marker in self.counts}
        self.answered: Any = None  # a trio.Event while a closed-loop command waits

    async def open(self, nursery: Any, port: int) -> None:
        import trio

        self.stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=loadgen.source_address(self.index))
        self.send_lock = trio.Lock()

    async def send_line(self, line: str) -> None:
        async with self.send_lock:
            await self.stream.send_all(line.encode() + b"\r\n")

    async def receive(self) -> bytes:
        """The next text from the server (telnet commands answered and
        removed, MCCP2 inflated); b"" once the connection is gone."""
        import trio

        while True:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                return b""
            if not data:
                return b""
            replies: list[bytes] = []
            text = self.feed(data, replies)
            if replies:
                async with self.send_lock:
                    await self.stream.send_all(b"".join(replies))
            if text:
                self.count(text)
                return text

    def feed(self, data: bytes, replies: list[bytes]) -> bytes:
        if self.inflate is not None:
            data = self.inflate.decompress(data)
            if self.inflate.eof:  # the server ended the stream: plain from here
                rest = self.inflate.unused_data
                self.inflate = None
                return self.parse(data, replies) + self.feed(rest, replies)
        return self.parse(data, replies)

    def parse(self, data: bytes, replies: list[bytes]) -> bytes:
        if not self.raw and IAC not in data:
            return data
        buf = self.raw + data
        self.raw = bytearray()
        out = bytearray()
        i = 0
        while i < len(buf):
            j = buf.find(IAC, i)
            if j < 0:
                out += buf[i:]
                break
            out += buf[i:j]
            if j + 1 >= len(buf):
                self.raw = buf[j:]
                break
            cmd = buf[j + 1]
            if cmd == IAC:
                out.append(IAC)
                i = j + 2
            elif cmd in (WILL, WONT, DO, DONT):
                if j + 2 >= len(buf):
                    self.raw = buf[j:]
                    break
                self.negotiate(cmd, buf[j + 2], replies)
                i = j + 3
            elif cmd == SB:
                end = buf.find(bytes((IAC, SE)), j)
                if end < 0:
                    self.raw = buf[j:]
                    break
                option, payload = buf[j + 2], bytes(buf[j + 3 : end])
                i = end + 2
                if option == OPT_MCCP2:
                    self.inflate = zlib.decompressobj()
                    return bytes(out) + self.feed(bytes(buf[i:]), replies)
                self.subnegotiation(option, payload, replies)
            else:
                i = j + 2  # GA, EOR, NOP...
        return bytes(out)

    def negotiate(self, verb: int, option: int, replies: list[bytes]) -> None:
        if verb == WILL:
            yes = self.rich and option in RICH_ACCEPTS
            replies.append(bytes((IAC, DO if yes else DONT, option)))
        elif verb == DO:
            yes = self.rich and option in RICH_OFFERS
            replies.append(bytes((IAC, WILL if yes else WONT, option)))
            if yes and option == OPT_NAWS:
                replies.append(bytes((IAC, SB, OPT_NAWS, 0, NAWS_WIDTH, 0, 24, IAC, SE)))

    def subnegotiation(self, option: int, payload: bytes, replies: list[bytes]) -> None:
        if not self.rich:
            return
        if option == OPT_TTYPE and payload[:1] == b"\x01":
            answer = MTTS_ANSWERS[min(self.ttype_round, len(MTTS_ANSWERS) - 1)]
            self.ttype_round += 1
            replies.append(bytes((IAC, SB, OPT_TTYPE, 0)) + answer + bytes((IAC, SE)))
        elif option == OPT_CHARSET and payload[:1] == b"\x01":
            replies.append(bytes((IAC, SB, OPT_CHARSET, 2)) + b"UTF-8" + bytes((IAC, SE)))

    def count(self, text: bytes) -> None:
        for marker in self.counts:
            joined = self.tails[marker] + text
            self.counts[marker] += joined.count(marker)
            self.tails[marker] = joined[-(len(marker) - 1) :]

    async def reader(self) -> None:
        """Match replies (in order) as they arrive; wake a closed loop."""
        import trio

        while self.alive:
            data = await self.receive()
            if not data:
                self.alive = False
                if self.answered is not None:
                    self.answered.set()
                return
            if not self.expected:
                continue
            self.buf += data
            loadgen.match_replies(self.buf, self.expected, self.stats, trio.current_time())
            if not self.expected:
                if self.answered is not None:
                    self.answered.set()


async def closed_loop(client: CrowdClient, line: str, marker: str, end: float, done: list[float]) -> None:
    """Send ``line`` again as soon as its ``marker`` arrives, until ``end``."""
    import trio

    seq = 0
    while client.alive and trio.current_time() < end:
        client.answered = trio.Event()
        await client.send_command(seq, trio.current_time(), line, marker)
        with trio.move_on_at(end + 10):
            await client.answered.wait()
        if client.expected:
            return  # no answer within 10 s of the end: the run says so (unanswered)
        done.append(trio.current_time())
        seq += 1


def generate_main(ns: argparse.Namespace) -> None:
    """Child process: log in the clients it is told to, then run phases on
    orders from the parent (one JSON object a line), answering each with one."""
    import trio

    loadgen.raise_fd_limit(ns.count * 2 + 256)
    loadgen.tune_gc()

    def say(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        clients: dict[int, CrowdClient] = {}
        stats = loadgen.Stats()
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        pending = b""
        async with trio.open_nursery() as nursery:
            while True:
                while b"\n" not in pending:
                    chunk = await stdin.receive_some(4096)
                    if not chunk:
                        nursery.cancel_scope.cancel()
                        return
                    pending += chunk
                raw, _, pending = pending.partition(b"\n")
                order = json.loads(raw)
                group = range(order.get("first", 0), order.get("first", 0) + order.get("count", 0))
                if order["phase"] == "login":
                    started = trio.current_time()
                    limiter = trio.CapacityLimiter(ns.login_concurrency)
                    kinds = order.get("kinds", "alternate")
                    fresh = [CrowdClient(i, stats, kinds == "negotiating" or (kinds == "alternate" and i % 2 == 0))
                             for i in group]

                    async def log_in(client: CrowdClient, limiter: trio.CapacityLimiter = limiter) -> None:
                        async with limiter:
                            try:
                                with trio.fail_after(ns.login_timeout):
                                    await client.login(nursery, ns.telnet)
                            except Exception as exc:
                                stats.error(f"login: {type(exc).__name__}: {exc}"[:120])
                                client.alive = False

                    async with trio.open_nursery() as logins:
                        for client in fresh:
                            logins.start_soon(log_in, client)
                    for client in fresh:
                        clients[client.index] = client
                        if client.alive:
                            nursery.start_soon(client.reader)
                    say({"logged_in": sum(c.logged_in for c in fresh),
                         "seconds": trio.current_time() - started, "errors": dict(stats.errors)})
                    continue
                members = [clients[i] for i in group]
                start = trio.current_time() + (order["start"] - time.time())
                window = start + order["warmup"]
                end = window + order["seconds"]
                phase_stats = loadgen.Stats()
                for client in members:
                    client.stats = phase_stats
                counts: dict[str, dict[bytes, int]] = {}

                async def snapshot(at: float, name: str, members: list[CrowdClient] = members,
                                   counts: dict[str, dict[bytes, int]] = counts) -> None:
                    await trio.sleep_until(at)
                    counts[name] = {m: sum(c.counts[m] for c in members) for m in (SAY_LINE, ECHO_LINE, ROOM_LINE)}

                done: list[float] = []
                async with trio.open_nursery() as phase:
                    phase.start_soon(snapshot, window, "start")
                    phase.start_soon(snapshot, end, "end")
                    await trio.sleep_until(start)
                    if order["phase"] == "closed":
                        for client in members:
                            phase.start_soon(closed_loop, client, order["line"], order["marker"], end, done)
                    else:
                        period = len(members) / order["rate"]
                        phase.start_soon(loadgen.pace, members, start, end, period, len(members),
                                         order["line"], order["marker"])
                        await trio.sleep_until(end)
                        with trio.move_on_after(order.get("drain", 5.0)):
                            while any(c.expected and c.alive for c in members):
                                await trio.sleep(0.05)
                received = {m.decode().strip(): counts["end"][m] - counts["start"][m] for m in counts["end"]}
                say({
                    "answered_in_window": sum(1 for t in done if window <= t <= end),
                    "received_in_window": received,
                    "latencies": [round(x, 6) for x in phase_stats.latencies],
                    "offsets": [round(x - window, 4) for x in phase_stats.sent_at],
                    "sent_offsets": [round(x - window, 4) for x in phase_stats.sent_times],
                    "unanswered_from_window": sum(1 for c in members for _, sent in c.expected if window <= sent < end),
                    "alive": sum(c.alive for c in members),
                    "errors": dict(phase_stats.errors),
                })
                for client in members:
                    client.expected.clear()
                    client.buf.clear()

    trio.run(main)


# -- the orchestrator ---------------------------------------------------------------------------


class Child:
    """A child process speaking one JSON object a line both ways."""

    def __init__(self, args: list[str], cpus: set[int], log: Any, what: str) -> None:
        here = Path(__file__).resolve()
        self.proc = subprocess.Popen([sys.executable, str(here), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
                                     preexec_fn=loadgen.pinned_to(cpus))
        self.lines = loadgen.LineReader(self.proc, what)

    def order(self, message: dict[str, Any] | str) -> None:
        assert self.proc.stdin is not None
        text = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def answer(self, timeout: float) -> dict[str, Any]:
        return self.lines.next(timeout=timeout)


class Run:
    """One server and its generator, and the phases run against them."""

    def __init__(self, ns: argparse.Namespace, rooms: str, log: Any) -> None:
        self.ns = ns
        self.server_cpu, generator_cpus, self.separate = loadgen.plan_cpus()
        self.children: list[Child] = []
        self.server = Child(["--serve", "--rooms", rooms, "--world", str(ns.world)], {self.server_cpu}, log, "the server")
        self.children.append(self.server)
        self.ports = self.server.answer(timeout=300)
        self.pin: dict[str, Any] = {"cpu": self.server_cpu, "ok": True, "why": None, "phases": {}}
        self.check_pin("start")
        self.generator = Child(["--generate", "--telnet", str(self.ports["telnet"]),
                                "--count", str(sum(rooms_spec(rooms))),
                                "--login-concurrency", str(ns.login_concurrency),
                                "--login-timeout", str(ns.login_timeout)],
                               set(generator_cpus), log, "the generator")
        self.children.append(self.generator)

    def check_pin(self, when: str) -> None:
        ok, why, *counted = loadgen.verify_pin(self.server.proc.pid, self.server_cpu)
        self.pin["threads"] = counted[-1]
        if not ok:
            self.pin["ok"] = False
            self.pin["why"] = self.pin["why"] or f"{when}: {why}"

    def login(self, first: int, count: int, kinds: str = "alternate") -> dict[str, Any]:
        self.generator.order({"phase": "login", "first": first, "count": count, "kinds": kinds})
        result = self.generator.answer(timeout=self.ns.login_timeout + 120)
        time.sleep(self.ns.settle)  # let the arrivals' chatter drain
        return result

    def phase(self, name: str, order: dict[str, Any]) -> tuple[dict[str, Any], float, float, dict[str, float]]:
        """Run one timed phase; returns (what the clients saw, server CPU
        seconds in the window, the window's wall seconds, waits)."""
        ns = self.ns
        start_wall = time.time() + 0.5
        window_wall = start_wall + ns.warmup
        order = {**order, "start": start_wall, "warmup": ns.warmup, "seconds": ns.seconds}
        self.generator.order(order)
        time.sleep(max(0.0, window_wall - time.time()))
        if ns.profile:
            self.server.order("profile-start")
        cpu_before = loadgen.cpu_seconds(self.server.proc.pid)
        wall_before = time.monotonic()
        waits_before = [loadgen.run_delay_seconds(c.proc.pid) for c in self.children]
        time.sleep(max(0.0, window_wall + ns.seconds - time.time()))
        cpu_after = loadgen.cpu_seconds(self.server.proc.pid)
        measured = time.monotonic() - wall_before
        waits_after = [loadgen.run_delay_seconds(c.proc.pid) for c in self.children]
        if ns.profile:
            self.server.order(f"profile-stop {Path(ns.profile) / (name + '.prof')}")
        self.check_pin(name)
        window_cpu = cpu_after - cpu_before
        lifetime_cpu = loadgen.cpu_seconds(self.server.proc.pid)
        lifetime_wall = loadgen.age_seconds(self.server.proc.pid)
        within = loadgen.within_one_core(window_cpu, measured) and loadgen.within_one_core(lifetime_cpu, lifetime_wall)
        self.pin["phases"][name] = {"window_cpu_seconds": round(window_cpu, 3), "window_wall_seconds": round(measured, 3),
                                    "cpu_within_one_core": within}
        if not within:
            self.pin["ok"] = False
            self.pin["why"] = self.pin["why"] or f"{name}: {window_cpu:.2f} s of CPU in {measured:.2f} s: more than one core"
        seen = self.generator.answer(timeout=ns.seconds + ns.warmup + 120)
        if ns.profile:
            self.server.answer(timeout=30)
            self.server.answer(timeout=30)
        waits = {
            "server": round(100 * (waits_after[0] - waits_before[0]) / measured, 1),
            "generator": round(100 * (waits_after[1] - waits_before[1]) / measured, 1),
        }
        return seen, window_cpu, measured, waits

    def close(self) -> None:
        for child in reversed(self.children):
            loadgen.stop(child.proc)


def latency_summary(seen: dict[str, Any], seconds: float) -> dict[str, float | None]:
    latencies = sorted(lat for off, lat in zip(seen["offsets"], seen["latencies"], strict=True) if 0 <= off < seconds)

    def ms(value: float) -> float | None:
        return round(value * 1000, 2) if latencies else None

    return {
        "p50": ms(loadgen.percentile(latencies, 50)),
        "p99": ms(loadgen.percentile(latencies, 99)),
        "max": ms(latencies[-1]) if latencies else None,
        "mean": ms(statistics.fmean(latencies)) if latencies else None,
        "count": len(latencies),
    }


def load_phases(ns: argparse.Namespace, log: Any, result: dict[str, Any]) -> None:
    run = Run(ns, "50,200", log)
    try:
        result["driver"] = run.ports["driver"]
        logins = run.login(0, 250)
        result["load_logins"] = {"logged_in": logins["logged_in"], "seconds": round(logins["seconds"], 2),
                                 "errors": logins["errors"]}
        if "look" in ns.phases:
            seen, cpu, wall, waits = run.phase("look", {"phase": "closed", "first": 0, "count": 50,
                                                        "line": "look", "marker": LOOK_DONE.decode()})
            looks = seen["answered_in_window"]
            result["look_room_of_50"] = {
                "looks_answered_in_window": looks,
                "looks_per_second": round(looks / wall, 1),
                "rooms_received_in_window": seen["received_in_window"]["Obvious exits"],
                "server_cpu_seconds": round(cpu, 3),
                "server_cpu_us_per_look": round(cpu / looks * 1e6, 1) if looks else None,
                "latency_ms": latency_summary(seen, ns.seconds),
                "clients_alive": seen["alive"],
                "cpu_wait_percent": waits,
            }
        if "say" in ns.phases:
            seen, cpu, wall, waits = run.phase("say", {"phase": "closed", "first": 0, "count": 50,
                                                       "line": "say {token}", "marker": "You say: {token}\r\n"})
            lines = seen["received_in_window"]["says:"] + seen["received_in_window"]["You say:"]
            result["say_room_of_50"] = {
                "says_answered_in_window": seen["answered_in_window"],
                "lines_delivered_in_window": lines,
                "lines_by_kind": seen["received_in_window"],
                "server_cpu_seconds": round(cpu, 3),
                "server_cpu_us_per_delivered_line": round(cpu / lines * 1e6, 2) if lines else None,
                "latency_ms": latency_summary(seen, ns.seconds),
                "clients_alive": seen["alive"],
                "cpu_wait_percent": waits,
            }
        if "open" in ns.phases:
            seen, cpu, wall, waits = run.phase("open", {"phase": "open", "first": 50, "count": 200, "rate": 200.0,
                                                        "line": "say {token}", "marker": "You say: {token}\r\n"})
            sent = sum(1 for off in seen["sent_offsets"] if 0 <= off < ns.seconds)
            result["say_room_of_200_at_200_per_s"] = {
                "says_sent_in_window": sent,
                "says_answered_in_window": sum(
                    1 for off, lat in zip(seen["offsets"], seen["latencies"], strict=True) if 0 <= off + lat <= ns.seconds
                ),
                "says_unanswered": seen["unanswered_from_window"],
                "lines_delivered_in_window": seen["received_in_window"]["says:"] + seen["received_in_window"]["You say:"],
                "latency_ms": latency_summary(seen, ns.seconds),
                "server_cpu_percent": round(100 * cpu / wall, 1),
                "clients_alive": seen["alive"],
                "cpu_wait_percent": waits,
            }
    finally:
        run.close()
    result["server_pin"]["load"] = run.pin


def memory_phase(ns: argparse.Namespace, log: Any, result: dict[str, Any]) -> None:
    half = ns.idle_sessions // 2
    run = Run(ns, f"10*{math.ceil(ns.idle_sessions / 10)}", log)
    try:
        time.sleep(ns.settle)
        idle = rss_kb(run.server.proc.pid)
        # One kind, then the other, so that each kind's cost shows.
        refusing = run.login(0, half, "refusing")
        after_first = rss_kb(run.server.proc.pid)
        negotiating = run.login(half, ns.idle_sessions - half, "negotiating")
        just_logged_in = rss_kb(run.server.proc.pid)
        # Idle sessions as they stay: an MCCP2 stream quiet for the server's
        # rest period (10 s) is ended and its zlib state freed.
        time.sleep(ns.idle_settle)
        after_all = rss_kb(run.server.proc.pid)
        run.check_pin("memory")
    finally:
        run.close()
    first_n, second_n = refusing["logged_in"], negotiating["logged_in"]
    total = first_n + second_n
    result["memory"] = {
        "idle_rss_mb": round(idle / 1024, 1),
        "idle_sessions": total,
        "rss_mb_with_idle_sessions": round(after_all / 1024, 1),
        "rss_mb_per_1000_sessions_after_idling": round((after_all - idle) / 1024 / total * 1000, 2) if total else None,
        "rss_kb_per_session_after_idling": {
            "mixed": round((after_all - idle) / total, 2) if total else None,
            "refusing": round((after_first - idle) / first_n, 2) if first_n else None,
            "negotiating": round((after_all - after_first) / second_n, 2) if second_n else None,
        },
        "idle_for_seconds": ns.idle_settle,
        "rss_kb_per_session_just_logged_in": {
            "mixed": round((just_logged_in - idle) / total, 2) if total else None,
            "negotiating": round((just_logged_in - after_first) / second_n, 2) if second_n else None,
        },
        "logins_errors": {**refusing["errors"], **negotiating["errors"]},
    }
    result["server_pin"]["memory"] = run.pin


def main_run(ns: argparse.Namespace) -> dict[str, Any]:
    loadgen.raise_fd_limit(1024)
    loadgen.build_world(ns.world)
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    server_cpu, generator_cpus, separate = loadgen.plan_cpus()
    result: dict[str, Any] = {
        "benchmark": "crowd",
        "world": str(ns.world.relative_to(ROOT)) if ns.world.is_relative_to(ROOT) else str(ns.world),
        "sandbox": "inproc",
        "clients": "telnet; even-numbered ones negotiate NAWS 60 + MTTS 15 (256 colours, UTF-8) + CHARSET + EOR + "
                   "MCCP2, odd-numbered ones refuse every option",
        "warmup_seconds": ns.warmup,
        "seconds": ns.seconds,
        "cpus": {"server": server_cpu, "generator": generator_cpus, "separate": separate},
        "loadavg_before": load_before,
        "profiled": bool(ns.profile),
        "server_pin": {},
    }
    log = tempfile.TemporaryFile()
    try:
        if {"look", "say", "open"} & set(ns.phases):
            load_phases(ns, log, result)
        if "memory" in ns.phases:
            memory_phase(ns, log, result)
    finally:
        log.seek(0)
        lines = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()]
        log.close()
        result["server_log_lines"] = len(lines)
        result["server_log_tail"] = lines[-5:]
    look = result.get("look_room_of_50", {}).get("server_cpu_us_per_look")
    line = result.get("say_room_of_50", {}).get("server_cpu_us_per_delivered_line")
    crowd = result.get("say_room_of_200_at_200_per_s", {})
    memory = result.get("memory", {}).get("rss_kb_per_session_after_idling", {}).get("mixed")
    result["goals"] = {
        "look_cpu_le_150_us": look is not None and look <= 150,
        "say_cpu_le_3_us_per_delivered_line": line is not None and line <= 3,
        "room_of_200_p99_le_20_ms": (crowd.get("latency_ms") or {}).get("p99") is not None
        and crowd["latency_ms"]["p99"] <= 20 and crowd.get("says_unanswered") == 0,
        "room_of_200_cpu_le_40_percent": crowd.get("server_cpu_percent") is not None
        and crowd["server_cpu_percent"] <= 40,
        "idle_session_le_10_kb": memory is not None and memory <= 10,
        "server_on_one_core": all(pin["ok"] for pin in result["server_pin"].values()),
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Crowded rooms: the output path's CPU and memory; prints JSON.")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--rooms", default="50,200", help=argparse.SUPPRESS)
    p.add_argument("--telnet", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--world", type=Path, default=WORLD, help="world source directory (default bench/worlds/crowd)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured window (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of the same load before each window (default 2)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds after logins before measuring (default 2)")
    p.add_argument("--idle-sessions", type=int, default=1000, help="idle sessions for the memory phase (default 1000)")
    p.add_argument("--idle-settle", type=float, default=16.0,
                   help="seconds the idle sessions stay idle before the memory is read (default 16)")
    p.add_argument("--phases", default="look,say,open,memory", type=lambda s: s.split(","),
                   help="which phases to run (default look,say,open,memory)")
    p.add_argument("--login-concurrency", type=int, default=64, help="logins in flight at once (default 64)")
    p.add_argument("--login-timeout", type=float, default=180.0, help="seconds for one group of logins' each (default 180)")
    p.add_argument("--profile", metavar="DIR", help="cProfile the server in each window, into DIR/<phase>.prof "
                   "(the figures are then not the unprofiled server's)")
    ns = p.parse_args(argv)
    ns.world = ns.world.resolve()
    return ns


def main() -> None:
    # A polite kill of the benchmark still stops its children (Run.close).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = parse_args()
    if ns.serve:
        serve_main(ns)
        return
    if ns.generate:
        generate_main(ns)
        return
    result = main_run(ns)
    broken = [f"{run}: {pin['why']}" for run, pin in result["server_pin"].items() if not pin["ok"]]
    if broken or not result["server_pin"]:
        result["failed"] = "the server was not verifiably on one core: " + ("; ".join(broken) or "no run")
    print(json.dumps(result, indent=2))
    if "failed" in result:
        sys.exit(1)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

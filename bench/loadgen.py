"""The open-loop load generator behind bench/net.py and bench/e2e.py.

Three kinds of process, all on 127.0.0.1, everything bounded in count and time:

* **The server** (``--serve``) is a child process started pinned to one CPU
  (the affinity is set between fork and exec, so every thread and process it
  ever starts, its sandbox workers and compiler children included, inherits
  it), running the real front door and loop
  (:func:`driver.server.serve`: the realm's event loop, the telnet listener with
  its default :class:`TelnetConfig`, the HTTP + WebSocket listener) over a
  real world, on free ports. Its accounts are created before it listens, in a
  :class:`MemoryAccountStore` with cheap scrypt parameters, so that the logins
  measure the front door rather than the KDF. The tenant's rate budgets
  (``rate_budgets_raised``) are raised out of reach, as an admin would for
  a world this busy: the load is what is measured, not what a budget
  allows. Guest code runs as
  ``jitrealm run --sandbox`` says (``--sandbox workers``, the default, with
  ``--workers`` processes, 1 by default; or ``inproc``). With ``persist`` the world is
  opened with :func:`driver.app.open_realm` over a scratch data directory (the
  SQLite store, as `jitrealm run` does): every answer then waits for its
  group commit.
* **The generators** (``--generate``) are child processes pinned to the other
  CPU(s). Each opens its share of the sessions, alternately telnet (a raw trio
  TCP stream that answers no negotiation, as netcat would) and WebSocket
  (trio-websocket, subprotocol ``terminal.mudstandards.org``, commands as
  BINARY frames of UTF-8), each from its own loopback address
  (``127.0.0.x``; the login throttle counts per address), logs in with the
  one-line ``connect <name> <password>`` and waits for its room.
* **The orchestrator** (:func:`run`, in the benchmark's own process) starts
  them, verifies the server's pin, starts everyone at the same moment, and
  turns what the generators saw into one JSON-able dict.

**The schedule** is open loop: each session sends one command every
``sessions / rate`` seconds, phases spread evenly, ``rate`` commands a second
in all; a slow reply never delays the next command, so a server stall shows
in the latency instead of hiding in a lower rate. Sending starts ``warmup``
seconds before the measured window and stops at its end. A command is a line
template and a reply marker template (``{token}`` is unique per command); a
round trip runs from writing the line to reading the marker (in order per
session).

**What counts.** ``commands_per_second`` is the number of replies that
*arrived inside the window* divided by its length: replies still arriving
during the drain after it do not count, and neither do replies before it.
Latency percentiles are over the commands *sent* inside the window, however
late their reply came; replies still missing ``drain`` seconds after the
window are counted unanswered.

**The pin** is verified, not assumed: the affinity of every thread of the
server and of every process under it (its sandbox workers) is read back
(``os.sched_getaffinity``) before and after the window, and the CPU time of
that process tree over the window (and the server's whole life) must not
exceed the wall time of one core by more than a small margin (clock-tick
granularity). :func:`run` reports it under ``server_pin``; a benchmark whose
pin did not take effect must fail.

``generator_kept_up`` says whether the load was offered as scheduled (at
least 99% of the window's commands sent, the p99 of their lateness within
10 ms); when it is false the run printed a ``warning``: a generator starved
of CPU by other programs measures itself as much as the server.

Besides the numbers, the dict says why a run was slow: the server's CPU use
over the window, its event loop's lateness and garbage collections
(``server_pauses``), the p99 of each second (``p99_ms_by_second``), how late
the generators sent (``generator_lag_ms``) and their own pauses, and how long
each process was runnable but had no CPU because something else on the
machine had it (``cpu_wait_percent``; near 0 in a clean run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import ROOT, unthrottled_quotas

PASSWORD = "benchmark"
NAME_PREFIX = "bench"
TERMINAL_SUBPROTOCOL = "terminal.mudstandards.org"
LOGIN_PROMPT = b"What is your name?"
ROOM_MARK = b"Obvious exits"
# Loopback source addresses: 127.0.0.2 ... 127.0.0.251.
ADDRESS_POOL = 250
# How far the server's CPU time may exceed one core's wall time before the
# pin is called broken: /proc counts CPU time in clock ticks (10 ms), and the
# window's two ends are read a moment apart.
PIN_SLACK_FRACTION = 0.03
PIN_SLACK_SECONDS = 0.05


# -- shared helpers ---------------------------------------------------------------------------


def player_name(index: int) -> str:
    """``bench`` + four letters: names are 3-16 ASCII letters, no digits."""
    letters = []
    for _ in range(4):
        index, digit = divmod(index, 26)
        letters.append(chr(ord("a") + digit))
    return NAME_PREFIX + "".join(reversed(letters))


def source_address(index: int) -> str:
    return f"127.0.0.{2 + index % ADDRESS_POOL}"


def raise_fd_limit(needed: int) -> int:
    """Raise the soft limit on open files towards ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def pinned_to(cpus: set[int]) -> Callable[[], None]:
    """A ``preexec_fn`` that pins the child to ``cpus`` before it execs, so
    every thread it ever starts inherits the pin. A failure is not raised
    here (the child would not start and there would be nothing to report):
    :func:`verify_pin` finds it."""

    def pin() -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, cpus)

    return pin


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (Linux /proc): the
    server and its sandbox workers and compiler children."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(_stat_fields(int(entry))[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        here = todo.pop()
        tree.append(here)
        todo.extend(children.get(here, ()))
    return tree


def thread_affinities(pids: list[int]) -> dict[int, list[int]]:
    """The CPU affinity of every thread of the processes ``pids`` (Linux)."""
    out: dict[int, list[int]] = {}
    for pid in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue  # gone meanwhile
        for tid in tids:
            with contextlib.suppress(OSError):
                out[tid] = sorted(os.sched_getaffinity(tid))
    return out


def verify_pin(pid: int, cpu: int) -> tuple[bool, str | None, int, int]:
    """(every thread of ``pid`` and of its descendants may run on ``cpu``
    only, why not, processes checked, threads checked)."""
    tree = process_tree(pid)
    try:
        found = thread_affinities(tree)
    except AttributeError:
        return False, "os.sched_getaffinity is not available on this platform", len(tree), 0
    if not found:
        return False, f"could not read the affinity of process {pid}", len(tree), 0
    wrong = {tid: cpus for tid, cpus in found.items() if cpus != [cpu]}
    if wrong:
        tid, cpus = next(iter(wrong.items()))
        why = (f"{len(wrong)} of the server's {len(found)} threads ({len(tree)} processes) "
               f"are not pinned to CPU {cpu} (thread {tid}: {cpus})")
        return False, why, len(tree), len(found)
    return True, None, len(tree), len(found)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_delay_seconds(pid: int) -> float:
    """Time a process's main thread spent runnable but waiting for a CPU
    (Linux /proc/PID/schedstat): how much other work on the machine got in
    its way."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far (Linux /proc)."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of ``pid`` and its live descendants."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def age_seconds(pid: int) -> float:
    """Wall time since process ``pid`` started (Linux /proc)."""
    try:
        started = int(_stat_fields(pid)[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return math.nan
    return uptime - started


def _autogroup(pid: int) -> str | None:
    """The process's scheduler autogroup and its nice (Linux), e.g.
    "/autogroup-44 nice 0": with autogroups, CPU is shared between sessions
    first, so a process's own nice only counts within its session."""
    try:
        return Path(f"/proc/{pid}/autogroup").read_text().strip()
    except OSError:
        return None


def within_one_core(cpu: float, wall: float) -> bool:
    return cpu <= wall * (1 + PIN_SLACK_FRACTION) + PIN_SLACK_SECONDS


class Pauses:
    """What stalls a process's event loop: garbage collections (timed with
    ``gc.callbacks``) and the loop's lateness, seen by a task that sleeps
    ``interval`` seconds over and over. Both processes keep one, so a slow
    round trip can be blamed on the right side."""

    def __init__(self, interval: float = 0.005) -> None:
        import gc

        self.interval = interval
        self.collections: list[tuple[int, float]] = []  # (generation, seconds)
        self.late: list[float] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.collections.append((info["generation"], time.perf_counter() - self._gc_started))

    def reset(self) -> None:
        self.collections.clear()
        self.late.clear()

    async def watch(self) -> None:
        import trio

        while True:
            before = trio.current_time()
            await trio.sleep(self.interval)
            self.late.append(trio.current_time() - before - self.interval)

    def summary(self) -> dict[str, Any]:
        late = sorted(self.late)
        return {
            "loop_late_ms": {
                "p99": round(percentile(late, 99) * 1000, 2) if late else None,
                "max": round(late[-1] * 1000, 2) if late else None,
            },
            "gc": {
                f"gen{generation}": {
                    "count": len(times),
                    "total_ms": round(sum(times) * 1000, 1),
                    "max_ms": round(max(times) * 1000, 1),
                }
                for generation in range(3)
                if (times := [t for g, t in self.collections if g == generation])
            },
        }


def tune_gc() -> None:
    """The collector setting the server makes in ``driver.server.serve`` (see
    ``_tune_gc`` there); the generators make it too, so the measuring side
    adds no pauses of its own."""
    from driver.server import _tune_gc

    _tune_gc()


# -- the server process -----------------------------------------------------------------------


def build_dir_for(world: Path) -> Path:
    if world.resolve() == (ROOT / "world-src").resolve():
        return ROOT / "build"
    return ROOT / "build" / "bench-worlds" / world.resolve().name


def build_world(world: Path) -> None:
    from sandbox.build import worldbuild

    result = worldbuild.build_world(world, build_dir_for(world), wit_dir=ROOT / "wit", progress=None, quiet=True)
    if not result.ok:
        raise SystemExit(f"bench: the world {world} failed to build: {sorted(result.failed)}")


async def place_players(realm: Any, sessions: int, per_room: int) -> int:
    """Spread the players over rooms, ``per_room`` to a room, as a persistent
    world would have them: each character's body already exists, out of the
    world, remembering a room (``last_room``), and logging in puts it back
    there. More rooms than the world has are made by cloning its room
    blueprints (each clone runs its own on-load). ``per_room`` 0 leaves
    everyone to arrive in the start room. Returns the number of rooms
    players were placed in."""
    from driver.world import ids

    if per_room <= 0:
        return 1
    tenant = realm.tenant
    paths = sorted(p for p in tenant.blueprints.by_path if p.startswith("/rooms/") and tenant.can_load(p))
    if realm.start_room in paths:
        paths.remove(realm.start_room)
        paths.insert(0, realm.start_room)
    if not paths:
        return 1
    needed = math.ceil(sessions / per_room)
    rooms = []
    for n in range(needed):
        path = paths[n % len(paths)]
        rooms.append(await tenant.find(path) if n < len(paths) else await tenant.clone(path))
        while await realm.loop.step():  # the room's on-load follow-ups (what it clones and moves in)
            pass
    for index in range(sessions):
        body = tenant.add_player(ids.player_id(player_name(index)), {})
        body.set("last_room", rooms[index // per_room].id)
    return len(rooms)


def serve_main(ns: argparse.Namespace) -> None:
    """Child process: the real server on free ports until stdin closes."""
    import functools
    import gc
    import logging

    import trio

    from driver.app import Realm, RealmConfig, open_realm
    from driver.auth.accounts import ScryptParams, hash_password, new_account
    from driver.runtimes.wasm import start_wasm_runtime
    from driver.server import serve
    from driver.store.accounts import MemoryAccountStore

    raise_fd_limit(ns.sessions * 2 + 256)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    cheap = ScryptParams(n=16, r=1, p=1)
    accounts = MemoryAccountStore()
    for index in range(ns.sessions):
        accounts.create(new_account(player_name(index), hash_password(PASSWORD, cheap)))
    scratch = tempfile.TemporaryDirectory(prefix="jitrealm-bench-")
    quotas, _ = unthrottled_quotas()
    config = RealmConfig(
        world_dir=ns.world, build_dir=build_dir_for(ns.world), data_dir=Path(scratch.name), kdf_params=cheap,
        quotas=quotas,
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            runtime = await start_wasm_runtime(
                nursery, ns.sandbox, workers=ns.workers, cache_dir=config.build_dir / "cache"
            )
            persistence = None
            if ns.persist:
                realm, persistence = await open_realm(config, runtime)
                realm.accounts = realm.players.accounts = accounts  # cheap logins; the world is stored
            else:
                realm = Realm(config, runtime=runtime, accounts=accounts)
                for problem in await realm.publish_all():
                    print(f"refused: {problem}", file=sys.stderr)
            rooms = await place_players(realm, ns.sessions, ns.per_room)
            telnet_port, http_port = await nursery.start(
                functools.partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0), persistence=persistence)
            )
            pauses = Pauses()
            nursery.start_soon(pauses.watch)
            print(json.dumps({"telnet": telnet_port, "http": http_port, "rooms": rooms}), flush=True)
            # Orders from the parent, one a line: "mark" starts the measured
            # window, "report" prints what was seen since. End of input: stop.
            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            pending = b""
            while chunk := await stdin.receive_some(4096):
                pending += chunk
                while b"\n" in pending:
                    order, _, pending = pending.partition(b"\n")
                    if order == b"mark":
                        pauses.reset()
                    elif order == b"report":
                        report = pauses.summary()
                        report["world_objects"] = len(realm.tenant.graph)
                        report["python_objects_tracked"] = len(gc.get_objects())
                        report["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
                        print(json.dumps(report), flush=True)
            nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        scratch.cleanup()


# -- the generator process --------------------------------------------------------------------


def match_replies(buf: bytearray, expected: Any, stats: Stats, now: float) -> None:
    """Take the replies ``buf`` holds off ``expected`` (a deque of (marker,
    time sent), in order), noting each one's latency at ``now`` in ``stats``;
    keep only what could be the start of the next marker."""
    while expected:
        marker, sent = expected[0]
        pos = buf.find(marker)
        if pos < 0:
            keep = len(marker) - 1
            if len(buf) > keep:
                del buf[: len(buf) - keep]
            return
        stats.latencies.append(now - sent)
        stats.sent_at.append(sent)
        del buf[: pos + len(marker)]
        expected.popleft()
    buf.clear()


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, answered commands
        self.sent_at: list[float] = []  # when each answered command was sent (generator clock)
        self.lags: list[float] = []  # seconds late against the schedule, per command sent
        self.sent_times: list[float] = []  # when each command was sent
        self.errors: dict[str, int] = {}
        self.login_seconds: list[float] = []

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Client:
    """One player's connection; subclasses move the bytes."""

    kind = ""

    def __init__(self, index: int, stats: Stats) -> None:
        self.index = index
        self.name = player_name(index)
        self.stats = stats
        self.buf = bytearray()
        self.expected: deque[tuple[bytes, float]] = deque()  # (reply marker, time sent)
        self.alive = False
        self.logged_in = False

    async def open(self, nursery: Any, port: int) -> None:
        raise NotImplementedError

    async def send_line(self, line: str) -> None:
        raise NotImplementedError

    async def receive(self) -> bytes:
        """The next bytes from the server; b"" once the connection is gone."""
        raise NotImplementedError

    async def wait_for(self, marker: bytes) -> None:
        """Read until ``marker`` has arrived (the login phase; no reader task yet)."""
        while True:
            pos = self.buf.find(marker)
            if pos >= 0:
                del self.buf[: pos + len(marker)]
                return
            data = await self.receive()
            if not data:
                self.alive = False
                raise ConnectionError("closed by the server")
            self.buf += data

    async def login(self, nursery: Any, port: int) -> None:
        import trio

        started = trio.current_time()
        await self.open(nursery, port)
        self.alive = True
        await self.wait_for(LOGIN_PROMPT)
        await self.send_line(f"connect {self.name} {PASSWORD}")
        await self.wait_for(ROOM_MARK)
        self.buf.clear()
        self.logged_in = True
        self.stats.login_seconds.append(trio.current_time() - started)

    async def reader(self) -> None:
        """Match replies (in order, per session) as they arrive."""
        import trio

        while self.alive:
            data = await self.receive()
            if not data:
                self.alive = False
                return
            if not self.expected:
                continue  # nothing outstanding: talk from others, drop it
            self.buf += data
            match_replies(self.buf, self.expected, self.stats, trio.current_time())

    async def send_command(self, seq: int, due: float, line_template: str, marker_template: str) -> None:
        import trio

        token = f"{self.name}x{seq}"
        line = line_template.replace("{token}", token)
        marker = marker_template.replace("{token}", token).encode()
        now = trio.current_time()
        self.expected.append((marker, now))
        self.stats.sent_times.append(now)
        self.stats.lags.append(now - due)
        try:
            await self.send_line(line)
        except Exception as exc:  # the reader notices the close too
            self.stats.error(f"send: {type(exc).__name__}")
            self.alive = False


async def pace(clients: list[Client], start: float, end: float, period: float, total: int,
               line: str, marker: str) -> None:
    """Send every client's commands on schedule: client ``i`` sends at
    ``start + (i / total + k) * period`` for k = 0, 1, ... until ``end``.

    One task does all the sending (a sleeping task per session costs the
    generator more than the sends: every wake-up is a cancelled scope), and
    it fires everything due within the next millisecond at once.
    """
    import trio

    order = sorted(clients, key=lambda c: c.index)
    seq = 0
    while True:
        for client in order:
            due = start + (client.index / total + seq) * period
            if due >= end:
                return
            if due > trio.current_time() + 0.001:
                await trio.sleep_until(due)
            if client.alive:
                await client.send_command(seq, due, line, marker)
        seq += 1


class TelnetClient(Client):
    kind = "telnet"

    async def open(self, nursery: Any, port: int) -> None:
        import trio

        self.stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source_address(self.index))

    async def send_line(self, line: str) -> None:
        await self.stream.send_all(line.encode() + b"\r\n")

    async def receive(self) -> bytes:
        import trio

        try:
            return await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return b""


class WebSocketClient(Client):
    kind = "websocket"

    async def open(self, nursery: Any, port: int) -> None:
        import trio
        import trio_websocket

        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source_address(self.index))
        self.ws = await trio_websocket.wrap_client_stream(
            nursery, stream, f"127.0.0.1:{port}", "/ws", subprotocols=[TERMINAL_SUBPROTOCOL]
        )
        if self.ws.subprotocol != TERMINAL_SUBPROTOCOL:
            raise ConnectionError(f"server chose subprotocol {self.ws.subprotocol!r}")

    async def send_line(self, line: str) -> None:
        await self.ws.send_message(line.encode())  # bytes: a BINARY frame

    async def receive(self) -> bytes:
        from trio_websocket import ConnectionClosed

        try:
            message = await self.ws.get_message()
        except ConnectionClosed:
            return b""
        return message if isinstance(message, bytes) else message.encode()


def generate_main(ns: argparse.Namespace) -> None:
    """Child process: open sessions ``first .. first+count``, log them in,
    say "ready", wait for "go START", run the schedule, print the results."""
    import trio

    raise_fd_limit(ns.count * 2 + 256)
    stats = Stats()
    pauses = Pauses()

    def say(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def main() -> None:
        clients: list[Client] = []
        for index in range(ns.first, ns.first + ns.count):
            cls = TelnetClient if index % 2 == 0 else WebSocketClient
            clients.append(cls(index, stats))
        limiter = trio.CapacityLimiter(ns.login_concurrency)
        async with trio.open_nursery() as nursery:
            login_started = trio.current_time()

            async def log_in(client: Client) -> None:
                async with limiter:
                    try:
                        with trio.fail_after(ns.login_timeout):
                            await client.login(nursery, ns.telnet if client.kind == "telnet" else ns.http)
                    except Exception as exc:
                        stats.error(f"login ({client.kind}): {type(exc).__name__}: {exc}"[:120])
                        client.alive = False

            async with trio.open_nursery() as logins:
                for client in clients:
                    logins.start_soon(log_in, client)
            login_seconds = trio.current_time() - login_started
            for client in clients:
                if client.alive:
                    nursery.start_soon(client.reader)
            say({"ready": True, "logged_in": sum(c.logged_in for c in clients), "login_seconds": login_seconds})

            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            line = b""
            while not line.endswith(b"\n"):
                chunk = await stdin.receive_some(256)
                if not chunk:
                    raise SystemExit("generator: the parent went away")
                line += chunk
            start_wall = float(line.split()[1])
            start = trio.current_time() + (start_wall - time.time())
            window = start + ns.warmup  # the measured window: [window, end]
            end = window + ns.seconds
            # The instrument must not pause for its own garbage collector.
            tune_gc()
            pauses.reset()
            nursery.start_soon(pauses.watch)
            period = ns.total_sessions / ns.rate  # seconds between one session's commands
            nursery.start_soon(pace, clients, start, end, period, ns.total_sessions, ns.line, ns.marker)
            await trio.sleep_until(end)
            # Give the last replies time to arrive (they count toward latency, not the rate).
            with trio.move_on_after(ns.drain):
                while any(c.expected and c.alive for c in clients):
                    await trio.sleep(0.05)
            held = {
                "telnet": sum(c.alive and c.logged_in for c in clients if c.kind == "telnet"),
                "websocket": sum(c.alive and c.logged_in for c in clients if c.kind == "websocket"),
            }
            # Every offset below is seconds from the start of the window.
            say(
                {
                    "result": True,
                    "held": held,
                    "logged_in": sum(c.logged_in for c in clients),
                    "sent_offsets": [round(x - window, 4) for x in stats.sent_times],
                    "unanswered": sum(len(c.expected) for c in clients),
                    "unanswered_from_window": sum(
                        1 for c in clients for _, sent in c.expected if window <= sent < end
                    ),
                    "latencies": [round(x, 6) for x in stats.latencies],
                    "offsets": [round(x - window, 4) for x in stats.sent_at],
                    "lags": [round(x, 6) for x in stats.lags],
                    "login_seconds": login_seconds,
                    "login_each": [round(x, 6) for x in stats.login_seconds],
                    "errors": stats.errors,
                    "cpu_seconds": time.process_time(),
                    "pauses": pauses.summary(),
                }
            )
            nursery.cancel_scope.cancel()

    trio.run(main)


# -- the orchestrator -------------------------------------------------------------------------


class LineReader:
    """Reads newline-delimited JSON from a child's stdout without blocking forever."""

    def __init__(self, proc: subprocess.Popen[bytes], what: str) -> None:
        self.proc = proc
        self.what = what
        self.pending = b""

    def next(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.what}: no answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"{self.what} exited (code {self.proc.wait()})")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a child we started: close its stdin, then SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout=3)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def plan_cpus() -> tuple[int, list[int], bool]:
    """(server CPU, generator CPUs, whether they are separate)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        return cpus[0], cpus, False
    return cpus[0], cpus[1:], True


def add_arguments(p: argparse.ArgumentParser, *, sessions: int, rate: float, seconds: float, world: Path,
                  per_room: int) -> None:
    """The options every load benchmark takes (the defaults are the benchmark's)."""
    p.add_argument("--sessions", type=int, default=sessions,
                   help=f"concurrent sessions, half telnet, half WebSocket (default {sessions})")
    p.add_argument("--rate", type=float, default=rate,
                   help=f"commands per second offered across all sessions (default {rate:g})")
    p.add_argument("--seconds", type=float, default=seconds,
                   help=f"length of the measured window (default {seconds:g})")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of the same load before the window (default 2)")
    p.add_argument("--world", type=Path, default=world, help="world source directory")
    p.add_argument("--per-room", type=int, default=per_room,
                   help="players per room: what one says reaches the others (rooms are cloned as needed; "
                        f"0: everyone in the start room; default {per_room})")
    p.add_argument("--sandbox", choices=["workers", "inproc"], default="workers",
                   help="where the server runs guest code, as `jitrealm run --sandbox`: sandbox worker "
                        "processes (the default there and here) or in the server process")
    p.add_argument("--workers", type=int, default=1,
                   help="sandbox worker processes with --sandbox workers (default 1: they share the server's core)")
    p.add_argument("--generators", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument("--login-concurrency", type=int, default=64, help="logins in flight at once (default 64)")
    p.add_argument("--login-timeout", type=float, default=120.0, help="seconds for one login (default 120)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between the last login and the start (default 2)")
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for the last replies (default 5)")


def check_arguments(p: argparse.ArgumentParser, ns: argparse.Namespace) -> None:
    ns.world = ns.world.resolve()
    if ns.sessions < 1 or ns.sessions > 26**4:
        p.error(f"--sessions must be 1..{26**4}")
    if ns.rate <= 0 or ns.seconds <= 0 or ns.generators < 1 or ns.workers < 1 or ns.warmup < 0:
        p.error("--rate, --seconds, --generators and --workers must be positive, --warmup not negative")


def run(ns: argparse.Namespace, *, line: str, marker: str, persist: bool) -> dict[str, Any]:
    """Run one load test (see module docstring); ``line`` and ``marker`` are
    the command each session types and what its reply contains, with
    ``{token}`` unique per command."""
    raise_fd_limit(1024)
    build_world(ns.world)
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    server_cpu, generator_cpus, separate = plan_cpus()
    here = Path(__file__).resolve()
    children: list[subprocess.Popen[bytes]] = []
    log = tempfile.TemporaryFile()
    pin: dict[str, Any] = {"cpu": server_cpu}
    try:
        server = subprocess.Popen(
            [sys.executable, str(here), "--serve",
             "--sessions", str(ns.sessions), "--per-room", str(ns.per_room), "--world", str(ns.world),
             "--sandbox", ns.sandbox, "--workers", str(ns.workers),
             *(["--persist"] if persist else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
            preexec_fn=pinned_to({server_cpu}),
        )
        children.append(server)
        server_lines = LineReader(server, "the server")
        ports = server_lines.next(timeout=300)
        pin["ok_at_start"], pin["why"], pin["processes_at_start"], pin["threads_at_start"] = verify_pin(
            server.pid, server_cpu
        )

        generators: list[tuple[subprocess.Popen[bytes], LineReader]] = []
        share, extra = divmod(ns.sessions, ns.generators)
        first = 0
        for g in range(ns.generators):
            count = share + (1 if g < extra else 0)
            proc = subprocess.Popen(
                [sys.executable, str(here), "--generate",
                 "--first", str(first), "--count", str(count), "--total-sessions", str(ns.sessions),
                 "--telnet", str(ports["telnet"]), "--http", str(ports["http"]),
                 "--rate", str(ns.rate), "--seconds", str(ns.seconds), "--warmup", str(ns.warmup),
                 "--line", line, "--marker", marker,
                 "--login-concurrency", str(max(1, ns.login_concurrency // ns.generators)),
                 "--login-timeout", str(ns.login_timeout), "--drain", str(ns.drain)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
                preexec_fn=pinned_to(set(generator_cpus)),
            )
            children.append(proc)
            generators.append((proc, LineReader(proc, f"generator {g}")))
            first += count

        nice = {"server": os.getpriority(os.PRIO_PROCESS, server.pid),
                "generators": [os.getpriority(os.PRIO_PROCESS, proc.pid) for proc, _ in generators],
                "autogroup": _autogroup(server.pid)}
        readies = [reader.next(timeout=ns.login_timeout + 60) for _, reader in generators]
        login_seconds = max(ready["login_seconds"] for ready in readies)
        # Let the arrivals' chatter drain before measuring.
        time.sleep(ns.settle)

        # Everyone starts at the same moment, half a second from now; the
        # window opens after the warm-up.
        start_wall = time.time() + 0.5
        window_wall = start_wall + ns.warmup
        for proc, _ in generators:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start_wall!r}\n".encode())
            proc.stdin.flush()
        time.sleep(max(0.0, window_wall - time.time()))
        server_orders = server.stdin
        assert server_orders is not None
        server_orders.write(b"mark\n")
        server_orders.flush()
        measured_from = time.monotonic()
        server_cpu_before = tree_cpu_seconds(server.pid)
        delay_before = [run_delay_seconds(proc.pid) for proc in children]
        time.sleep(max(0.0, window_wall + ns.seconds - time.time()))
        server_cpu_after = tree_cpu_seconds(server.pid)
        delay_after = [run_delay_seconds(proc.pid) for proc in children]
        measured = time.monotonic() - measured_from
        ok_end, why_end, pin["processes_at_end"], pin["threads_at_end"] = verify_pin(server.pid, server_cpu)
        pin["ok_at_end"] = ok_end
        pin["why"] = pin["why"] or why_end
        server_orders.write(b"report\n")
        server_orders.flush()
        server_report = server_lines.next(timeout=30)
        results = [reader.next(timeout=ns.drain + 60) for _, reader in generators]
        server_alive = server.poll() is None
        lifetime_cpu, lifetime_wall = tree_cpu_seconds(server.pid), age_seconds(server.pid)
    finally:
        for proc in reversed(children):
            stop(proc)
        log.seek(0)
        server_log = log.read().decode(errors="replace")
        log.close()

    window_cpu = server_cpu_after - server_cpu_before
    pin["window_cpu_seconds"] = round(window_cpu, 3)
    pin["window_wall_seconds"] = round(measured, 3)
    pin["lifetime_cpu_seconds"] = round(lifetime_cpu, 3)
    pin["lifetime_wall_seconds"] = round(lifetime_wall, 3)
    pin["cpu_within_one_core"] = within_one_core(window_cpu, measured) and within_one_core(lifetime_cpu, lifetime_wall)
    if pin["why"] is None and not pin["cpu_within_one_core"]:
        pin["why"] = (f"the server used {window_cpu:.2f} s of CPU in a {measured:.2f} s window "
                      f"({lifetime_cpu:.2f} s in {lifetime_wall:.2f} s of life): more than one core")
    pin["ok"] = bool(pin["ok_at_start"] and pin["ok_at_end"] and pin["cpu_within_one_core"])

    # Latency: the commands sent inside the window, however late their reply.
    in_window: list[tuple[float, float]] = [
        (offset, latency)
        for r in results
        for offset, latency in zip(r["offsets"], r["latencies"], strict=True)
        if 0 <= offset < ns.seconds
    ]
    latencies = sorted(latency for _, latency in in_window)
    # The rate: replies that arrived inside the window, whenever sent.
    arrived_in_window = sum(
        1
        for r in results
        for offset, latency in zip(r["offsets"], r["latencies"], strict=True)
        if 0 <= offset + latency <= ns.seconds
    )
    answered_after = sum(1 for offset, latency in in_window if offset + latency > ns.seconds)
    by_second: dict[int, list[float]] = {}
    for offset, latency in in_window:
        by_second.setdefault(int(offset), []).append(latency)
    timeline = [
        round(percentile(sorted(by_second.get(second, [])), 99) * 1000, 1) if by_second.get(second) else None
        for second in range(math.ceil(ns.seconds))
    ]
    lags = sorted(x for r in results for x in r["lags"])
    login_each = sorted(x for r in results for x in r["login_each"])
    errors: dict[str, int] = {}
    for r in results:
        for kind, n in r["errors"].items():
            errors[kind] = errors.get(kind, 0) + n
    log_lines = [line for line in server_log.splitlines() if line.strip()]
    held_telnet = sum(r["held"]["telnet"] for r in results)
    held_ws = sum(r["held"]["websocket"] for r in results)
    sent = sum(1 for r in results for offset in r["sent_offsets"] if 0 <= offset < ns.seconds)

    def ms(value: float) -> float:
        return round(value * 1000, 2)

    # Whether the load was offered as scheduled: a generator starved of CPU
    # sends late and less, and then the figures describe it, not the server.
    lag_p99 = percentile(lags, 99) if lags else math.nan
    kept_up = sent >= 0.99 * ns.rate * ns.seconds and lag_p99 <= 0.010

    return {
        "world": str(ns.world.relative_to(ROOT)) if ns.world.is_relative_to(ROOT) else str(ns.world),
        "command": line,
        "reply_marker": marker,
        "players_per_room": ns.per_room,
        "persistence": persist,
        "rate_budgets_raised": unthrottled_quotas()[1],
        "sandbox": ns.sandbox,
        "sandbox_workers": ns.workers if ns.sandbox == "workers" else 0,
        "rooms": ports["rooms"],
        "sessions_target": ns.sessions,
        "sessions_logged_in": sum(r["logged_in"] for r in results),
        "sessions_held": held_telnet + held_ws,
        "sessions_held_by_transport": {"telnet": held_telnet, "websocket": held_ws},
        "login_seconds": round(login_seconds, 2),
        "login_ms": {
            "p50": ms(percentile(login_each, 50)) if login_each else None,
            "p99": ms(percentile(login_each, 99)) if login_each else None,
        },
        "warmup_seconds": ns.warmup,
        "seconds": ns.seconds,
        "rate_target": ns.rate,
        "commands_sent": sent,
        "commands_answered": len(latencies),
        "commands_answered_after_window": answered_after,
        "commands_unanswered": sum(r["unanswered_from_window"] for r in results),
        "commands_unanswered_incl_warmup": sum(r["unanswered"] for r in results),
        "replies_in_window": arrived_in_window,
        "commands_per_second": round(arrived_in_window / ns.seconds, 1),
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)) if latencies else None,
            "p90": ms(percentile(latencies, 90)) if latencies else None,
            "p99": ms(percentile(latencies, 99)) if latencies else None,
            "max": ms(latencies[-1]) if latencies else None,
            "mean": ms(statistics.fmean(latencies)) if latencies else None,
        },
        "p99_ms_by_second": timeline,
        "generator_lag_ms": {
            "p99": ms(lag_p99) if lags else None,
            "max": ms(lags[-1]) if lags else None,
        },
        "generator_kept_up": kept_up,
        "server_cpu_percent": round(100 * window_cpu / measured, 1),
        "server_pin": pin,
        "generator_cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 2),
        # Share of the window each process was ready to run but had no CPU
        # (another program on the machine had it); a clean run shows ~0.
        "cpu_wait_percent": {
            "server": round(100 * (delay_after[0] - delay_before[0]) / measured, 1),
            "generators": round(
                100 * max(a - b for a, b in zip(delay_after[1:], delay_before[1:], strict=True)) / measured, 1
            ),
        },
        "loadavg_before": load_before,
        "server_pauses": server_report,
        "generator_pauses": [r["pauses"] for r in results],
        "cpus": {"server": server_cpu, "generators": generator_cpus, "separate": separate},
        # Scheduling priority (inherited from the benchmark: `nice -n -10
        # python bench/e2e.py` on a shared machine); 0 is the default.
        # With scheduler autogroups the session's group nice counts first.
        "nice": nice,
        "generators": ns.generators,
        "errors": sum(errors.values()) + (0 if server_alive else 1),
        "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
        "server_log_lines": len(log_lines),
        "server_log_tail": log_lines[-5:],
    }


def finish(result: dict[str, Any]) -> None:
    """Print the result; exit non-zero when the server was not verifiably on
    one core (the numbers would not mean what their names say)."""
    pin = result["server_pin"]
    if not result["generator_kept_up"]:
        result["warning"] = (
            "the generators did not offer the load as scheduled (sent less, or late: see generator_lag_ms "
            "and cpu_wait_percent); the latency and rate describe them as much as the server"
        )
    if not pin["ok"]:
        result["failed"] = f"the server was not pinned to one core: {pin['why']}"
    print(json.dumps(result, indent=2))
    if not pin["ok"]:
        sys.exit(1)


# -- the child processes' command line --------------------------------------------------------


def _child_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="A child process of bench/net.py or bench/e2e.py.")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--generate", action="store_true")
    p.add_argument("--persist", action="store_true")
    p.add_argument("--sandbox", choices=["workers", "inproc"], default="workers")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--world", type=Path, default=ROOT / "world-src")
    p.add_argument("--sessions", type=int, default=0)
    p.add_argument("--per-room", type=int, default=0)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--total-sessions", type=int, default=0)
    p.add_argument("--telnet", type=int, default=0)
    p.add_argument("--http", type=int, default=0)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--line", default="look")
    p.add_argument("--marker", default=ROOM_MARK.decode())
    p.add_argument("--login-concurrency", type=int, default=64)
    p.add_argument("--login-timeout", type=float, default=120.0)
    p.add_argument("--drain", type=float, default=5.0)
    return p


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = _child_parser().parse_args()
    if ns.serve:
        serve_main(ns)
    elif ns.generate:
        generate_main(ns)
    else:
        raise SystemExit("bench/loadgen.py is run by bench/net.py and bench/e2e.py")


if __name__ == "__main__":
    main()

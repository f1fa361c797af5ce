"""Network benchmark: 2,000 players over telnet and WebSocket on one core.

Prints one JSON document: sessions held, commands per second, round-trip
latency (p50/p90/p99/max), login time, errors, and whether the goals of the
Players issue were met (2,000 sessions, p99 <= 50 ms at 2,000 commands/s,
the server on one core).

How it runs (everything on 127.0.0.1, everything bounded in count and time):

* **The server** is a child process pinned to one CPU, running the real
  front door and loop (:func:`driver.cli.serve`: the realm's event loop, the
  telnet listener with its default :class:`TelnetConfig`, the HTTP +
  WebSocket listener) over a real world (``world-src`` unless ``--world``
  says otherwise), on free ports. Its accounts are created before it listens,
  in a :class:`MemoryAccountStore` with cheap scrypt parameters, so that the
  logins measure the front door rather than the KDF.
* **Where the players are.** A MUD's players are spread over its rooms, and
  that matters: ``say`` reaches everyone in the room and ``look`` lists
  them, so 2,000 players in one room make every command cost 2,000 writes.
  ``--per-room`` (default 5) places each character in a room with a few
  others, the way a persistent world resumes characters where they left
  (their bodies exist with ``last_room`` set, and logging in puts them
  there); the demo world's ten rooms are cloned to make enough rooms, each
  clone with its own on-load contents (the notice board, Marta, the cat...).
* **The load** comes from generator processes pinned to the other CPU(s).
  Each opens its share of the sessions, alternately telnet (a raw trio TCP
  stream that answers no negotiation, as netcat would) and WebSocket
  (trio-websocket, subprotocol ``terminal.mudstandards.org``, commands as
  BINARY frames of UTF-8). Every session comes from its own loopback address
  (``127.0.0.x``), as players come from their own machines (the login
  throttle counts per address). Each logs in with the one-line
  ``connect <name> <password>`` and waits for its room description.
* **The measurement.** When every session is in, all start together. Each
  session sends ``say <token>`` (``--command look``: ``look``) on a fixed
  schedule: one command every ``sessions / rate`` seconds, phases spread
  evenly, ``--rate`` commands a second in all (by default 1 a second per
  session, well under the 10 lines a second a telnet player may type). The
  schedule is open loop: a slow reply never delays the next command, so a
  server stall shows in the latency instead of hiding in a lower rate. A
  round trip runs from writing the line to reading its reply (``You say:
  <token>``, unique per command; for ``look`` the room's ``Obvious exits``,
  in order per session). Replies still missing ``--drain`` seconds after the
  window are counted unanswered.

Besides the goals, the JSON says why a run was slow: the server's CPU use
over the window, its event loop's lateness and garbage collections
(``server_pauses``), the p99 of each second (``p99_ms_by_second``), how late
the generators sent (``generator_lag_ms``) and their own pauses, and how long
each process was runnable but had no CPU because something else on the
machine had it (``cpu_wait_percent``; near 0 in a clean run).
``--persist`` runs the server with its SQLite store in a scratch data
directory, as `jitrealm run` does: every answer then waits for its group
commit. (The server tunes its garbage collector in ``serve()``; this
benchmark is how that setting was found: with Python's default thresholds,
full collections of every session's in-flight objects every couple of
seconds put p99 at ~500 ms.)
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
from pathlib import Path
from typing import Any

from common import ROOT

PASSWORD = "benchmark"
NAME_PREFIX = "bench"
TERMINAL_SUBPROTOCOL = "terminal.mudstandards.org"
LOGIN_PROMPT = b"What is your name?"
ROOM_MARK = b"Obvious exits"
# Loopback source addresses: 127.0.0.2 ... 127.0.0.251.
ADDRESS_POOL = 250


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


def pin(cpus: set[int]) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, cpus)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


# -- the server process -----------------------------------------------------------------------


def build_dir_for(world: Path) -> Path:
    if world.resolve() == (ROOT / "world-src").resolve():
        return ROOT / "build"
    return ROOT / "build" / "bench-net" / world.resolve().name


def build_world(world: Path) -> None:
    from sandbox.build import worldbuild

    result = worldbuild.build_world(world, build_dir_for(world), wit_dir=ROOT / "wit", progress=None, quiet=True)
    if not result.ok:
        raise SystemExit(f"bench/net.py: the world failed to build: {sorted(result.failed)}")


def place_players(realm: Any, sessions: int, per_room: int) -> int:
    """Spread the players over rooms, ``per_room`` to a room, as a persistent
    world would have them: each character's body already exists, out of the
    world, remembering a room (``last_room``), and logging in puts it back
    there. The demo world has ten rooms, so more are made by cloning its room
    blueprints (each clone runs its own on-load: the notice board, Marta, the
    cat... come too). ``per_room`` 0 leaves everyone to arrive in the start
    room. Returns the number of rooms players were placed in."""
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
        rooms.append(tenant.find(path) if n < len(paths) else tenant.clone(path))
        while realm.step():  # the room's on-load follow-ups (what it clones and moves in)
            pass
    for index in range(sessions):
        body = tenant.add_player(ids.player_id(player_name(index)), {})
        body.set("last_room", rooms[index // per_room].id)
    return len(rooms)


def tune_gc() -> None:
    """What the generators do to themselves: the same collector setting the
    server makes in ``driver.cli.serve`` (see ``_tune_gc`` there), so the
    measuring side adds no pauses of its own."""
    from driver.cli import _tune_gc

    _tune_gc()


def serve_main(ns: argparse.Namespace) -> None:
    """Child process: the real server on free ports until stdin closes."""
    import functools
    import gc
    import logging

    import trio

    from driver.app import Realm, RealmConfig
    from driver.auth.accounts import MemoryAccountStore, ScryptParams, hash_password, new_account
    from driver.cli import serve

    pin({ns.cpu})
    raise_fd_limit(ns.sessions * 2 + 256)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    cheap = ScryptParams(n=16, r=1, p=1)
    accounts = MemoryAccountStore()
    for index in range(ns.sessions):
        accounts.create(new_account(player_name(index), hash_password(PASSWORD, cheap)))
    scratch = tempfile.TemporaryDirectory(prefix="jitrealm-bench-net-")
    config = RealmConfig(
        world_dir=ns.world, build_dir=build_dir_for(ns.world), data_dir=Path(scratch.name), kdf_params=cheap
    )
    persistence = None
    if ns.persist:
        from driver.cli import open_realm

        realm, persistence = open_realm(config)
        realm.accounts = realm.players.accounts = accounts  # cheap logins; the world is stored
    else:
        realm = Realm(config, accounts=accounts)
        problems = realm.publish_all()
        for problem in problems:
            print(f"refused: {problem}", file=sys.stderr)
    rooms = place_players(realm, ns.sessions, ns.per_room)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
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


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []  # seconds, answered commands
        self.sent_at: list[float] = []  # when each answered command was sent (generator clock)
        self.lags: list[float] = []  # seconds late against the schedule, per command sent
        self.sent = 0
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
            buf = self.buf
            while self.expected:
                marker, sent = self.expected[0]
                pos = buf.find(marker)
                if pos < 0:
                    # Keep only what could be the start of the marker.
                    keep = len(marker) - 1
                    if len(buf) > keep:
                        del buf[: len(buf) - keep]
                    break
                self.stats.latencies.append(trio.current_time() - sent)
                self.stats.sent_at.append(sent)
                del buf[: pos + len(marker)]
                self.expected.popleft()
            if not self.expected:
                buf.clear()

    async def send_command(self, seq: int, due: float, command: str) -> None:
        import trio

        if command == "say":
            token = f"{self.name}x{seq}"
            line, marker = f"say {token}", f"You say: {token}\r\n".encode()
        else:
            line, marker = "look", ROOM_MARK
        now = trio.current_time()
        self.expected.append((marker, now))
        self.stats.sent += 1
        self.stats.lags.append(now - due)
        try:
            await self.send_line(line)
        except Exception as exc:  # the reader notices the close too
            self.stats.error(f"send: {type(exc).__name__}")
            self.alive = False


async def pace(clients: list[Client], start: float, end: float, period: float, total: int, command: str) -> None:
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
                await client.send_command(seq, due, command)
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

    pin(set(ns.cpus))
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
            end = start + ns.seconds
            # The instrument must not pause for its own garbage collector.
            tune_gc()
            pauses.reset()
            nursery.start_soon(pauses.watch)
            period = ns.total_sessions / ns.rate  # seconds between one session's commands
            nursery.start_soon(pace, clients, start, end, period, ns.total_sessions, ns.command)
            await trio.sleep_until(end)
            # Give the last replies time to arrive.
            with trio.move_on_after(ns.drain):
                while any(c.expected and c.alive for c in clients):
                    await trio.sleep(0.05)
            held = {
                "telnet": sum(c.alive and c.logged_in for c in clients if c.kind == "telnet"),
                "websocket": sum(c.alive and c.logged_in for c in clients if c.kind == "websocket"),
            }
            unanswered = sum(len(c.expected) for c in clients)
            say(
                {
                    "result": True,
                    "held": held,
                    "logged_in": sum(c.logged_in for c in clients),
                    "sent": stats.sent,
                    "unanswered": unanswered,
                    "latencies": [round(x, 6) for x in stats.latencies],
                    "offsets": [round(x - start, 4) for x in stats.sent_at],
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


def run(ns: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(1024)
    build_world(ns.world)
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    server_cpu, generator_cpus, separate = plan_cpus()
    here = Path(__file__).resolve()
    children: list[subprocess.Popen[bytes]] = []
    log = tempfile.TemporaryFile()
    try:
        server = subprocess.Popen(
            [sys.executable, str(here), "--serve", "--cpu", str(server_cpu),
             "--sessions", str(ns.sessions), "--per-room", str(ns.per_room), "--world", str(ns.world),
             *(["--persist"] if ns.persist else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
        )
        children.append(server)
        server_lines = LineReader(server, "the server")
        ports = server_lines.next(timeout=120)

        generators: list[tuple[subprocess.Popen[bytes], LineReader]] = []
        share, extra = divmod(ns.sessions, ns.generators)
        first = 0
        for g in range(ns.generators):
            count = share + (1 if g < extra else 0)
            proc = subprocess.Popen(
                [sys.executable, str(here), "--generate",
                 "--cpus", *map(str, generator_cpus),
                 "--first", str(first), "--count", str(count), "--total-sessions", str(ns.sessions),
                 "--telnet", str(ports["telnet"]), "--http", str(ports["http"]),
                 "--rate", str(ns.rate), "--seconds", str(ns.seconds), "--command", ns.command,
                 "--login-concurrency", str(max(1, ns.login_concurrency // ns.generators)),
                 "--login-timeout", str(ns.login_timeout), "--drain", str(ns.drain)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
            )
            children.append(proc)
            generators.append((proc, LineReader(proc, f"generator {g}")))
            first += count

        readies = [reader.next(timeout=ns.login_timeout + 60) for _, reader in generators]
        login_seconds = max(ready["login_seconds"] for ready in readies)
        # Let the arrivals' chatter drain before measuring.
        time.sleep(ns.settle)

        # Everyone starts at the same moment, half a second from now.
        start_wall = time.time() + 0.5
        for proc, _ in generators:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start_wall!r}\n".encode())
            proc.stdin.flush()
        time.sleep(max(0.0, start_wall - time.time()))
        server_orders = server.stdin
        assert server_orders is not None
        server_orders.write(b"mark\n")
        server_orders.flush()
        measured_from = time.monotonic()
        server_cpu_before = cpu_seconds(server.pid)
        delay_before = [run_delay_seconds(proc.pid) for proc in children]
        time.sleep(max(0.0, start_wall + ns.seconds - time.time()))
        server_cpu_after = cpu_seconds(server.pid)
        delay_after = [run_delay_seconds(proc.pid) for proc in children]
        measured = time.monotonic() - measured_from
        server_orders.write(b"report\n")
        server_orders.flush()
        server_report = server_lines.next(timeout=30)
        results = [reader.next(timeout=ns.drain + 60) for _, reader in generators]
        server_alive = server.poll() is None
    finally:
        for proc in reversed(children):
            stop(proc)
        log.seek(0)
        server_log = log.read().decode(errors="replace")
        log.close()

    latencies = sorted(x for r in results for x in r["latencies"])
    by_second: dict[int, list[float]] = {}
    for r in results:
        for offset, latency in zip(r["offsets"], r["latencies"], strict=True):
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
    sent = sum(r["sent"] for r in results)
    answered = len(latencies)

    def ms(value: float) -> float:
        return round(value * 1000, 2)

    p99 = ms(percentile(latencies, 99)) if latencies else None
    cps = round(answered / ns.seconds, 1)
    result: dict[str, Any] = {
        "benchmark": "net",
        "world": str(ns.world.resolve().relative_to(ROOT)) if ns.world.resolve().is_relative_to(ROOT) else str(ns.world),
        "command": ns.command,
        "players_per_room": ns.per_room,
        "persistence": ns.persist,
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
        "seconds": ns.seconds,
        "rate_target": ns.rate,
        "commands_sent": sent,
        "commands_answered": answered,
        "commands_unanswered": sum(r["unanswered"] for r in results),
        "commands_per_second": cps,
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)) if latencies else None,
            "p90": ms(percentile(latencies, 90)) if latencies else None,
            "p99": p99,
            "max": ms(latencies[-1]) if latencies else None,
            "mean": ms(statistics.fmean(latencies)) if latencies else None,
        },
        "p99_ms_by_second": timeline,
        "generator_lag_ms": {
            "p99": ms(percentile(lags, 99)) if lags else None,
            "max": ms(lags[-1]) if lags else None,
        },
        "server_cpu_percent": round(100 * (server_cpu_after - server_cpu_before) / measured, 1),
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
        "generators": ns.generators,
        "errors": sum(errors.values()) + (0 if server_alive else 1),
        "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:10]),
        "server_log_lines": len(log_lines),
        "server_log_tail": log_lines[-5:],
    }
    result["goals"] = {
        "sessions_ge_2000": result["sessions_held"] >= 2000,
        "p99_le_50ms": p99 is not None and p99 <= 50,
        "rate_ge_2000_per_s": cps >= 2000,
        "server_on_one_core": separate,
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Network benchmark: N sessions over telnet + WebSocket; prints JSON.")
    p.add_argument("--sessions", type=int, default=2000, help="concurrent sessions, half telnet, half WebSocket (default 2000)")
    p.add_argument("--rate", type=float, default=2000.0, help="commands per second across all sessions (default 2000)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of the measured window (default 20)")
    p.add_argument("--world", type=Path, default=ROOT / "world-src", help="world source directory (default world-src)")
    p.add_argument("--per-room", type=int, default=5,
                   help="players per room: each `say` reaches the others (rooms are cloned as needed; "
                        "0: everyone in the start room; default 5)")
    p.add_argument("--command", choices=["say", "look"], default="say", help="what each session types (default say)")
    p.add_argument("--persist", action="store_true",
                   help="run the server with its SQLite store (answers wait for their commit)")
    p.add_argument("--generators", type=int, default=1, help="load generator processes (default 1)")
    p.add_argument("--login-concurrency", type=int, default=64, help="logins in flight at once (default 64)")
    p.add_argument("--login-timeout", type=float, default=120.0, help="seconds for one login (default 120)")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between the last login and the start (default 2)")
    p.add_argument("--drain", type=float, default=5.0, help="seconds to wait for the last replies (default 5)")
    # Internal: the child processes.
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cpu", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cpus", type=int, nargs="+", default=[0], help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--total-sessions", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--telnet", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--http", type=int, default=0, help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    ns.world = ns.world.resolve()
    if ns.sessions < 1 or ns.sessions > 26**4:
        p.error(f"--sessions must be 1..{26**4}")
    if ns.rate <= 0 or ns.seconds <= 0 or ns.generators < 1:
        p.error("--rate, --seconds and --generators must be positive")
    return ns


def main() -> None:
    # A polite kill of the benchmark still stops its children (run's finally).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = parse_args()
    if ns.serve:
        serve_main(ns)
    elif ns.generate:
        generate_main(ns)
    else:
        print(json.dumps(run(ns), indent=2))


if __name__ == "__main__":
    main()

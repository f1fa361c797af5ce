"""Declarative rooms: the cost of one event through the quiz, and many quiz rooms under load.

Prints one JSON document with two parts:

* ``per_event``: thread CPU µs per event through the quiz machine in one room of 8
  players (the sans-IO :class:`~driver.dsl.room.Room`: schema check of the payload,
  guards, effects, patch bookkeeping, and taking the batched patch and outputs as a host
  does). The game is played as people play it: each question runs on a 1 s tick, each
  player answers once at some point (a quarter of the answers are right, and a right
  answer moves to the next question), the game restarts when it is over. Also per kind
  of event (an answer, a tick, one that loads the next question). Goal: <= 30 µs.
* ``load``: the real server (``driver.server.serve``) in a child process pinned to one
  CPU (bench/loadgen.py's pin, verified the same way), and ``--generators`` processes on
  the other CPU with ``--clients`` WebSocket clients (json.jitrealm) between them, logged
  in and spread over quiz rooms of ``--per-room`` (each room's clients in one process, so
  one clock times a patch from the answer to every receiver; several processes so that
  one process's run queue of 2,000 connections is not part of the latency); each client
  answers the current question once, at
  its own pace (``--rate`` answers a second offered in all), and every client applies
  every patch. Patch latency is from a client sending its answer to each client of the
  room (its own included) receiving the patch that counts it: the room's batching (50 ms)
  is part of it. Goal: 2,000 clients in 200 rooms, patch p99 <= 100 ms.

The machine is shared: CPU figures are thread CPU time (what this code cost, not what
other programs took); latency is wall time, and ``cpu_wait_percent`` says how much of
the window the server waited for a CPU someone else had.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT
from loadgen import (
    LineReader,
    Pauses,
    age_seconds,
    percentile,
    pinned_to,
    plan_cpus,
    player_name,
    raise_fd_limit,
    run_delay_seconds,
    source_address,
    stop,
    tree_cpu_seconds,
    tune_gc,
    verify_pin,
    within_one_core,
)

QUIZ = ROOT / "world-src" / "rooms" / "quiz.json"
PASSWORD = "benchmark"
NOOK = {
    "metadata": {"name": "A nook"},
    "machine": {"initial": "quiet", "states": {"quiet": {}}},
    "mud": {"short": "A nook", "long": "A quiet nook where a player waits."},
}
ROOM_CONFIG = {"timePerStep": 20}


# -- per event ----------------------------------------------------------------------------------


def per_event(events: int = 30_000, players: int = 8, seed: int = 1) -> dict[str, Any]:
    import gc

    from driver.dsl.bundle import compile_bundle
    from driver.dsl.room import Room

    bundle = compile_bundle(QUIZ.read_bytes())
    rng = random.Random(seed)
    room = Room(bundle, "bench", now_ms=0)
    room.start()
    seats = [f"/player/p{i}" for i in range(players)]
    for i, seat in enumerate(seats):
        room.join(seat, f"P{i}")
    room.take_patch()
    room.take_outputs()
    kinds: dict[str, list[float]] = {"answer": [], "tick": [], "next question": [], "start": []}
    total = 0.0
    count = 0
    now = 0.0
    gc.collect()
    gc.freeze()
    clock = time.thread_time_ns
    while count < events:
        if "question.asking" not in room.machine.configuration:
            t = clock()
            room.dispatch(seats[0], "start", {})
            room.take_patch()
            room.take_outputs()
            spent = (clock() - t) / 1000
            kinds["start"].append(spent)
            total += spent
            count += 1
        # One question: the players answer in a random order, 1-3 s apart (ticks between).
        order = seats[:]
        rng.shuffle(order)
        for seat in order:
            for _ in range(rng.randint(1, 3)):
                now += 1000
                t = clock()
                steps = room.advance_to(now)
                room.take_patch()
                room.take_outputs()
                spent = (clock() - t) / 1000
                if steps:
                    kinds["tick"].append(spent / len(steps))
                    total += spent
                    count += len(steps)
            round_before = room.state["round"]
            choice = rng.randint(1, 4)
            t = clock()
            room.dispatch(seat, "answer", {"choice": choice})
            room.take_patch()
            room.take_outputs()
            spent = (clock() - t) / 1000
            total += spent
            count += 1
            if (
                room.state["round"] != round_before
                or "question.asking" not in room.machine.configuration
            ):
                kinds["next question"].append(spent)
                break
            kinds["answer"].append(spent)
    gc.unfreeze()
    return {
        "events": count,
        "players_in_room": players,
        "us_per_event": round(total / count, 2),
        "us_by_kind": {
            k: {
                "n": len(v),
                "median": round(statistics.median(v), 2),
                "mean": round(statistics.fmean(v), 2),
            }
            for k, v in kinds.items()
            if v
        },
        "goal_us": 30,
        "goal_met": total / count <= 30,
    }


# -- the server child -----------------------------------------------------------------------------


def serve_main(ns: argparse.Namespace) -> None:
    import dataclasses
    import functools
    import logging

    import trio
    from common import unthrottled_quotas

    from driver.app import Realm, RealmConfig
    from driver.auth.accounts import ScryptParams, hash_password, new_account
    from driver.net.admission import ConnectionLimits
    from driver.server import serve
    from driver.store.accounts import MemoryAccountStore
    from sandbox.build import worldbuild

    raise_fd_limit(ns.clients * 2 + 256)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="jitrealm-bench-rooms-"))
    try:
        world = scratch / "world"
        (world / "rooms").mkdir(parents=True)
        shutil.copy(QUIZ, world / "rooms" / "quiz.json")
        # Where the players' bodies wait, ten to a nook (as loadgen's place_players
        # spreads them): everyone in one start room would hear 2,000 arrivals each.
        (world / "rooms" / "nook.json").write_text(json.dumps(NOOK))
        (world / "world.json").write_text('{"title": "Rooms", "start": "/rooms/nook"}')
        build = scratch / "build"
        result = worldbuild.build_world(
            world, build, wit_dir=ROOT / "wit", progress=None, quiet=True
        )
        if not result.ok:
            raise SystemExit(f"bench: the quiz failed to build: {result.failed}")
        cheap = ScryptParams(n=16, r=1, p=1)
        accounts = MemoryAccountStore()
        for index in range(ns.clients):
            accounts.create(new_account(player_name(index), hash_password(PASSWORD, cheap)))
        quotas, _ = unthrottled_quotas()
        # The tenant admits ns.clients connections at once (the default quota, 1,000,
        # would refuse half of the 2,000 the goal is about).
        quotas = dataclasses.replace(
            quotas, max_connections=max(quotas.max_connections, ns.clients + 64)
        )
        config = RealmConfig(
            world_dir=world,
            build_dir=build,
            data_dir=scratch / "var",
            kdf_params=cheap,
            quotas=quotas,
            connection_limits=ConnectionLimits.unlimited(),
        )

        profiler = None
        if os.environ.get("JITREALM_BENCH_PROFILE"):  # where to write the server's profile
            import cProfile

            profiler = cProfile.Profile()

        async def main() -> None:
            from driver.runtimes.declarative import DeclarativeRuntime

            realm = Realm(config, runtime=_NoWasm(), accounts=accounts)
            assert isinstance(realm.declarative, DeclarativeRuntime)
            problems = await realm.publish_all()
            if problems:
                raise SystemExit(f"bench: {problems}")
            from driver.world import ids

            nook = None
            for index in range(ns.clients):
                if index % ns.per_room == 0:
                    nook = await realm.tenant.clone("/rooms/nook")
                assert nook is not None
                body = realm.tenant.add_player(ids.player_id(player_name(index)), {})
                body.set("last_room", nook.id)
            async with trio.open_nursery() as nursery:
                telnet_port, http_port = await nursery.start(
                    functools.partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0))
                )
                pauses = Pauses()
                nursery.start_soon(pauses.watch)
                print(json.dumps({"http": http_port}), flush=True)
                if profiler is not None:
                    profiler.enable()
                stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
                pending = b""
                while chunk := await stdin.receive_some(4096):
                    pending += chunk
                    while b"\n" in pending:
                        order, _, pending = pending.partition(b"\n")
                        if order == b"report" and profiler is not None:
                            profiler.disable()
                            profiler.dump_stats(os.environ["JITREALM_BENCH_PROFILE"])
                        if order == b"mark":
                            pauses.reset()
                        if order == b"report":
                            rooms = realm.rooms.rooms
                            print(
                                json.dumps(
                                    {
                                        "rooms": len(rooms),
                                        "patches_sent": realm.rooms.patches_sent,
                                        "fuel_used": realm.tenant.budgets.fuel_used,
                                        # the loop's lateness over the window: a late loop is
                                        # a server that had no CPU (or a long GC)
                                        "pauses": pauses.summary(),
                                    }
                                ),
                                flush=True,
                            )
                nursery.cancel_scope.cancel()

        trio.run(main)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _NoWasm:
    """The rooms bench runs no WebAssembly: a runtime that admits nothing."""

    async def admit(self, code: bytes) -> str:
        from sandbox.protocol import AdmissionError

        raise AdmissionError("no WebAssembly in this benchmark")

    async def invoke(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no WebAssembly in this benchmark")

    def release(self, version: str) -> None:
        pass

    def sweep(self, idle_seconds: float = 60.0) -> None:
        pass


# -- the generator child ----------------------------------------------------------------------------


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class _Closed(Exception):
    """The server closed the connection (its reason, when it gave one)."""

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else "closed"


class _LightSocket:
    """A WebSocket client that is only as much as a benchmark's client needs (RFC 6455:
    the upgrade, masked frames out, whole messages in, pings answered, a close noticed),
    read by the caller's own task: trio-websocket's reader task and channel per
    connection cost the generators more than the server spends on a message, and with
    2,000 connections their run queues and CPU waits were most of the "patch latency"."""

    def __init__(self, stream: Any) -> None:
        import trio

        self.stream = stream
        self.buffer = bytearray()
        self.parts: list[bytes] = []
        self.sending = trio.Lock()  # a pong from the reader and an answer may meet

    @classmethod
    async def connect(cls, stream: Any, host: str, path: str, subprotocol: str) -> _LightSocket:
        key = base64.b64encode(os.urandom(16)).decode()
        await stream.send_all(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
            ).encode()
        )
        self = cls(stream)
        while b"\r\n\r\n" not in self.buffer:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise _Closed("no handshake answer")
            self.buffer += chunk
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise _Closed(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        self.buffer = bytearray(rest)
        return self

    async def send_message(self, text: str) -> None:
        async with self.sending:
            await self.stream.send_all(_masked(0x1, text.encode()))

    async def get_message(self) -> str:
        while True:
            frame = self._frame()
            if frame is None:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    raise _Closed("the connection ended")
                self.buffer += chunk
                continue
            fin, opcode, payload = frame
            if opcode == 0x9:  # ping: pong, or the server ends the session
                async with self.sending:
                    await self.stream.send_all(_masked(0xA, payload))
            elif opcode == 0x8:
                raise _Closed(payload[2:].decode(errors="replace") or "closed")
            elif opcode in (0x0, 0x1, 0x2):
                self.parts.append(payload)
                if fin:
                    message, self.parts = b"".join(self.parts), []
                    return message.decode()

    def _frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        size, start = buffer[1] & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                return None
            size, start = int.from_bytes(buffer[2:4], "big"), 4
        elif size == 127:
            if len(buffer) < 10:
                return None
            size, start = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < start + size:
            return None
        fin, opcode = bool(buffer[0] & 0x80), buffer[0] & 0x0F
        payload = bytes(buffer[start : start + size])
        del buffer[: start + size]
        return fin, opcode, payload


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client's frame: FIN, ``opcode``, and the payload masked (RFC 6455 5.3)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")


def generate_main(ns: argparse.Namespace) -> None:
    import trio

    raise_fd_limit(ns.count * 2 + 256)
    rng = random.Random(7 + ns.first)
    latencies: list[tuple[float, float]] = []  # (sent at, latency)
    errors: dict[str, int] = {}
    sent_times: list[float] = []
    skipped = 0

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    class Bot:
        def __init__(self, index: int) -> None:
            self.index = index
            self.seat = "/player/" + player_name(index)
            self.answers_path = f"/players/{_escape(self.seat)}/answers"
            self.ws: Any = None
            self.state: dict[str, Any] | None = None
            self.room: str | None = None
            self.text = ""
            self.waiters: dict[str, trio.Event] = {}
            self.inbox: dict[str, Any] = {}
            self.closed: str | None = None

        async def connect(self, nursery: Any, port: int) -> None:
            stream = await trio.open_tcp_stream(
                "127.0.0.1", port, local_address=source_address(self.index)
            )
            self.ws = await _LightSocket.connect(
                stream, f"127.0.0.1:{port}", "/ws", "json.jitrealm"
            )

        async def send(self, message: dict[str, Any]) -> None:
            await self.ws.send_message(json.dumps(message))

        async def wait(self, name: str) -> Any:
            while name not in self.inbox:
                if self.closed is not None:  # refused, or dropped: no answer will come
                    raise SystemExit(
                        f"bench: client {self.index} was closed waiting for {name}: {self.closed}"
                    )
                event = self.waiters.setdefault(name, trio.Event())
                await event.wait()
            return self.inbox.pop(name)

        async def reader(self, rooms: dict[str, Any]) -> None:
            try:
                while True:
                    message = json.loads(await self.ws.get_message())
                    kind = message["type"]
                    if kind == "text":
                        if "Obvious exits" in message["text"]:
                            self._note("logged-in", True)
                        continue
                    if kind != "event":
                        if kind == "error":
                            error(message.get("code", "error"))
                        continue
                    name, payload = message["name"], message["payload"]
                    if name == "room.patch":
                        self.on_patch(payload, rooms)
                    elif name == "room.joined":
                        self.state = payload["state"]
                        self.room = payload["room"]
                        self._note(name, payload)
                    elif name in ("room.created", "room.error"):
                        if name == "room.error":
                            error(payload.get("code", "room.error"))
                        self._note(name, payload)
            except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                error("closed")
                self.closed = exc.reason if isinstance(exc, _Closed) else repr(exc)
                for event in self.waiters.values():
                    event.set()

        def _note(self, name: str, payload: Any) -> None:
            self.inbox[name] = payload
            event = self.waiters.pop(name, None)
            if event is not None:
                event.set()

        def on_patch(self, patch: dict[str, Any], rooms: dict[str, Any]) -> None:
            state = self.state
            if state is None:
                return
            now = trio.current_time()
            pending = rooms.get(patch["room"], {})
            for op in patch["ops"]:
                path = op["path"]
                parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
                target = state
                for p in parts[:-1]:
                    target = target[p]
                if op["op"] == "remove":
                    target.pop(parts[-1], None)
                else:
                    target[parts[-1]] = op["value"]
                if path.endswith("/answers") and path.startswith("/players/"):
                    sent = pending.get((path, op["value"]))
                    if sent is not None:
                        latencies.append((sent, now - sent))

    async def main() -> None:
        nonlocal skipped
        bots = [Bot(ns.first + i) for i in range(ns.count)]  # this generator's whole rooms
        rooms: dict[str, dict[tuple[str, int], float]] = {}  # room -> (answers path, count) -> sent
        async with trio.open_nursery() as nursery:
            started = trio.current_time()
            limiter = trio.CapacityLimiter(64)

            async def login(bot: Bot) -> None:
                async with limiter:
                    await bot.connect(nursery, ns.http)
                    nursery.start_soon(bot.reader, rooms)
                    await bot.send(
                        {"type": "line", "text": f"connect {player_name(bot.index)} {PASSWORD}"}
                    )
                    await bot.wait("logged-in")

            async with trio.open_nursery() as logins:
                for bot in bots:
                    logins.start_soon(login, bot)
            login_seconds = trio.current_time() - started

            groups = [bots[i : i + ns.per_room] for i in range(0, len(bots), ns.per_room)]

            async def seat(group: list[Bot]) -> None:
                leader = group[0]
                await leader.send(
                    {
                        "type": "event",
                        "name": "room.create",
                        "payload": {
                            "blueprint": "/rooms/quiz",
                            "config": {**ROOM_CONFIG, "maxClients": len(group)},
                        },
                    }
                )
                room = (await leader.wait("room.created"))["room"]
                rooms[room] = {}
                for bot in group:
                    await bot.send(
                        {"type": "event", "name": "room.join", "payload": {"room": room}}
                    )
                    await bot.wait("room.joined")
                # Rooms start at their own moment, as rooms opened by people do: their 1 s
                # ticks are then spread over the second instead of all landing at once.
                await trio.sleep(rng.random())
                await leader.send(
                    {
                        "type": "event",
                        "name": "room.send",
                        "payload": {"room": room, "type": "start", "payload": {}},
                    }
                )

            async with trio.open_nursery() as seating:
                for group in groups:
                    seating.start_soon(seat, group)
            print(
                json.dumps(
                    {"ready": True, "login_seconds": round(login_seconds, 2), "rooms": len(groups)}
                ),
                flush=True,
            )

            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            line = b""
            while not line.endswith(b"\n"):
                line += await stdin.receive_some(256)
            start_wall = float(line.split()[1])
            start = trio.current_time() + (start_wall - time.time())
            window = start + ns.warmup
            end = window + ns.seconds
            tune_gc()
            pauses = Pauses()
            nursery.start_soon(pauses.watch)
            period = ns.clients / ns.rate  # each player's, whichever generator it is in

            async def pace(bot: Bot, offset: float) -> None:
                nonlocal skipped
                due = start + offset
                while due < end:
                    await trio.sleep_until(due)
                    due += period
                    state, room = bot.state, bot.room
                    if state is None or room is None:
                        continue
                    if state.get("phase") != "question":
                        if bot.index == 0 or state.get("phase") == "finished":
                            await bot.send(
                                {
                                    "type": "event",
                                    "name": "room.send",
                                    "payload": {"room": room, "type": "start", "payload": {}},
                                }
                            )
                        continue
                    me = state["players"].get(bot.seat)
                    if me is None or me["answered"] == state["round"]:
                        skipped += 1
                        continue
                    sent = trio.current_time()
                    rooms[room][(bot.answers_path, me["answers"] + 1)] = sent
                    sent_times.append(sent - window)
                    await bot.send(
                        {
                            "type": "event",
                            "name": "room.send",
                            "payload": {
                                "room": room,
                                "type": "answer",
                                "payload": {"choice": rng.randint(1, 4)},
                            },
                        }
                    )

            for i, bot in enumerate(bots):
                nursery.start_soon(pace, bot, period * (i / len(bots)))
            await trio.sleep_until(end + ns.drain)
            measured = [lat for sent, lat in latencies if window <= sent < end]
            print(
                json.dumps(
                    {
                        "result": True,
                        "latencies": [round(x, 5) for x in measured],
                        "answers_sent": sum(1 for t in sent_times if 0 <= t < ns.seconds),
                        "skipped_already_answered": skipped,
                        "errors": errors,
                        "cpu_seconds": time.process_time(),
                        "pauses": pauses.summary(),
                    }
                ),
                flush=True,
            )
            nursery.cancel_scope.cancel()

    trio.run(main)


# -- the orchestrator ------------------------------------------------------------------------------


def _slices(clients: int, per_room: int, generators: int) -> list[tuple[int, int]]:
    """(first client, count) for each generator: whole rooms each, as even as can be."""
    rooms = -(-clients // per_room)
    generators = max(1, min(generators, rooms))
    out: list[tuple[int, int]] = []
    first = 0
    for i in range(generators):
        take = (rooms * (i + 1) // generators - rooms * i // generators) * per_room
        count = min(take, clients - first)
        out.append((first, count))
        first += count
    return out


def load(ns: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(1024)
    server_cpu, generator_cpus, separate = plan_cpus()
    here = Path(__file__).resolve()
    children: list[subprocess.Popen[bytes]] = []
    log = tempfile.TemporaryFile()
    pin: dict[str, Any] = {"cpu": server_cpu}
    try:
        def child(args: list[str], cpus: set[int]) -> subprocess.Popen[bytes]:
            """This file again, in a role (``--serve``, ``--generate``), pinned to ``cpus``."""
            return subprocess.Popen(
                [sys.executable, str(here), *args, "--clients", str(ns.clients), "--per-room", str(ns.per_room)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT, preexec_fn=pinned_to(cpus),
            )  # fmt: skip

        server = child(["--serve"], {server_cpu})
        children.append(server)
        server_lines = LineReader(server, "the server")
        ports = server_lines.next(timeout=120)
        pin["ok_at_start"], pin["why"], _, _ = verify_pin(server.pid, server_cpu)
        gens: list[subprocess.Popen[bytes]] = []
        for first, count in _slices(ns.clients, ns.per_room, ns.generators):
            gens.append(
                child(
                    ["--generate", "--first", str(first), "--count", str(count), "--http", str(ports["http"]),
                     "--rate", str(ns.rate), "--seconds", str(ns.seconds), "--warmup", str(ns.warmup),
                     "--drain", str(ns.drain)],
                    set(generator_cpus),
                )
            )  # fmt: skip
            children.append(gens[-1])
        gen_lines = [LineReader(gen, f"generator {i}") for i, gen in enumerate(gens)]
        readies = [lines.next(timeout=600) for lines in gen_lines]
        ready = {
            "rooms": sum(r["rooms"] for r in readies),
            "login_seconds": max(r["login_seconds"] for r in readies),
        }
        time.sleep(1.0)
        start_wall = time.time() + 0.5
        for gen in gens:
            assert gen.stdin is not None
            gen.stdin.write(f"go {start_wall!r}\n".encode())
            gen.stdin.flush()
        time.sleep(max(0.0, start_wall + ns.warmup - time.time()))
        assert server.stdin is not None
        server.stdin.write(b"mark\n")
        server.stdin.flush()
        cpu_before = tree_cpu_seconds(server.pid)
        wait_before = run_delay_seconds(server.pid)
        gen_cpu_before = sum(tree_cpu_seconds(gen.pid) for gen in gens)
        gen_wait_before = sum(run_delay_seconds(gen.pid) for gen in gens)
        measured_from = time.monotonic()
        time.sleep(ns.seconds)
        cpu_after = tree_cpu_seconds(server.pid)
        wait_after = run_delay_seconds(server.pid)
        gen_cpu_after = sum(tree_cpu_seconds(gen.pid) for gen in gens)
        gen_wait_after = sum(run_delay_seconds(gen.pid) for gen in gens)
        measured = time.monotonic() - measured_from
        ok_end, why_end, _, _ = verify_pin(server.pid, server_cpu)
        results = [lines.next(timeout=ns.drain + 120) for lines in gen_lines]
        result = {
            "latencies": [x for r in results for x in r["latencies"]],
            "answers_sent": sum(r["answers_sent"] for r in results),
            "errors": {
                k: sum(r["errors"].get(k, 0) for r in results) for r in results for k in r["errors"]
            },
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in results), 2),
            "pauses": [r["pauses"] for r in results],
        }
        assert server.stdin is not None
        server.stdin.write(b"report\n")
        server.stdin.flush()
        report = server_lines.next(timeout=30)
        lifetime_cpu, lifetime_wall = tree_cpu_seconds(server.pid), age_seconds(server.pid)
    finally:
        for proc in reversed(children):
            stop(proc)
        log.seek(0)
        tail = [line for line in log.read().decode(errors="replace").splitlines() if line.strip()][
            -5:
        ]
        log.close()
    window_cpu = cpu_after - cpu_before
    pin["ok_at_end"] = ok_end
    pin["why"] = pin["why"] or why_end
    pin["cpu_within_one_core"] = within_one_core(window_cpu, measured) and within_one_core(
        lifetime_cpu, lifetime_wall
    )
    pin["ok"] = bool(pin["ok_at_start"] and ok_end and pin["cpu_within_one_core"])
    latencies = sorted(result["latencies"])

    def ms(q: float) -> float | None:
        return round(percentile(latencies, q) * 1000, 1) if latencies else None

    p99 = ms(99)
    return {
        "clients": ns.clients,
        "rooms": ready["rooms"],
        "players_per_room": ns.per_room,
        "login_seconds": ready["login_seconds"],
        "seconds": ns.seconds,
        "answers_offered_per_second": ns.rate,
        "answers_sent": result["answers_sent"],
        "answers_per_second": round(result["answers_sent"] / ns.seconds, 1),
        "patch_observations": len(latencies),
        "patch_latency_ms": {
            "p50": ms(50),
            "p90": ms(90),
            "p99": p99,
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
        "goal_p99_ms": 100,
        "goal_met": p99 is not None and p99 <= 100 and ns.clients >= 2000 and ready["rooms"] >= 200,
        "server_cpu_percent": round(100 * window_cpu / measured, 1),
        "cpu_wait_percent_server": round(100 * (wait_after - wait_before) / measured, 1),
        # The latency is read on the generators' side: their own work and waits count
        # too (CPU and waits summed over the generator processes, which share a CPU).
        "generators": len(gen_lines),
        "generators_cpu_percent": round(100 * (gen_cpu_after - gen_cpu_before) / measured, 1),
        "cpu_wait_percent_generators": round(
            100 * (gen_wait_after - gen_wait_before) / measured, 1
        ),
        "generator_pauses": result["pauses"],
        "server_pin": pin,
        "server_report": report,
        "generator_cpu_seconds": result["cpu_seconds"],
        "errors": result["errors"],
        "cpus": {"server": server_cpu, "generators": generator_cpus, "separate": separate},
        "server_log_tail": tail,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--http", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument(
        "--generators",
        type=int,
        default=4,
        help="client processes (default 4), each with whole rooms, all on the generators' CPU: "
        "one process with 2,000 connections adds its own run-queue waits to the latency",
    )
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--per-room", type=int, default=10)
    p.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="answers a second offered across all clients (default 200: each player answers about every 10 s)",
    )
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--drain", type=float, default=3.0)
    p.add_argument(
        "--events", type=int, default=30_000, help="events for the per-event measurement"
    )
    p.add_argument("--no-load", action="store_true", help="only the per-event measurement")
    ns = p.parse_args()
    if ns.serve:
        serve_main(ns)
        return
    if ns.generate:
        generate_main(ns)
        return
    out: dict[str, Any] = {"benchmark": "rooms", "per_event": per_event(ns.events)}
    if not ns.no_load:
        out["load"] = load(ns)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""Worker benchmark: the sandbox in worker processes against the sandbox in process.

Prints one JSON document; everything in it is measured in this run.

**Throughput** (``events_per_second``, ``ratio_to_inproc``). Tenants
(:class:`driver.tenancy.tenant.Tenant`, quotas with every rate budget raised
out of reach, ``rate_budgets_raised``) are served by
:class:`driver.tenancy.loop.Loop`, one trio task per tenant, exactly as the
server serves them. Each tenant has one object of the C blueprint
``/obj/spinner`` (``bench/worlds/workers/obj/spinner.c``), and an endless
chain of events: each event is that object's ``on-command`` (``spin N``)
run through :meth:`Tenant.run_hook` (the outcome applied, all or nothing),
and queues the next one with :meth:`Tenant.enqueue` when it is done, so a
tenant's events are strictly one after another, as the driver runs them.

* ``light``: ``spin 0``: one state-get, one state-set and a few hundred fuel
  per event (``fuel_per_event_mean.light``);
* ``heavy``: ``spin N`` with N calibrated in this run (``heavy_spin_rounds``)
  so that one event burns about a million fuel; ``fuel_per_event_mean.heavy``
  is the mean over every heavy event measured.

Each is run in process (``inproc``: :class:`driver.runtimes.inproc.InprocRuntime`)
and on a pool of one and of two sandbox worker processes (``workers_1``,
``workers_2``: :class:`driver.runtimes.workers.WorkerPool`, each with its
admission worker beside), for one tenant (``1_tenant``) and for eight
tenants served concurrently (``8_tenants``). Each mode's driver is a
process of its own (this file with ``--driver MODE``), started once and
given the windows to run one at a time, so a worker-mode driver is what
the server's is: it never imports wasmtime (``driver_imported_wasmtime``
checks). A figure is events completed by all the tenants of that
configuration inside a window of ``window_seconds`` (after a ramp of
``ramp_seconds`` with the same load), divided by the window's wall time;
an event whose hook failed (``failed_events``: a deadline missed while the
machine starved a process, say) is not counted. The configurations run in
short rounds, interleaved (each round in another order), after one warm-up
round; ``events_per_second`` is the median over ``rounds`` rounds (every
round's figure is in ``events_per_second_rounds``), and ``ratio_to_inproc``
divides the median of a configuration by the median of ``inproc`` with the
same guest and tenant count, so drift on the shared machine hits both
sides. ``two_inproc_processes`` (heavy, 8 tenants) is two in-process
drivers running the same window at the same time, their events added: what
the machine's cores give this CPU-bound load right now with no crossing at
all, the ceiling for ``workers_2``.

``cpu_us_per_event`` (medians over the rounds): ``driver`` is the CPU time
of the driver process (tenants, the loop, the pool's encoding and I/O, and
in process the guest too), ``workers`` the CPU time of the worker
processes that ran tenants (from /proc, 10 ms ticks), per event.
``pool_batching``: over every measured window of a configuration, the
invocations the pool sent, the messages and the frames (writes) that
carried them, and invocations per frame: more than one is calls of
different tenants crossing together. ``pool_stats`` is each pool's
:meth:`WorkerPool.stats` at the end.

**Player latency** (``player_latency_ms``). The real server, ``python -m
driver.cli run --sandbox workers --workers 2`` (its data, world and build in
a scratch directory: a copy of ``bench/worlds/workers`` and of its build),
in a subprocess on free 127.0.0.1 ports. A player connected over a real
telnet socket (:class:`loadgen.TelnetClient`) types ``ping <token>`` every
``player_period_ms`` on an open-loop schedule (:func:`loadgen.pace`); the
room's C ``on-command`` answers ``Pong: <token> (n)`` after a state-get, a
state-set and a say, and the latency is from writing the line to reading
that reply. A wizard on a second telnet session does the reloading. For each
window below, p50/p99/max are over the commands *sent* inside the window,
however late their reply came (a reply that never came counts as infinitely
late: the figure is then null and ``unanswered`` says how many):

* ``no_reload``: a window of ``seconds`` on the first server with nothing
  else going on (the baseline);
* ``python_reload``: from the wizard's ``reload /obj/greeter`` (after its
  source was edited with a fresh token, so it really recompiles with
  componentize-py in a child process and is admitted cold in a worker) to
  the new code answering the wizard's ``greet`` with that token;
  ``reload_seconds`` is that whole time, ``report_seconds`` until the
  wizard read the reload report, ``first_answer_ms`` the new version's
  first ``greet`` (in worker mode it loads the new component into the
  tenant's worker and instantiates it; the tenant's other events, the
  player's included, wait behind it); ``phases`` splits the window where the
  report says the publish began: ``compile`` (the build in a child
  process) and ``admit_swap_and_answer`` (admission in the admission
  worker, the swap, the report's commit and the first ``greet``);
* ``no_reload_watch``: the same baseline on the second server, run with
  ``--watch``;
* ``c_watch_reload``: ``c_reloads`` times in a row, ``obj/bell.c`` is
  rewritten with a fresh token and ``--watch`` rebuilds (zig) and reloads
  it; each window runs from the write to the wizard's ``ring`` being
  answered with the new token (``reload_seconds_each``); the latencies of
  all those windows are pooled (``seconds`` is their total).

What else was going on, per window: ``server_cpu_wait_ms`` is how long the
server's main thread was runnable but had no CPU (/proc schedstat: other
programs on the shared machine, or the compiler);
``client_loop_late_ms`` is how late this benchmark's own event loop woke
from 5 ms sleeps (a late client adds to the latencies it measures);
``loadavg_before`` is the machine's load when the run began.

**Goals** (``goals``, from the figures above): heavy guests, 8 tenants, 2
workers >= 1.7x in process; light guests, 8 tenants, the better worker
pool (``light_8_tenants_best``) >= 0.6x in process; light guests, one
tenant, the better pool (``light_1_tenant_best``) >= 0.35x; the player's
p99 during the Python reload and during the C reloads <= 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import loadgen
import trio
from common import ROOT, unthrottled_quotas

from driver.runtimes import Runtime
from driver.runtimes.inproc import InprocRuntime
from driver.runtimes.workers import WorkerPool
from driver.tenancy.loop import Loop
from driver.tenancy.output import Outbox
from driver.tenancy.tenant import Tenant
from driver.world.objects import MudObject
from sandbox.build import manifest as build_manifest
from sandbox.protocol import Hook

WORLD = ROOT / "bench" / "worlds" / "workers"
SPINNER = "/obj/spinner"
ACTOR = "/player/bench"
HEAVY_FUEL = 1_000_000
MODES = ("inproc", "workers_1", "workers_2")
GUESTS = ("light", "heavy")
TENANT_COUNTS = (1, 8)
PLAYER_PERIOD_S = 0.15  # under the telnet input limit of 10 lines a second
WIZARD_PASSWORD = "bench-" + secrets.token_hex(8)
PLAYER_PASSWORD = "benchmark"


def key(tenants: int) -> str:
    return "1_tenant" if tenants == 1 else f"{tenants}_tenants"


# -- throughput ---------------------------------------------------------------------------------


class NullOutput:
    """A tenant's Output that drops everything (the spinner says nothing)."""

    def text(self, player_id: str, text: str) -> None:
        pass

    def room_changed(self, player_id: str) -> None:
        pass

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        pass

    def release(self, outbox: Outbox) -> None:
        pass

    def wizard_notice(self, text: str) -> None:
        pass


class Stream:
    """One tenant's endless chain of events: ``spin <rounds>`` to its spinner,
    each event queueing the next when it is done (while ``running``)."""

    def __init__(self, tenant: Tenant, obj: MudObject) -> None:
        self.tenant = tenant
        self.obj = obj
        self.args: tuple[str, str, str] = (ACTOR, "spin", "0")
        self.running = False
        self.done = 0
        self.fuel = 0
        self.failures: list[str] = []

    async def event(self) -> None:
        outcome = await self.tenant.run_hook(self.obj, Hook.ON_COMMAND, self.args)
        if outcome is None or outcome.error is not None or outcome.result is not True:
            self.failures.append(str(outcome.error if outcome is not None else "nothing ran"))
        else:
            self.done += 1
            self.fuel += outcome.fuel_used
        if self.running:
            self.tenant.enqueue(self.event)


@dataclasses.dataclass
class Sample:
    """One window of one configuration (see :func:`measure`)."""

    events: int  # completed (the hook returned and was applied) inside the window
    seconds: float
    fuel: int
    driver_cpu: float  # this driver process's CPU seconds over the window
    worker_cpu: float  # the pool's tenant workers' CPU seconds over the window
    failures: list[str]  # events whose hook failed (not counted in events)
    invocations: int = 0
    messages: int = 0
    frames: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def worker_pids(pool: WorkerPool | None) -> list[int]:
    if pool is None:
        return []
    return [w.pid for w in pool.stats().workers if w.pid is not None]


def workers_cpu(pids: list[int]) -> float:
    return sum(loadgen.cpu_seconds(pid) for pid in pids)


async def measure(streams: list[Stream], pool: WorkerPool | None, ramp: float, seconds: float) -> Sample:
    """Run the streams' tenants on a Loop: ``ramp`` seconds, then a window
    of ``seconds``; then stop the chains and let every tenant go idle."""
    tenants = [s.tenant for s in streams]
    loop = Loop(tenants, announce=lambda text: None)
    pids = worker_pids(pool)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop.run)
        for s in streams:
            s.running = True
            s.tenant.enqueue(s.event)
        await trio.sleep(ramp)
        done0, fuel0 = sum(s.done for s in streams), sum(s.fuel for s in streams)
        stats0 = pool.stats() if pool is not None else None
        wcpu0, cpu0, t0 = workers_cpu(pids), time.process_time(), time.perf_counter()
        await trio.sleep(seconds)
        t1, cpu1, wcpu1 = time.perf_counter(), time.process_time(), workers_cpu(pids)
        stats1 = pool.stats() if pool is not None else None
        done1, fuel1 = sum(s.done for s in streams), sum(s.fuel for s in streams)
        for s in streams:
            s.running = False
        with trio.fail_after(60):
            while any(t.busy or t.in_event for t in tenants):
                await trio.sleep(0.002)
        nursery.cancel_scope.cancel()
    failures = [f for s in streams for f in s.failures]
    for s in streams:
        s.failures.clear()
    sample = Sample(done1 - done0, t1 - t0, fuel1 - fuel0, cpu1 - cpu0, wcpu1 - wcpu0, failures)
    if stats0 is not None and stats1 is not None:
        sample.invocations = stats1.invocations_sent - stats0.invocations_sent
        sample.messages = stats1.messages_sent - stats0.messages_sent
        sample.frames = stats1.frames_sent - stats0.frames_sent
    return sample


async def make_streams(runtime: Runtime, component: bytes, count: int) -> list[Stream]:
    quotas, _ = unthrottled_quotas()
    streams = []
    for n in range(count):
        tenant = Tenant(f"bench{n}", runtime, NullOutput(), quotas=quotas)
        await tenant.publish(SPINNER, component)
        obj = await tenant.find(SPINNER)
        assert obj is not None
        streams.append(Stream(tenant, obj))
    return streams


async def calibrate(stream: Stream) -> dict[str, int]:
    """The rounds of the spinner's loop for about HEAVY_FUEL fuel, and the
    fuel of ``spin 0``."""

    async def fuel(rounds: int) -> int:
        outcome = await stream.tenant.run_hook(stream.obj, Hook.ON_COMMAND, (ACTOR, "spin", str(rounds)))
        assert outcome is not None and outcome.error is None, outcome
        return outcome.fuel_used

    base = await fuel(0)
    probe = 100_000
    per_round = (await fuel(probe) - base) / probe
    return {"heavy_rounds": max(1, round((HEAVY_FUEL - base) / per_round)), "light_fuel": base}


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def driver_child(mode: str) -> None:
    """``--driver MODE``: one mode's driver (its own process, as the server
    is: in worker mode it never imports wasmtime), running the windows the
    parent orders, one JSON line of orders on stdin, one of results out."""
    build = loadgen.build_dir_for(WORLD)
    entries = build_manifest.load(build)
    component = (build / str(entries[SPINNER].component)).read_bytes()
    cache = build / "cache"
    async with trio.open_nursery() as nursery:
        pool: WorkerPool | None = None
        runtime: Runtime
        if mode == "inproc":
            runtime = InprocRuntime(cache_dir=cache)
        else:
            pool = runtime = WorkerPool(int(mode.removeprefix("workers_")), cache_dir=cache)
            await nursery.start(pool.run)
        streams = await make_streams(runtime, component, max(TENANT_COUNTS))
        say({"ready": True, "wasmtime_imported": "wasmtime" in sys.modules})
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        pending = b""
        while chunk := await stdin.receive_some(4096):
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                order = json.loads(line)
                if order["do"] == "calibrate":
                    say(await calibrate(streams[0]))
                elif order["do"] == "warm":
                    # The latency part's server loads every blueprint of the
                    # world from this compile cache: compile them here, once
                    # per machine (a Python guest takes seconds), not in its
                    # start-up.
                    for entry in entries.values():
                        if entry.component:
                            await runtime.admit((build / entry.component).read_bytes())
                    say({"warm": True})
                elif order["do"] == "run":
                    chosen = streams[: order["tenants"]]
                    for s in chosen:
                        s.args = (ACTOR, "spin", str(order["rounds"]))
                    sample = await measure(chosen, pool, order["ramp"], order["seconds"])
                    say(dataclasses.asdict(sample))
                elif order["do"] == "stats":
                    say(dataclasses.asdict(pool.stats()) if pool is not None else {})
        nursery.cancel_scope.cancel()


class Driver:
    """A :func:`driver_child` process, and how to give it orders."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--driver", mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
        )  # fmt: skip
        self.lines = loadgen.LineReader(self.proc, f"the {mode} driver")

    def ready(self) -> dict[str, Any]:
        return self.lines.next(timeout=300)

    def order(self, **order: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(order) + "\n").encode())
        self.proc.stdin.flush()

    def answer(self, timeout: float = 120) -> dict[str, Any]:
        return self.lines.next(timeout=timeout)

    def ask(self, timeout: float = 120, **order: Any) -> dict[str, Any]:
        self.order(**order)
        return self.answer(timeout)

    def stop(self) -> None:
        loadgen.stop(self.proc)


#: Two in-process drivers at once, each with its own 8 tenants: what the
#: machine's cores give a CPU-bound load right now, with no IPC at all.
TWO_INPROC = "two_inproc_processes"


def configurations() -> list[tuple[str, int, str]]:
    return [(g, t, m) for g in GUESTS for t in TENANT_COUNTS for m in MODES] + [("heavy", 8, TWO_INPROC)]


def bench_throughput(rounds: int, light_s: float, heavy_s: float, ramp: float) -> dict[str, Any]:
    drivers = {mode: Driver(mode) for mode in MODES}
    second = Driver("inproc")
    try:
        imported = {mode: d.ready()["wasmtime_imported"] for mode, d in drivers.items()}
        second.ready()
        drivers["workers_1"].ask(do="warm", timeout=600)
        calibration = drivers["inproc"].ask(do="calibrate")
        spin = {"light": 0, "heavy": calibration["heavy_rounds"]}
        window = {"light": light_s, "heavy": heavy_s}
        samples: dict[tuple[str, int, str], list[Sample]] = {c: [] for c in configurations()}
        order = configurations()
        for r in range(rounds + 1):  # round 0 warms everything up
            shift = (r * 5) % len(order)  # each round in another order
            for guest, tenants, mode in order[shift:] + order[:shift]:
                run = {"do": "run", "tenants": tenants, "rounds": spin[guest], "ramp": ramp, "seconds": window[guest]}
                if mode == TWO_INPROC:
                    drivers["inproc"].order(**run)
                    second.order(**run)
                    a, b = Sample(**drivers["inproc"].answer()), Sample(**second.answer())
                    got = Sample(a.events + b.events, max(a.seconds, b.seconds), a.fuel + b.fuel,
                                 a.driver_cpu + b.driver_cpu, 0.0, a.failures + b.failures)  # fmt: skip
                else:
                    got = Sample(**drivers[mode].ask(**run))
                if r:
                    samples[(guest, tenants, mode)].append(got)
        pool_stats = {mode: drivers[mode].ask(do="stats") for mode in MODES[1:]}
    finally:
        for d in [*drivers.values(), second]:
            d.stop()

    def median(values: Iterator[float]) -> float:
        return statistics.median(list(values))

    def table() -> dict[str, Any]:
        return {g: {key(t): {} for t in TENANT_COUNTS} for g in GUESTS}

    rates, rate_rounds, ratios, cpu, batching = table(), table(), table(), table(), table()
    failed: dict[str, Any] = {}
    fuel = dict.fromkeys(GUESTS, 0)
    events = dict.fromkeys(GUESTS, 0)
    for (guest, tenants, mode), runs in samples.items():
        k = key(tenants)
        rates[guest][k][mode] = round(median(s.rate for s in runs))
        rate_rounds[guest][k][mode] = [round(s.rate) for s in runs]
        cpu[guest][k][mode] = {"driver": round(median(s.driver_cpu / s.events * 1e6 for s in runs), 1)}
        if mode.startswith("workers"):
            cpu[guest][k][mode]["workers"] = round(median(s.worker_cpu / s.events * 1e6 for s in runs), 1)
            invocations, frames = sum(s.invocations for s in runs), sum(s.frames for s in runs)
            batching[guest][k][mode] = {
                "invocations": invocations,
                "messages": sum(s.messages for s in runs),
                "frames": frames,
                "invocations_per_frame": round(invocations / frames, 2) if frames else None,
            }
        failures = [f for s in runs for f in s.failures]
        if failures:
            failed[f"{guest}/{k}/{mode}"] = {"events": len(failures), "first": failures[0]}
        fuel[guest] += sum(s.fuel for s in runs)
        events[guest] += sum(s.events for s in runs)
    for guest in GUESTS:
        for tenants in TENANT_COUNTS:
            k = key(tenants)
            for mode in rates[guest][k]:
                if mode != "inproc":
                    ratios[guest][k][mode] = round(rates[guest][k][mode] / rates[guest][k]["inproc"], 3)
    return {
        "rounds": rounds,
        "window_seconds": window,
        "ramp_seconds": ramp,
        "heavy_spin_rounds": spin["heavy"],
        "fuel_per_event_mean": {g: round(fuel[g] / events[g]) for g in GUESTS},
        "events_per_second": rates,
        "ratio_to_inproc": ratios,
        "events_per_second_rounds": rate_rounds,
        "failed_events": failed,
        "cpu_us_per_event": cpu,
        "pool_batching": batching,
        "pool_stats": pool_stats,
        "driver_imported_wasmtime": imported,
    }


# -- player latency over a real socket ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``python -m driver.cli run --sandbox workers`` in a subprocess on free ports."""

    def __init__(self, world: Path, build: Path, data: Path, *extra: str) -> None:
        self.telnet = free_port()
        self.args = [
            sys.executable, "-m", "driver.cli", "run", "--admin", "off", "--data", str(data), "--world", str(world),
            "--build", str(build), "--telnet", f"127.0.0.1:{self.telnet}", "--http", f"127.0.0.1:{free_port()}",
            "--sandbox", "workers", "--workers", "2", *extra,
        ]  # fmt: skip
        self.lines: list[str] = []
        self.up = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            del self.lines[:-200]
            if " is up:" in line:
                self.up.set()

    async def start(self) -> None:
        env = dict(os.environ, JITREALM_ADMIN_PASSWORD=WIZARD_PASSWORD, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            self.args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=self._drain, daemon=True).start()
        with trio.move_on_after(180):
            while not self.up.is_set() and self.proc.poll() is None:
                await trio.sleep(0.05)
        if not self.up.is_set():
            self.stop()
            raise SystemExit("bench/workers.py: the server did not start:\n" + "\n".join(self.lines[-15:]))

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # a clean shutdown: workers reaped
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            loadgen.stop(self.proc)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Wizard:
    """The second telnet session: reads what it is told, line by line."""

    def __init__(self, client: loadgen.TelnetClient) -> None:
        self.client = client

    async def command(self, line: str, *markers: str, timeout: float = 30) -> str:
        await self.client.send_line(line)
        return await self.expect(*markers, timeout=timeout)

    async def expect(self, *markers: str, timeout: float = 30) -> str:
        """The first line that contains one of ``markers`` (consumed, with
        everything before it)."""
        buf = self.client.buf
        with trio.fail_after(timeout):
            while True:
                at = 0
                while (end := buf.find(b"\n", at)) >= 0:
                    line = buf[at:end].decode(errors="replace")
                    at = end + 1
                    if any(m in line for m in markers):
                        del buf[:at]
                        return line
                data = await self.client.receive()
                if not data:
                    raise SystemExit("bench/workers.py: the server closed the wizard's connection")
                buf += data


    async def rest(self, line: str) -> str:
        """``line`` and whatever else comes within a second (an error's details)."""
        with trio.move_on_after(1.0):
            while data := await self.client.receive():
                self.client.buf += data
        return line + "\n" + self.client.buf.decode(errors="replace")


async def connect(port: int, index: int, name: str, login: str) -> loadgen.TelnetClient:
    client = loadgen.TelnetClient(index, loadgen.Stats())
    client.name = name
    with trio.fail_after(60):
        await client.open(None, port)
        client.alive = True
        await client.wait_for(loadgen.LOGIN_PROMPT)
        await client.send_line(login)
        await client.wait_for(loadgen.ROOM_MARK)
    client.buf.clear()
    client.logged_in = True
    return client


class Player:
    """The player: ``ping <token>`` every PLAYER_PERIOD_S, open loop, inside
    :meth:`playing`; every command's send time and latency. The benchmark's
    own event loop is watched too (:class:`loadgen.Pauses`): a late loop here
    would show in the latencies without being the server's doing."""

    def __init__(self, client: loadgen.TelnetClient) -> None:
        self.client = client
        self.pauses = loadgen.Pauses()

    @contextlib.asynccontextmanager
    async def playing(self, seconds_max: float) -> AsyncIterator[None]:
        """The player types (and reads) for the body of the block; after it,
        the last replies have up to 10 s to arrive."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.client.reader)
            nursery.start_soon(self.pauses.watch)
            typing = trio.CancelScope()
            nursery.start_soon(self._type, seconds_max, typing)
            yield
            typing.cancel()
            with trio.move_on_after(10):
                while self.client.expected and self.client.alive:
                    await trio.sleep(0.02)
            nursery.cancel_scope.cancel()

    async def _type(self, seconds_max: float, scope: trio.CancelScope) -> None:
        start = trio.current_time()
        with scope:
            await loadgen.pace(
                [self.client], start, start + seconds_max, PLAYER_PERIOD_S, 1, "ping {token}", "Pong: {token} ("
            )

    def latencies(self, start: float, end: float) -> list[float]:
        """Latencies (s) of the commands sent in [start, end); inf: unanswered."""
        stats = self.client.stats
        answered = dict(zip(stats.sent_at, stats.latencies, strict=True))
        return [answered.get(t, math.inf) for t in stats.sent_times if start <= t < end]


class Window:
    """A measured stretch of time, and what got in the way meanwhile: the
    server's wait for a CPU, the benchmark's own loop lateness."""

    def __init__(self, server: Server, player: Player) -> None:
        self.server = server
        self.player = player
        self.start = trio.current_time()
        self.delay0 = loadgen.run_delay_seconds(server.pid)
        self.late0 = len(player.pauses.late)
        self.end = math.inf
        self.delay = 0.0
        self.late: list[float] = []

    def close(self, at: float | None = None) -> None:
        self.end = trio.current_time() if at is None else at
        self.delay = loadgen.run_delay_seconds(self.server.pid) - self.delay0
        self.late = self.player.pauses.late[self.late0 :]


def ms(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else round(value * 1000, 2)


def report(windows: list[Window]) -> dict[str, Any]:
    """The player's latency over the commands sent in ``windows`` (pooled)."""
    ordered = sorted(x for w in windows for x in w.player.latencies(w.start, w.end))
    late = sorted(x for w in windows for x in w.late)
    return {
        "commands": len(ordered),
        "unanswered": sum(1 for x in ordered if math.isinf(x)),
        "p50": ms(loadgen.percentile(ordered, 50)) if ordered else None,
        "p99": ms(loadgen.percentile(ordered, 99)) if ordered else None,
        "max": ms(ordered[-1]) if ordered else None,
        "seconds": round(sum(w.end - w.start for w in windows), 2),
        "server_cpu_wait_ms": round(sum(w.delay for w in windows) * 1000, 1),
        "client_loop_late_ms": {
            "p99": ms(loadgen.percentile(late, 99)) if late else None,
            "max": ms(late[-1]) if late else None,
        },
    }


def edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text()
    new, n = re.subn(pattern, replacement, text)
    assert n == 1, f"{path}: {pattern!r} not found"
    path.write_text(new)


def scratch_world(tmp: Path) -> tuple[Path, Path]:
    """A copy of the bench world and of its build (manifest and components),
    so the reloads can edit sources; its compile cache links to the real
    one's files (what is compiled anew here stays here)."""
    build_src = loadgen.build_dir_for(WORLD)
    world, build = tmp / "world", tmp / "build"
    shutil.copytree(WORLD, world, symlinks=True)
    for link in world.iterdir():  # include/ and lib/: relative links to world-src
        if link.is_symlink():
            target = (WORLD / link.name).resolve()
            link.unlink()
            link.symlink_to(target)
    entries = build_manifest.load(build_src)
    (build / "components").mkdir(parents=True)
    for entry in entries.values():
        if entry.component:
            shutil.copy2(build_src / entry.component, build / entry.component)
    build_manifest.save(build, world, entries)
    (build / "cache").mkdir()
    for cached in (build_src / "cache").glob("*.cwasm"):
        (build / "cache" / cached.name).symlink_to(cached)
    return world, build


def with_log(server: Server, result: dict[str, Any]) -> dict[str, Any]:
    """A window where a command went unanswered gets the server's last log
    lines (why, if the server said)."""
    for window in result.values():
        if window["unanswered"]:
            window["server_log_tail"] = server.lines[-8:]
    return result


async def login_both(server: Server) -> tuple[Player, Wizard]:
    name = loadgen.player_name(0)
    player = Player(await connect(server.telnet, 0, name, f"create {name} {PLAYER_PASSWORD}"))
    wizard = Wizard(await connect(server.telnet, 1, "admin", f"connect admin {WIZARD_PASSWORD}"))
    await wizard.command("goto /rooms/lab", "A bench lab")
    return player, wizard


async def python_reload_phase(tmp: Path, world: Path, build: Path, baseline_s: float) -> dict[str, Any]:
    """Server A: the baseline, then the wizard's reload of the Python greeter."""
    server = Server(world, build, tmp / "var-a")
    await server.start()
    try:
        player, wizard = await login_both(server)
        await wizard.command("clone /obj/greeter", "Cloned /obj/greeter")
        await wizard.command("greet", "Hello v0")
        async with player.playing(baseline_s + 600):
            await trio.sleep(1.0)  # the schedule settles
            baseline = Window(server, player)
            await trio.sleep(baseline_s)
            baseline.close()
            token = "v" + secrets.token_hex(4)
            edit(world / "obj" / "greeter.py", r'VERSION = "v0"', f'VERSION = "{token}"')
            reload = Window(server, player)
            line = await wizard.command(
                "reload /obj/greeter", "Reloaded /obj/greeter", "Compile error", "Cannot reload", timeout=400
            )
            if "Reloaded" not in line:
                raise SystemExit(f"bench/workers.py: the Python reload failed: {await wizard.rest(line)}")
            reported = trio.current_time()
            await wizard.command("greet", f"Hello {token}", timeout=30)
            reload.close()
            first_answer = reload.end - reported
        # The report says how long the publish (admission in a worker and
        # the swap) took; before it, the compile in a child process.
        admitted = re.search(r"admitted in ([0-9.]+) ms", line)
        compile_end = reported - (float(admitted.group(1)) / 1000 if admitted else 0.0)
        compiling, admitting = Window(server, player), Window(server, player)
        compiling.start, admitting.start = reload.start, compile_end
        compiling.close(compile_end)
        admitting.close(reload.end)
        result = report([reload])
        result["reload_seconds"] = result.pop("seconds")
        result["report_seconds"] = round(reported - reload.start, 2)
        result["first_answer_ms"] = ms(first_answer)
        result["phases"] = {
            name: {k: v for k, v in report([w]).items() if k in ("commands", "p99", "max", "seconds")}
            for name, w in (("compile", compiling), ("admit_swap_and_answer", admitting))
        }
        return with_log(server, {"no_reload": report([baseline]), "python_reload": result})
    finally:
        server.stop()


async def c_reload_phase(tmp: Path, world: Path, build: Path, baseline_s: float, reloads: int) -> dict[str, Any]:
    """Server B (--watch): a baseline, then ``reloads`` edits of the C bell."""
    server = Server(world, build, tmp / "var-b", "--watch")
    await server.start()
    try:
        player, wizard = await login_both(server)
        await wizard.command("clone /obj/bell", "Cloned /obj/bell")
        await wizard.command("ring", "Ding v0")
        windows: list[Window] = []
        async with player.playing(baseline_s + 60 * reloads):
            await trio.sleep(1.0)
            baseline = Window(server, player)
            await trio.sleep(baseline_s)
            baseline.close()
            bell = world / "obj" / "bell.c"
            for n in range(reloads):
                token = f"c{n}x{secrets.token_hex(3)}"
                window = Window(server, player)
                edit(bell, r'#define BELL_VERSION "[^"]*"', f'#define BELL_VERSION "{token}"')
                with trio.fail_after(60):
                    while True:
                        line = await wizard.command("ring", "Ding ", "[watch] /obj/bell:")
                        if "[watch] /obj/bell:" in line:
                            raise SystemExit(f"bench/workers.py: the watch rebuild failed: {await wizard.rest(line)}")
                        if f"Ding {token}" in line:
                            break
                        await trio.sleep(0.2)
                window.close()
                windows.append(window)
                await trio.sleep(1.1)  # a new mtime for the next edit, whatever the file system's resolution
        result = report(windows)
        result["c_reloads"] = reloads
        result["reload_seconds_each"] = [round(w.end - w.start, 2) for w in windows]
        return with_log(server, {"no_reload_watch": report([baseline]), "c_watch_reload": result})
    finally:
        server.stop()


async def bench_latency(baseline_s: float, c_reloads: int) -> dict[str, Any]:
    loadgen.raise_fd_limit(256)
    with tempfile.TemporaryDirectory(prefix="jitrealm-bench-workers-") as scratch:
        tmp = Path(scratch)
        world, build = scratch_world(tmp)
        result = await python_reload_phase(tmp, world, build, baseline_s)
        result.update(await c_reload_phase(tmp, world, build, baseline_s, c_reloads))
    return {
        "player_period_ms": round(PLAYER_PERIOD_S * 1000),
        "server": "python -m driver.cli run --sandbox workers --workers 2 (--watch for c_watch_reload)",
        "player_latency_ms": result,
    }


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description="Worker benchmark: throughput and reload latency; prints JSON.")
    p.add_argument("--rounds", type=int, default=8, help="measured rounds of every configuration (default 8)")
    p.add_argument("--light-seconds", type=float, default=0.4, help="window of a light round (default 0.4)")
    p.add_argument("--heavy-seconds", type=float, default=0.8, help="window of a heavy round (default 0.8)")
    p.add_argument("--ramp", type=float, default=0.1, help="seconds of load before each window (default 0.1)")
    p.add_argument("--baseline-seconds", type=float, default=8.0, help="no-reload window (default 8)")
    p.add_argument("--c-reloads", type=int, default=6, help="C rebuilds by --watch (default 6)")
    p.add_argument("--driver", choices=MODES, help=argparse.SUPPRESS)  # a child: one mode's driver
    ns = p.parse_args()
    if ns.rounds < 1 or ns.c_reloads < 1:
        p.error("--rounds and --c-reloads must be at least 1")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from driver.server import _tune_gc

    _tune_gc()  # as `jitrealm run` does
    if ns.driver:
        trio.run(driver_child, ns.driver)
        return
    started = time.perf_counter()
    loadgen.build_world(WORLD)  # incremental: nothing to do unless a source or the SDK changed
    built = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "workers",
        "cpus": os.cpu_count(),
        "loadavg_before": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
        "rate_budgets_raised": unthrottled_quotas()[1],
    }
    result.update(bench_throughput(ns.rounds, ns.light_seconds, ns.heavy_seconds, ns.ramp))
    result.update(trio.run(bench_latency, ns.baseline_seconds, ns.c_reloads))
    result["world_build_seconds"] = round(built - started, 1)
    result["seconds"] = round(time.perf_counter() - started, 1)

    ratios = result["ratio_to_inproc"]
    best8 = max(MODES[1:], key=lambda m: ratios["light"]["8_tenants"][m])
    best1 = max(MODES[1:], key=lambda m: ratios["light"]["1_tenant"][m])
    latency = result["player_latency_ms"]
    py99, c99 = latency["python_reload"]["p99"], latency["c_watch_reload"]["p99"]
    result["goals"] = {
        "heavy_8_tenants_2_workers_ge_1.7x_inproc": ratios["heavy"]["8_tenants"]["workers_2"] >= 1.7,
        "light_8_tenants_best": best8,
        "light_8_tenants_workers_ge_0.6x_inproc": ratios["light"]["8_tenants"][best8] >= 0.6,
        "light_1_tenant_best": best1,
        "light_1_tenant_workers_ge_0.35x_inproc": ratios["light"]["1_tenant"][best1] >= 0.35,
        "player_p99_python_reload_le_50ms": py99 is not None and py99 <= 50,
        "player_p99_c_watch_reload_le_50ms": c99 is not None and c99 <= 50,
    }
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

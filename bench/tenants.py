"""Two tenants on one server: what tenant A's players feel while tenant B's
world code burns everything its quotas let it, and whether B's fuel stays
within its fuel-per-second quota. Prints one JSON document (about 1.5
minutes; ``--quick``: a smoke run of about 30 s whose figures mean little).

**The server** is the real one, as an operator starts it (started, pinned
and verified by :mod:`hostile`'s helpers): ``python -m driver.cli run
--sandbox workers`` (``--workers`` left at its default unless given) with
``--world tests/worlds/basic`` (tenant A: the server's default world,
``demo``), a scratch data directory, free 127.0.0.1 ports for telnet and
HTTP, and the admin API on ``--admin 127.0.0.1:<a free port>`` with its root
token from ``JITREALM_ROOT_TOKEN``. It is pinned to the CPU other programs
used least over the 2 s before the start (the pin is verified at the start
and at the end); this process and its clients run on the other CPU(s).

**Tenant B** is made at run time through the admin API, as an operator and
an author would: the root token creates the tenant ``tenant-b`` with its
quotas (``b.quotas_set``: ``fuel_per_second`` 100 M (``--fuel-per-second``),
``max_objects`` 200 (``--max-objects``), and ``quarantine_strikes`` raised
out of reach so that B's objects are never quarantined: the fuel budget, not
a quarantine, is what must hold B here; every other quota is the default),
makes an author token of B, and the author publishes B's four components
(``bench/worlds/tenant_b``, built with the project's toolchain into
``build/bench-worlds/tenant_b``; ``/obj/*`` first, ``/rooms/start`` last)
with that token. B's start room, when it loads (B's first player logs in),
clones B's attackers: four ``/obj/burner`` (a 100 ms heartbeat that burns
its whole per-call fuel, 50 M, every tick: 2 G fuel/s wanted, 20 x the
quota), one ``/obj/storm`` (each callout schedules two more) and one
``/obj/cloner`` (each clone's on-load clones two more, until B's object
quota refuses).

**The clients** are real telnet connections (:class:`hostile.Bystander`:
kernel receive timestamps, open loop, answers matched in order). Two players
of A stand in A's start room, each typing one command every ``--interval``
(0.1 s) seconds for the whole run, the second offset by half an interval:
``look`` (answered by the driver alone: the room's guest code takes only
``count``/``recall``), timed to its ``Obvious exits`` line, and ``recall``
(answered by the room's guest ``on-command``: a sandbox call, in the sandbox
workers B's code runs in too), timed to its ``recalled`` line. B's player
logs in on the same shared port with ``world tenant-b`` before ``create``.

**Phases**, one after another: a warm-up (``--warmup``, 3 s, not measured);
``a_alone`` (``--window``, 30 s); ``a_with_b``: B's player logs in (time 0:
just before ``create`` is written, which loads B's start room and starts its
load), and A is measured for ``--window`` seconds from then; ``a_after_b``:
B is suspended through the API (its player disconnected, its events
stopped) and A is measured again for ``--after`` (10 s) seconds. B's and
A's usage are read from the API's usage endpoint about once a second
throughout, at random moments (see :class:`UsagePoller`: not in step with
A's commands).

**Keys.** Times are milliseconds (``_ms``) or seconds (``_s``/``seconds``).

* ``goals``: ``a_p99_with_b_le_1.5x_alone``: for each of A's commands, the
  p99 of ``a_with_b`` is at most 1.5 x the p99 of ``a_alone`` and no command
  of either went unanswered; ``b_fuel_le_1.1x_quota``:
  ``b.fuel.steady_vs_quota`` <= 1.1; ``all``: both.
* ``phases.<phase>``: ``window_seconds``; ``a.<command>``: the commands
  written inside the window: ``samples``, ``skipped`` (not written, this
  process having had no CPU for an interval), ``p50``/``p99``/``max``
  (nearest rank, ms, from writing the command to the kernel receiving its
  answer, however late it came), ``unanswered``, ``slowest`` (the three
  slowest as [s into the window when written, ms, ms of the server's core
  other programs used meanwhile, ms the driver's loop thread waited for a
  CPU, ms this client waited]), ``client_lag_p99_ms`` (how late this
  process wrote them); ``server_cpu_percent`` (``driver`` and ``workers``:
  CPU time over the window / its length), ``driver_cpu_wait_percent`` (the
  window's share the driver's main thread was runnable without a CPU),
  ``server_core_used_by_others_percent`` (other programs on the server's
  core: noise, not the server), ``client_cpu_wait_percent``;
  ``b_fuel_per_second`` and ``a_fuel_per_second`` (each tenant's fuel_used
  delta between the usage samples nearest the window's ends / the seconds
  between them). ``a_with_b`` adds ``a_first_<settle>s`` and
  ``a_after_<settle>s`` (the same for the commands written in the first
  ``settle`` seconds, while B's bucket still held its burst and the clone
  storm ran, and in the rest) and ``b_login_ms`` (B's player's ``create``
  to its room: B's start room loaded); ``a_after_b`` adds
  ``b_player_disconnected_s`` (from the suspend request to the server
  closing B's player's connection; null: it did not).
* ``ratios``: per command, ``p99_with_b_over_alone`` and
  ``p50_with_b_over_alone``.
* ``b``: ``tenant``, ``quotas_set``, ``published`` (each blueprint's
  version as the API answered), ``fuel``: ``quota_per_second``;
  ``steady_per_second`` (fuel_used delta / seconds between the usage
  samples nearest ``a_with_b``'s ``settle`` s and its end: the bucket's
  burst of ``budget_burst_seconds`` x the rate (2 s) is spent by then) and
  ``steady_vs_quota`` (its ratio to the quota: the goal's figure);
  ``window_per_second`` and ``window_vs_quota`` (the whole ``a_with_b``
  window, burst included: at most (W + 2) / W of the quota by design);
  ``fuel_wait_seconds`` (the usage's time B's timers were held back for
  fuel debt over the window, summed over the timers: several timers held
  at once add up, so it can exceed the window); ``api_fuel_per_second_max`` (the largest of the usage
  endpoint's own sliding ``fuel_per_second`` in the steady part);
  ``after_suspend`` (fuel_used delta over ``a_after_b``: 0 once its events
  stopped). ``objects_max`` (the most objects B had: its object quota
  stops the clone storm), ``callouts_pending_max``, ``errors_by_kind``
  (the usage's count at the end of ``a_with_b``), ``quarantines`` (what the
  API listed at the end: empty, quarantine being out of reach),
  ``usage_samples``/``usage_failures``.
* ``a``: ``tenant``, ``commands`` and ``every_seconds``.
* ``server``: the command, its verified ``pin``, ``alive_at_end``;
  ``server_log``: lines, tracebacks and the last lines.
* ``loadavg_before``/``loadavg_after`` (1, 5, 15 min), ``warnings``: where
  a figure is noisy (other programs on the server's core, this client
  starved, a p99 that is a single sample), ``run_seconds``.

A p99 over a 30 s window at 10 commands a second is the third-worst of ~300
answers: a few late answers move it (``warnings`` says so and ``slowest``
shows what else had the CPU then).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loadgen
from common import ROOT, build_guests
from hostile import (
    ROOM_MARK,
    Bystander,
    Connection,
    Stalls,
    check_pin_at_end,
    cpu_split,
    log_in,
    ms,
    plan_cpus,
    start_server,
    wait_for_ports,
)

from driver.admin.client import ApiError, Client, quote_path

WORLD_A = ROOT / "tests" / "worlds" / "basic"
WORLD_B = ROOT / "bench" / "worlds" / "tenant_b"
TENANT_A = "demo"  # the server's default tenant
TENANT_B = "tenant-b"
API = "/api/v1"
# A's commands: (name, line, the marker of its answer)
COMMANDS: list[tuple[str, bytes, bytes]] = [("look", b"look", ROOM_MARK), ("recall", b"recall", b"recalled ")]
ADDRESSES = {"look": "127.0.0.2", "recall": "127.0.0.3", "b": "127.0.0.5"}
PLAYERS = {"look": "alpha", "recall": "bravo", "b": "intruder"}
GOAL_P99_FACTOR = 1.5
GOAL_FUEL_FACTOR = 1.1
NOISY_PERCENT = 10.0


# -- the admin API ------------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_api(client: Client, proc: Any, err: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiError):
            if client.get("/healthz").get("status") == "ok":
                return
        if proc.poll() is not None:
            raise SystemExit(f"bench/tenants.py: the server exited ({proc.returncode}):\n"
                             f"{err.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise SystemExit(f"bench/tenants.py: the admin API did not answer within {timeout:g} s")


def set_up_tenant_b(root: Client, quotas: dict[str, float], components: dict[str, bytes]) -> tuple[str, dict[str, Any]]:
    """Create B with ``quotas`` (root), make its author token, and publish
    ``components`` as that author; returns the author token and what the
    API answered."""
    created = root.request("POST", f"{API}/tenants", json_body={"name": TENANT_B, "quotas": quotas})
    token = root.post(f"{API}/tenants/{TENANT_B}/tokens", {"role": "author", "label": "bench/tenants.py"})
    author = Client(root.server, token["token"], timeout=root.timeout)
    published: dict[str, Any] = {}
    for path in sorted(components, key=lambda p: (p.startswith("/rooms/"), p)):
        answer = author.request("POST", f"{API}/tenants/{TENANT_B}/blueprints/{quote_path(path)}/versions",
                                data=components[path], content_type="application/wasm")
        published[path] = answer.get("version", answer) if isinstance(answer, dict) else answer
    return token["token"], {"created": created, "published": published}


@dataclass
class UsageSample:
    at: float  # trio's clock, halfway through the request
    usage: dict[str, Any]


@dataclass
class UsagePoller:
    """A tenant's usage endpoint, read about every ``every`` seconds (the
    blocking client runs in a thread), each wait drawn at random between
    half and one and a half ``every``. Polled at a fixed period, the reads
    were in step with A's commands (both paced by this process's clock),
    and each request holds the server's loop for a millisecond or two: the
    same command of A's collided with a usage read every second, so the
    benchmark measured its own monitoring, not B."""

    client: Client
    tenant: str
    every: float = 1.0
    samples: list[UsageSample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def read(self) -> UsageSample | None:
        import trio

        before = trio.current_time()
        try:
            usage = await trio.to_thread.run_sync(self.client.get, f"{API}/tenants/{self.tenant}/usage")
        except ApiError as exc:
            self.failures.append(str(exc)[:200])
            return None
        sample = UsageSample((before + trio.current_time()) / 2, usage)
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        import trio

        while True:
            start = trio.current_time()
            await self.read()
            await trio.sleep_until(start + self.every * random.uniform(0.5, 1.5))

    def nearest(self, t: float) -> UsageSample | None:
        return min(self.samples, key=lambda s: abs(s.at - t), default=None)

    def between(self, start: float, end: float) -> list[UsageSample]:
        return [s for s in self.samples if start <= s.at <= end]

    def delta(self, key: str, start: float, end: float) -> tuple[float, float] | None:
        """(change of the counter ``key``, seconds) between the samples
        nearest ``start`` and ``end``."""
        a, b = self.nearest(start), self.nearest(end)
        if a is None or b is None or b.at <= a.at:
            return None
        return float(b.usage[key]) - float(a.usage[key]), b.at - a.at

    def rate(self, key: str, start: float, end: float) -> float | None:
        found = self.delta(key, start, end)
        return found[0] / found[1] if found is not None else None


# -- phases -------------------------------------------------------------------------------------


@dataclass
class Window:
    """One measured stretch: its ends and the server's counters at both."""

    start: float
    end: float = math.nan
    counters: dict[str, tuple[float, float]] = field(default_factory=dict)


def counters(pid: int) -> dict[str, float]:
    driver, workers = cpu_split(pid)
    return {"driver": driver, "workers": workers, "driver_wait": loadgen.run_delay_seconds(pid),
            "client_wait": loadgen.run_delay_seconds(os.getpid())}


async def measured(pid: int, seconds: float, before: Callable[[], Any] | None = None) -> Window:
    """A window of ``seconds`` from now (after ``before``, if given, has
    been started: it runs inside the window)."""
    import trio

    first = counters(pid)
    window = Window(trio.current_time())
    if before is not None:
        await before()
    await trio.sleep_until(window.start + seconds)
    window.end = trio.current_time()
    last = counters(pid)
    window.counters = {k: (first[k], last[k]) for k in first}
    return window


def percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole > 0 else None


def rounded(x: float | None, digits: int = 0) -> float | None:
    return None if x is None else round(x, digits)


def command_summary(by: Bystander, start: float, end: float, origin: float, stalls: Stalls) -> dict[str, Any]:
    summary = by.summary(start, end, origin, stalls)
    summary["client_lag_p99_ms"] = summary.pop("_lag_p99")
    return summary


def phase_report(window: Window, bystanders: dict[str, Bystander], stalls: Stalls,
                 a_usage: UsagePoller, b_usage: UsagePoller) -> dict[str, Any]:
    wall = window.end - window.start
    spent = {k: b - a for k, (a, b) in window.counters.items()}
    seen = stalls.during(window.start, window.end)
    return {
        "window_seconds": round(wall, 1),
        "a": {name: command_summary(by, window.start, window.end, window.start, stalls)
              for name, by in bystanders.items()},
        "server_cpu_percent": {"driver": percent(spent["driver"], wall), "workers": percent(spent["workers"], wall)},
        "driver_cpu_wait_percent": percent(spent["driver_wait"], wall),
        "server_core_used_by_others_percent": percent(seen["others"], wall) if seen is not None else None,
        "client_cpu_wait_percent": percent(spent["client_wait"], wall),
        "a_fuel_per_second": rounded(a_usage.rate("fuel_used", window.start, window.end)),
        "b_fuel_per_second": rounded(b_usage.rate("fuel_used", window.start, window.end)),
    }


def b_fuel_report(window: Window, settle: float, after: Window, b_usage: UsagePoller,
                  quota: float) -> dict[str, Any]:
    steady = b_usage.rate("fuel_used", window.start + settle, window.end)
    whole = b_usage.rate("fuel_used", window.start, window.end)
    waited = b_usage.delta("fuel_wait_seconds", window.start, window.end)
    stopped = b_usage.delta("fuel_used", after.start, after.end)
    in_steady = b_usage.between(window.start + settle, window.end)
    return {
        "quota_per_second": quota,
        "steady_per_second": rounded(steady),
        "steady_vs_quota": round(steady / quota, 3) if steady is not None else None,
        "steady_seconds": round(window.end - window.start - settle, 1),
        "window_per_second": rounded(whole),
        "window_vs_quota": round(whole / quota, 3) if whole is not None else None,
        "fuel_wait_seconds": round(waited[0], 2) if waited is not None else None,
        "api_fuel_per_second_max": rounded(max((float(s.usage["fuel_per_second"]) for s in in_steady),
                                               default=None)),
        "after_suspend": rounded(stopped[0]) if stopped is not None else None,
    }


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Run:
    """What the phases share."""

    ns: argparse.Namespace
    telnet_port: int
    server_pid: int
    root: Client
    b_author: Client
    stalls: Stalls
    report: dict[str, Any] = field(default_factory=dict)


async def a_players(nursery: Any, run: Run) -> dict[str, Bystander]:
    """A's two players, logged in, each typing its command from now on."""
    import trio

    bystanders: dict[str, Bystander] = {}
    for index, (name, line, marker) in enumerate(COMMANDS):
        conn = await log_in(nursery, run.telnet_port, ADDRESSES[name], PLAYERS[name],
                            "tb-" + secrets.token_hex(12), create=True)
        conn.detach()  # from here the bystander reads the connection
        by = Bystander(conn.stream, run.ns.interval, line, marker)
        nursery.start_soon(by.reader)
        bystanders[name] = by

        async def pace(by: Bystander = by, offset: float = index * run.ns.interval / len(COMMANDS)) -> None:
            await trio.sleep(offset)
            await by.pace(math.inf)

        nursery.start_soon(pace)
    return bystanders


async def b_player_login(nursery: Any, run: Run) -> tuple[Connection, float]:
    """B's player logs in (loading B's start room: B's load starts);
    returns its connection and the ms to its room."""
    import trio

    started = trio.current_time()
    conn = await log_in(nursery, run.telnet_port, ADDRESSES["b"], PLAYERS["b"], "tb-" + secrets.token_hex(12),
                        create=True, world=TENANT_B)
    return conn, ms(conn.arrival(len(conn.text)) - started)


async def phases(run: Run) -> None:
    import trio

    ns = run.ns
    a_usage = UsagePoller(run.root, TENANT_A)
    b_usage = UsagePoller(run.b_author, TENANT_B)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run.stalls.run)
        bystanders = await a_players(nursery, run)
        nursery.start_soon(a_usage.run)
        nursery.start_soon(b_usage.run)
        await trio.sleep(ns.warmup)

        alone = await measured(run.server_pid, ns.window)
        login: dict[str, Any] = {}

        async def start_b() -> None:
            login["conn"], login["ms"] = await b_player_login(nursery, run)

        with_b = await measured(run.server_pid, ns.window, start_b)
        await b_usage.read()  # B's usage at the end of its load
        errors_at_end = b_usage.samples[-1].usage.get("errors_by_kind") if b_usage.samples else None

        async def suspend_b() -> None:
            await trio.to_thread.run_sync(functools.partial(
                run.root.post, f"{API}/tenants/{TENANT_B}/suspend", {"reason": "bench/tenants.py: load over"}))
            await b_usage.read()

        after = await measured(run.server_pid, ns.after, suspend_b)
        await b_usage.read()
        b_conn: Connection = login["conn"]
        # The commands written up to now get their answers (at most 5 s more).
        with trio.move_on_after(5):
            while any(by.waiting and by.closed_at is None for by in bystanders.values()):
                await trio.sleep(0.05)
        quarantines = await trio.to_thread.run_sync(run.b_author.get, f"{API}/tenants/{TENANT_B}/quarantines")
        nursery.cancel_scope.cancel()

    settle = min(ns.settle, ns.window / 2)
    report = run.report
    report["phases"] = {
        "a_alone": phase_report(alone, bystanders, run.stalls, a_usage, b_usage),
        "a_with_b": phase_report(with_b, bystanders, run.stalls, a_usage, b_usage) | {
            f"a_first_{settle:g}s": {name: command_summary(by, with_b.start, with_b.start + settle, with_b.start,
                                                           run.stalls) for name, by in bystanders.items()},
            f"a_after_{settle:g}s": {name: command_summary(by, with_b.start + settle, with_b.end, with_b.start,
                                                           run.stalls) for name, by in bystanders.items()},
            "b_login_ms": login.get("ms"),
        },
        "a_after_b": phase_report(after, bystanders, run.stalls, a_usage, b_usage) | {
            "b_player_disconnected_s": round(b_conn.closed_at - after.start, 2) if b_conn.closed_at else None,
        },
    }
    in_load = b_usage.between(with_b.start, with_b.end)
    report["b"] |= {
        "fuel": b_fuel_report(with_b, settle, after, b_usage, ns.fuel_per_second),
        "objects_max": max((int(s.usage["objects"]) for s in in_load), default=None),
        "callouts_pending_max": max((int(s.usage["callouts_pending"]) for s in in_load), default=None),
        "errors_by_kind": errors_at_end,
        "quarantines": quarantines.get("quarantines") if isinstance(quarantines, dict) else quarantines,
        "usage_samples": len(b_usage.samples),
        "usage_failures": b_usage.failures[:5],
    }
    report["a_usage_failures"] = a_usage.failures[:5]


def goals(report: dict[str, Any]) -> dict[str, bool]:
    alone, with_b = report["phases"]["a_alone"]["a"], report["phases"]["a_with_b"]["a"]
    ratios: dict[str, Any] = {}
    ok = True
    for name, _, _ in COMMANDS:
        x, y = alone[name], with_b[name]
        good = x["p99"] is not None and y["p99"] is not None and x["unanswered"] == 0 and y["unanswered"] == 0
        ok = ok and good and y["p99"] <= GOAL_P99_FACTOR * x["p99"]
        ratios[name] = {
            "p99_with_b_over_alone": round(y["p99"] / x["p99"], 2) if good and x["p99"] > 0 else None,
            "p50_with_b_over_alone": round(y["p50"] / x["p50"], 2) if good and x["p50"] > 0 else None,
        }
    report["ratios"] = ratios
    fuel = report["b"]["fuel"]["steady_vs_quota"]
    result = {"a_p99_with_b_le_1.5x_alone": ok,
              "b_fuel_le_1.1x_quota": fuel is not None and fuel <= GOAL_FUEL_FACTOR}
    return result | {"all": all(result.values())}


def warnings(report: dict[str, Any]) -> list[str]:
    found = []
    phases = report.get("phases", {})
    noisy = sorted(n for n, p in phases.items() if (p.get("server_core_used_by_others_percent") or 0) > NOISY_PERCENT)
    if noisy:
        found.append(f"other programs used more than {NOISY_PERCENT:g}% of the server's core during "
                     f"{', '.join(noisy)}: latencies there include their time (`slowest` says how much)")
    starved = sorted(f"{n}/{c}" for n, p in phases.items() for c, s in p.get("a", {}).items()
                     if s["skipped"] > 0.1 * (s["samples"] + s["skipped"]))
    if starved:
        found.append(f"this client skipped more than 10% of its commands ({', '.join(starved)}): it had no CPU")
    samples = min((s["samples"] for p in phases.values() for s in p.get("a", {}).values()), default=0)
    if samples < 200:
        found.append(f"a p99 over {samples} samples is one of the few slowest answers: a single late answer "
                     "moves it, and the p99 goal with it")
    load = report.get("loadavg_before", [0])[0]
    if load > (os.cpu_count() or 1):
        found.append(f"the machine's 1-minute load average was {load} before the run (more than its CPUs)")
    return found


def run(ns: argparse.Namespace) -> dict[str, Any]:
    import trio

    loadgen.build_world(WORLD_A)
    components = build_guests(WORLD_B, loadgen.build_dir_for(WORLD_B))
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    server_cpu, client_cpus, busy_before = plan_cpus()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, set(client_cpus))
    root_token = "tb-root-" + secrets.token_hex(16)
    admin_port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="jitrealm-tenants-"))
    ns.world = WORLD_A
    proc, out, err, command = start_server(ns, scratch, "tb-" + secrets.token_hex(12), server_cpu,
                                           extra_args=["--admin", f"127.0.0.1:{admin_port}"],
                                           extra_env={"JITREALM_ROOT_TOKEN": root_token})
    pin: dict[str, Any] = {"cpu": server_cpu, "client_cpus": client_cpus, "cpu_busy_percent_before": busy_before}
    quotas = {"fuel_per_second": ns.fuel_per_second, "max_objects": ns.max_objects,
              "quarantine_strikes": 1_000_000_000}
    report: dict[str, Any] = {"b": {"tenant": TENANT_B, "quotas_set": quotas}}
    started = time.monotonic()
    alive = False
    try:
        telnet_port = wait_for_ports(proc, out, err, 300)
        root = Client(f"http://127.0.0.1:{admin_port}", root_token, timeout=30)
        wait_for_api(root, proc, err, 60)
        pin["ok_at_start"], pin["why"], pin["processes_at_start"], pin["threads_at_start"] = loadgen.verify_pin(
            proc.pid, server_cpu)
        author_token, answers = set_up_tenant_b(root, quotas, components)
        report["b"]["published"] = answers["published"]
        state = Run(ns, telnet_port, proc.pid, root, Client(root.server, author_token, timeout=30),
                    Stalls(proc.pid, server_cpu), report)
        trio.run(phases, state)
        check_pin_at_end(proc.pid, server_cpu, pin)
        alive = proc.poll() is None
    finally:
        loadgen.stop(proc)
        log_text = err.read_text(errors="replace") if err.exists() else ""
        if ns.keep:
            print(f"bench/tenants.py: kept {scratch} (the server's data and log)", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    report["loadavg_before"] = load_before
    report["loadavg_after"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    log_lines = [line for line in log_text.splitlines() if line.strip()]
    return {
        "benchmark": "tenants",
        "quick": ns.quick,
        "goals": goals(report),
        **report,
        "a": {"tenant": TENANT_A, "world": str(WORLD_A.relative_to(ROOT)),
              "commands": [name for name, _, _ in COMMANDS], "every_seconds": ns.interval},
        "server": {"command": command, "alive_at_end": alive, "pin": pin},
        "server_log": {"lines": len(log_lines), "tracebacks": log_text.count("Traceback"),
                       "tail": [line[:200] for line in log_lines[-5:]]},
        "warnings": warnings(report),
        "run_seconds": round(time.monotonic() - started, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Tenant A's latency alone and under tenant B's hostile load; prints JSON.")
    p.add_argument("--quick", action="store_true", help="a smoke run: 5 s windows, 3 s after, 1 s warm-up")
    p.add_argument("--sandbox", choices=["workers", "inproc"], default="workers",
                   help="as `jitrealm run --sandbox` (default workers, the server's default)")
    p.add_argument("--workers", type=int, default=0,
                   help="`jitrealm run --workers` (default: not given, the server's own default)")
    p.add_argument("--interval", type=float, default=0.1, help="seconds between each A player's commands (0.1)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before the first window (3)")
    p.add_argument("--window", type=float, default=30.0, help="seconds of A alone, and of A with B (30)")
    p.add_argument("--after", type=float, default=10.0, help="seconds of A after B is suspended (10)")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds of B's load before its steady fuel rate is read (3: its 2 s burst spent)")
    p.add_argument("--fuel-per-second", type=float, default=100e6, help="B's fuel_per_second quota (100e6)")
    p.add_argument("--max-objects", type=int, default=200, help="B's max_objects quota (200)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (data, server log)")
    p.add_argument("--max-minutes", type=float, default=6.0, help="give up after this long (6)")
    ns = p.parse_args(argv)
    if ns.quick:
        ns.window, ns.after, ns.warmup = 5.0, 3.0, 1.0
    if min(ns.interval, ns.window, ns.after, ns.fuel_per_second) <= 0 or ns.max_objects <= 0:
        p.error("times, rates and counts must be positive")
    return ns


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = parse_args()
    signal.signal(signal.SIGALRM, lambda signum, frame: sys.exit(f"bench/tenants.py: over {ns.max_minutes:g} minutes"))
    signal.alarm(int(ns.max_minutes * 60))
    result = run(ns)
    pin = result["server"]["pin"]
    if not pin.get("ok"):
        result["failed"] = f"the server was not pinned to one core: {pin.get('why')}"
    print(json.dumps(result, indent=2))
    if not pin.get("ok"):
        sys.exit(1)


if __name__ == "__main__":
    main()

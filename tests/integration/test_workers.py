"""The out-of-process backend: real worker processes running real components.

A :class:`~driver.runtimes.workers.WorkerPool` must give exactly the outcomes
the in-process :class:`~sandbox.runtime.host.Sandbox` gives (effects, state,
results, every kind of error, world queries answered by the driver, refusals
and quota breaches crossing the channel), while batching tenants' calls,
surviving workers that die or hang, and keeping its processes hardened and
the driver free of wasmtime.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio

from driver.runtimes.workers import WorkerPool
from sandbox.priority import _can_leave_idle
from sandbox.protocol import AdmissionError, ErrorKind, HostLimit, Limits, Outcome, WorldRefusal
from sandbox.runtime.host import Sandbox

from ..guests import GUESTS

ROOT = Path(__file__).resolve().parents[2]
SELF = "/obj/probe#000001"
ACTOR = "/player/ann"
HALL = "/rooms/hall"
SWORD = "/obj/sword#000002"
COIN = "/obj/coin#000003"
BROKEN = "/obj/broken#000009"  # asking the world about it raises
QUOTA = "/obj/quota"  # cloning it breaks a tenant quota
NOW_MS = 1_700_000_000_123
#: Time is not what these tests compare: a deadline no busy machine reaches.
ROOMY = Limits(deadline_ms=30_000)
#: Tight enough that each hostile guest hits its limit in milliseconds.
SMALL = Limits(fuel=20_000_000, deadline_ms=100, memory_bytes=16 * 1024 * 1024)
MEMORY_MB = 256 * 1024  # the workers' RLIMIT_AS (the engine reserves 4 GiB per memory)


class TestWorld:
    """A small deterministic :class:`~sandbox.protocol.HostWorld`, like the
    offline one plus objects, public state, refusals, a quota and a broken
    object; every question is recorded, so both backends can be shown to
    have asked the same things."""

    __test__ = False

    def __init__(self) -> None:
        self.env: dict[str, str | None] = {HALL: None, SELF: HALL, ACTOR: HALL, SWORD: HALL, COIN: ACTOR}
        self.public = {SWORD: {"edge": cbor2.dumps(7)}}
        self.clones = 0
        self.handle = 1000
        self.calls: list[tuple[Any, ...]] = []
        self.on_now: Callable[[], None] | None = None

    def _broken(self, target: str) -> None:
        if target == BROKEN:
            raise RuntimeError(f"the world lost {target}")

    def environment(self, target: str) -> str | None:
        self.calls.append(("environment", target))
        self._broken(target)
        return self.env.get(target)

    def contents(self, target: str) -> list[str]:
        self.calls.append(("contents", target))
        self._broken(target)
        return [obj for obj, where in self.env.items() if where == target]

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        self.calls.append(("query", asker, target, key))
        self._broken(target)
        return self.public.get(target, {}).get(key)

    def clone(self, asker: str, blueprint: str) -> str:
        self.calls.append(("clone", asker, blueprint))
        if blueprint == QUOTA:
            raise HostLimit("object quota reached (3)")
        if not blueprint.startswith("/obj/"):
            raise WorldRefusal(f"no such blueprint: {blueprint}")
        self.clones += 1
        new_id = f"{blueprint}#{self.clones:06d}"
        self.env[new_id] = None
        return new_id

    def destruct(self, asker: str, target: str) -> None:
        self.calls.append(("destruct", asker, target))
        if target not in self.env:
            raise WorldRefusal(f"no such object: {target}")
        del self.env[target]

    def move(self, asker: str, target: str, destination: str) -> None:
        self.calls.append(("move", asker, target, destination))
        self._broken(target)
        if target not in self.env or destination not in self.env:
            raise WorldRefusal(f"no such object: {target if target not in self.env else destination}")
        self.env[target] = destination

    def now_ms(self) -> int:
        self.calls.append(("now_ms",))
        if self.on_now is not None:
            self.on_now()
        return NOW_MS  # frozen: clock_spin never gets its hour

    def next_callout_handle(self) -> int:
        self.calls.append(("next_callout_handle",))
        self.handle += 1
        if self.handle > 1003:
            raise HostLimit("pending callout quota reached (3)")
        return self.handle

    def cancel_callout(self, asker: str, handle: int) -> bool:
        self.calls.append(("cancel_callout", asker, handle))
        return handle == 41


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wasm-cache-workers")


@pytest.fixture(scope="module")
def inproc(cache_dir: Path) -> Sandbox:
    return Sandbox(cache_dir=cache_dir)


@pytest.fixture
async def pool(nursery: trio.Nursery, cache_dir: Path) -> AsyncIterator[WorkerPool]:
    workers = WorkerPool(2, cache_dir=cache_dir, memory_mb=MEMORY_MB, cpu_seconds=900, grace_ms=400)
    with trio.fail_after(60):
        await nursery.start(workers.run)
    yield workers
    with trio.fail_after(30):
        await workers.aclose()


def code(guest_components: dict[str, Path], name: str) -> bytes:
    return guest_components[name].read_bytes()


def hexs(value: str | bytes) -> str:
    """A data argument of an import_probe script (raw bytes in hex)."""
    raw = value.encode() if isinstance(value, str) else value
    return "x" + raw.hex()


def probe(*steps: str) -> tuple[str, tuple[Any, ...]]:
    """on-command of import_probe running ``steps`` (the verb is the first import)."""
    verb, _, args = " ; ".join(steps).partition(" ")
    return "on-command", (ACTOR, verb, args)


def comparable(outcome: Outcome, *, timed: bool = False) -> dict[str, Any]:
    """Everything of an outcome but its wall time (and, for a call the clock
    stopped, the fuel it happened to burn by then)."""
    error = outcome.error
    return {
        "error": None if error is None else (error.kind, error.message),
        "result": outcome.result,
        "effects": outcome.effects,
        "state_changes": outcome.state_changes,
        "fuel_used": None if timed else outcome.fuel_used,
        "logs": outcome.logs,
    }


@dataclass(frozen=True)
class Case:
    id: str
    guest: str
    hook: str
    args: tuple[Any, ...]
    expect: str  # "ok" or the ErrorKind value
    limits: Limits = ROOMY
    state: dict[str, bytes] = field(default_factory=dict)
    timed: bool = False  # stopped by the wall clock


CASES = [
    Case("counter", "counter", "on-command", (ACTOR, "push", ""), "ok", state={"count": cbor2.dumps(41)}),
    Case("counter-unhandled", "counter", "on-command", (ACTOR, "dance", ""), "ok"),
    Case("on-load", "counter", "on-load", (), "ok"),
    Case("on-enter-none", "spin_heartbeat", "on-enter", (ACTOR, None), "ok"),
    Case("on-leave-some", "spin_heartbeat", "on-leave", (ACTOR, HALL), "ok"),
    Case("on-callout-bytes", "spin_heartbeat", "on-callout", ("tick", cbor2.dumps([1, b"\x00"])), "ok"),
    Case("on-message", "spin_heartbeat", "on-message", ("/npc/x", "tell", cbor2.dumps("hi")), "ok"),
    Case("on-reload-log", "spin_heartbeat", "on-reload", ("0" * 64,), "ok"),
    Case("messages", "import_probe", *probe(
        f"tell {hexs(ACTOR)} {hexs('héllo 🐉')}", f"say {hexs('Ding!')}", f"emote {hexs('waves.')}",
        f"gmcp {hexs(ACTOR)} {hexs('Char.Vitals')} {hexs(json.dumps({'hp': 7, 'ok': True, 'x': None}))}",
        f"log 1 {hexs('a log line')}",
    ), "ok"),
    Case("state", "import_probe", *probe(
        f"state-get {hexs('hp')}", f"state-set {hexs('hp')} {hexs(cbor2.dumps(8))}",
        f"state-get {hexs('hp')}", f"state-delete {hexs('blob')}", f"state-get {hexs('missing')}",
    ), "ok", state={"hp": cbor2.dumps(7), "blob": cbor2.dumps(bytes(range(256)))}),
    Case("callouts", "import_probe", *probe(
        f"callout {hexs('tick')} 10 {hexs(cbor2.dumps([1]))}", "cancel-callout @", "cancel-callout 41",
        "cancel-callout 42", "set-heartbeat 500",
    ), "ok"),
    Case("world-queries", "import_probe", *probe(
        f"environment {hexs(SWORD)}", f"environment {hexs('/nowhere')}", f"contents {hexs(HALL)}",
        f"query {hexs(SWORD)} {hexs('edge')}", f"query {hexs(SWORD)} {hexs('secret')}",
        f"query {hexs(SELF)} {hexs('hp')}", "now-ms",
    ), "ok", state={"hp": cbor2.dumps(3)}),
    Case("reservations", "import_probe", *probe(
        f"clone {hexs('/obj/coin')}", f"clone {hexs('/rooms/nope')}", f"move {hexs(SWORD)} {hexs(ACTOR)}",
        f"environment {hexs(SWORD)}", f"move {hexs(SWORD)} {hexs('/void')}", f"destruct {hexs(COIN)}",
        f"destruct {hexs(COIN)}", f"contents {hexs(ACTOR)}",
    ), "ok"),
    Case("world-raises", "import_probe", *probe(f"say {hexs('before')}", f"environment {hexs(BROKEN)}"),
         "host-error"),
    Case("quota-on-clone", "import_probe", *probe(f"say {hexs('before')}", f"clone {hexs(QUOTA)}"),
         "host-limit"),
    Case("quota-on-callout", "import_probe", *probe(
        *[f"callout {hexs('tick')} 10 {hexs(b'')}"] * 4), "host-limit"),
    Case("bad-utf8-import", "import_probe", *probe(f"say {hexs(b'ok' + bytes([0x80]))}"), "bad-guest-data"),
    Case("no-such-hook", "counter", "on-dance", (), "no-such-hook"),
] + [
    Case(f"hostile-{name}", name, guest.hook, {
        "heartbeat": (), "reset": (), "on-command": (ACTOR, "go", BROKEN if name == "query_target" else ""),
    }[guest.hook], guest.expect, limits=SMALL, timed=guest.expect == "deadline")
    for name, guest in sorted(GUESTS.items())
    if guest.hook not in (None, "admission")
]  # fmt: skip


async def test_every_case_has_the_same_outcome_as_in_process(pool, inproc, guest_components):
    """Each case on a fresh instance on both sides (its own tenant), same
    arguments, state, limits and world; the outcomes must agree in all but
    wall time, and so must what each side asked its world."""
    versions: dict[str, str] = {}
    mismatches: list[str] = []
    for case in CASES:
        data = code(guest_components, case.guest)
        if case.guest not in versions:
            with trio.fail_after(120):
                versions[case.guest] = await pool.admit(data)
            assert inproc.admit(data) == versions[case.guest]
        version = versions[case.guest]
        tenant = f"case-{case.id}"
        near, far = TestWorld(), TestWorld()
        expected = inproc.invoke(
            version, SELF, case.hook, case.args, case.state, case.limits, near, tenant=tenant
        )
        with trio.fail_after(60):
            got = await pool.invoke(
                version, SELF, case.hook, case.args, case.state, case.limits, far, tenant=tenant
            )
        kind = "ok" if got.error is None else str(got.error.kind)
        assert kind == case.expect, f"{case.id}: {got.error}"
        if comparable(got, timed=case.timed) != comparable(expected, timed=case.timed):
            mismatches.append(f"{case.id}:\n  worker:     {comparable(got)}\n  in-process: {comparable(expected)}")
        elif not case.timed and far.calls != near.calls:
            mismatches.append(f"{case.id}: the world was asked {far.calls}, in-process {near.calls}")
    assert not mismatches, "\n".join(mismatches)


async def test_refusals_and_quotas_cross_as_their_own_kinds(pool, guest_components):
    version = await pool.admit(code(guest_components, "import_probe"))
    hook, args = probe(f"clone {hexs('/rooms/nope')}", f"clone {hexs('/obj/coin')}")
    with trio.fail_after(60):
        outcome = await pool.invoke(version, SELF, hook, args, {}, ROOMY, TestWorld(), tenant="t")
    assert outcome.ok
    report = cbor2.loads(outcome.state_changes["out"])
    assert report[5:] == [{"err": "no such blueprint: /rooms/nope"}, {"ok": "/obj/coin#000001"}]
    hook, args = probe(f"clone {hexs(QUOTA)}")
    with trio.fail_after(60):
        outcome = await pool.invoke(version, SELF, hook, args, {}, ROOMY, TestWorld(), tenant="t")
    assert outcome.error is not None and outcome.error.kind is ErrorKind.HOST_LIMIT
    assert outcome.error.message == "object quota reached (3)"
    assert outcome.effects == [] and outcome.state_changes == {}
    hook, args = probe(f"contents {hexs(BROKEN)}")
    with trio.fail_after(60):
        outcome = await pool.invoke(version, SELF, hook, args, {}, ROOMY, TestWorld(), tenant="t")
    assert outcome.error is not None and outcome.error.kind is ErrorKind.HOST_ERROR
    assert outcome.error.message == f"host function failed: RuntimeError: the world lost {BROKEN}"


@pytest.mark.parametrize("name", ["garbage", "core_module", "wrong_world", "evil_import"])
async def test_admission_refusals_read_as_in_process(name, pool, inproc, guest_components):
    data = b"definitely not wasm" if name == "garbage" else code(guest_components, name)
    with pytest.raises(AdmissionError) as in_process:
        inproc.admit(data)
    with trio.fail_after(60), pytest.raises(AdmissionError) as in_worker:
        await pool.admit(data)
    assert str(in_worker.value) == str(in_process.value)
    if name == "evil_import":
        assert "jitrealm:realm/evil" in str(in_worker.value)


async def test_admissions_are_counted_and_released_like_in_process(pool, guest_components):
    data = code(guest_components, "counter")
    with trio.fail_after(60):
        version = await pool.admit(data)
        assert await pool.admit(data) == version  # a second admission of the same bytes
    args = (ACTOR, "push", "")
    pool.release(version)
    with trio.fail_after(60):
        assert (await pool.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant="t")).ok
    pool.release(version)
    with trio.fail_after(60):
        gone = await pool.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant="t")
    assert gone.error is not None and gone.error.kind is ErrorKind.INSTANTIATE
    assert gone.error.message == f"unknown version {version[:12]}"
    assert pool.stats().versions == 0


async def test_sweep_drops_idle_instances_in_the_workers(pool, inproc, guest_components):
    """A fresh instance spends a little more fuel on its first call, which
    shows when a sweep has dropped one: the same on both sides."""
    data = code(guest_components, "counter")
    with trio.fail_after(60):
        version = await pool.admit(data)
    inproc.admit(data)
    args = (ACTOR, "push", "")

    async def fuel(tenant: str) -> tuple[int, int]:
        got = await pool.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant=tenant)
        expected = inproc.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant=tenant)
        return got.fuel_used, expected.fuel_used

    with trio.fail_after(60):
        first, warm = await fuel("swept"), await fuel("swept")
        assert first != warm and first[0] == first[1] and warm[0] == warm[1]
        pool.sweep(0)
        inproc.sweep(0)
        assert await fuel("swept") == first



async def test_workers_report_each_tenants_memory_after_a_sweep(pool, inproc, guest_components):
    """Usage reports read a tenant's instance memory from the pool as its
    worker last reported it (each sweep), as the in-process sandbox knows it."""
    data = code(guest_components, "counter")
    with trio.fail_after(60):
        version = await pool.admit(data)
    inproc.admit(data)
    args = (ACTOR, "push", "")
    with trio.fail_after(60):
        await pool.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant="mem")
        inproc.invoke(version, SELF, "on-command", args, {}, ROOMY, TestWorld(), tenant="mem")
        assert pool.memory_of("mem") == 0  # nothing reported yet
        pool.sweep(3600)  # drops nothing; the worker reports
        while pool.memory_of("mem") == 0:
            await trio.sleep(0.01)
    assert pool.memory_of("mem") == inproc.memory_of("mem") > 0
    assert pool.memory_of("someone-else") == 0


def _with_custom_section(component: bytes, size: int) -> bytes:
    """The same component plus a custom section of ``size`` bytes: still
    valid, another version, and far bigger than a socket buffer."""

    def leb128(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    name = b"padding"
    body = leb128(len(name)) + name + bytes(size)
    return component + b"\x00" + leb128(len(body)) + body


async def test_big_components_cross_whole(pool, inproc, guest_components):
    data = _with_custom_section(code(guest_components, "counter"), 12 * 1024 * 1024)
    with trio.fail_after(120):
        version = await pool.admit(data)
        outcome = await pool.invoke(version, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY, TestWorld(),
                                    tenant="big")
    assert version == inproc.admit(data)
    assert outcome.ok and outcome.result is True
    garbage = b"\0asm\x0d\x00\x01\x00" + bytes(6 * 1024 * 1024)
    with pytest.raises(AdmissionError) as in_process:
        inproc.admit(garbage)
    with trio.fail_after(120), pytest.raises(AdmissionError) as in_worker:
        await pool.admit(garbage)
    assert str(in_worker.value) == str(in_process.value)


async def test_tenants_run_in_parallel_and_their_calls_share_frames(pool, guest_components):
    with trio.fail_after(60):
        version = await pool.admit(code(guest_components, "counter"))
    tenants = [f"tenant-{i}" for i in range(8)]
    outcomes: dict[str, list[Outcome]] = {t: [] for t in tenants}
    states: dict[str, dict[str, bytes]] = {t: {} for t in tenants}

    async def play(tenant: str, rounds: int) -> None:
        state = states[tenant]
        for _ in range(rounds):
            outcome = await pool.invoke(version, SELF, "on-command", (ACTOR, "push", ""), state, ROOMY,
                                        TestWorld(), tenant=tenant)
            state.update({k: v for k, v in outcome.state_changes.items() if v is not None})
            outcomes[tenant].append(outcome)

    with trio.fail_after(60):
        async with trio.open_nursery() as warm:  # every tenant's instance and load
            for tenant in tenants:
                warm.start_soon(play, tenant, 1)
    before = pool.stats()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            for tenant in tenants:
                nursery.start_soon(play, tenant, 50)
    after = pool.stats()
    for tenant in tenants:
        assert all(o.ok for o in outcomes[tenant])
        assert cbor2.loads(outcomes[tenant][-1].state_changes["count"]) == 51  # in order, none lost
    invocations = after.invocations_sent - before.invocations_sent
    frames = after.frames_sent - before.frames_sent
    assert invocations == 8 * 50
    assert frames < invocations, f"{frames} frames for {invocations} invocations: no batching"
    assert sorted(w.tenants for w in after.workers) == [4, 4]  # spread, least-loaded first
    assert all(w.invocations > 0 for w in after.workers)
    assert after.crashes == 0


async def test_a_worker_killed_mid_call_costs_that_call_and_comes_back(pool, guest_components, caplog):
    with trio.fail_after(60):
        spin = await pool.admit(code(guest_components, "clock_spin"))
        counter = await pool.admit(code(guest_components, "counter"))
        assert (await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                  TestWorld(), tenant="bystander")).ok  # fmt: skip
    started = trio.Event()
    world = TestWorld()
    world.on_now = started.set
    result: list[Outcome] = []

    async def spin_for_ten_seconds() -> None:
        limits = replace(ROOMY, deadline_ms=10_000)
        result.append(await pool.invoke(spin, SELF, "on-command", (ACTOR, "go", ""), {}, limits, world,
                                        tenant="victim"))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(spin_for_ten_seconds)
            await started.wait()
            pid = pool.pid_of("victim")
            assert pid is not None and pid != pool.pid_of("bystander")
            os.kill(pid, signal.SIGKILL)
    [outcome] = result
    assert outcome.error is not None and outcome.error.kind is ErrorKind.SANDBOX_CRASH
    assert f"(pid {pid})" in outcome.error.message and "SIGKILL" in outcome.error.message
    assert outcome.effects == [] and outcome.state_changes == {}
    with trio.fail_after(60):
        again = await pool.invoke(spin, SELF, "heartbeat", (), {}, ROOMY, TestWorld(), tenant="victim")
        other = await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                  TestWorld(), tenant="bystander")  # fmt: skip
    assert again.ok and cbor2.loads(again.state_changes["beats"]) == 1  # restarted, reloaded
    assert other.ok
    assert pool.pid_of("victim") not in (None, pid)
    stats = pool.stats()
    assert (stats.crashes, stats.restarts) == (1, 1)
    [logged] = [r.getMessage() for r in caplog.records if r.name == "driver.runtimes.workers"]
    assert f"(pid {pid}) was killed by SIGKILL" in logged and "1 call(s) lost" in logged


def _policy(pid: int) -> int:
    """The scheduling policy of a process's main thread (``man 5 proc``, field 41)."""
    stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[38])


SCHED_BATCH, SCHED_IDLE = 3, 5


@pytest.mark.skipif(not _can_leave_idle(500_000), reason="needs CAP_SYS_NICE or RLIMIT_NICE >= 1")
async def test_a_long_call_gives_way_until_it_ends(pool, guest_components):
    """A call that has run a couple of milliseconds drops its worker to
    SCHED_IDLE (a quick call of another tenant waking on the same core goes
    first); the call still runs to its own limit, and the worker is batch
    work again for the next call."""
    with trio.fail_after(60):
        spin = await pool.admit(code(guest_components, "spin_heartbeat"))
        counter = await pool.admit(code(guest_components, "counter"))
        assert (await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                  TestWorld(), tenant="long")).ok  # fmt: skip
    pid = pool.pid_of("long")
    assert pid is not None and _policy(pid) == SCHED_BATCH
    long_limits = Limits(fuel=10**12, deadline_ms=1500)
    seen: list[int] = []
    result: list[Outcome] = []

    async def burn() -> None:
        result.append(await pool.invoke(spin, SELF, "heartbeat", (), {}, long_limits, TestWorld(),
                                        tenant="long"))  # fmt: skip

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(burn)
            await trio.sleep(0.5)
            seen.append(_policy(pid))
            quick = await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                      TestWorld(), tenant="quick")  # fmt: skip
            assert quick.ok
            assert pool.pid_of("quick") != pid
            quick_pid = pool.pid_of("quick")
            assert quick_pid is not None and _policy(quick_pid) == SCHED_BATCH
    [outcome] = result
    assert outcome.error is not None and outcome.error.kind is ErrorKind.DEADLINE  # its limit, as ever
    assert seen == [SCHED_IDLE]
    with trio.fail_after(30):
        again = await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                  TestWorld(), tenant="long")  # fmt: skip
    assert again.ok and pool.pid_of("long") == pid
    assert _policy(pid) == SCHED_BATCH


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(), reason="root and setpriv")
def test_long_calls_do_not_give_way_where_the_way_back_is_refused():
    """Without CAP_SYS_NICE (and RLIMIT_NICE 0) a thread cannot leave
    SCHED_IDLE: a worker must then never demote, or every later call would
    run as idle work."""
    probe = "from sandbox.priority import LongCalls, yield_to_driver; yield_to_driver(); print(LongCalls().enabled)"
    run = subprocess.run(["/usr/bin/setpriv", "--bounding-set", "-sys_nice", sys.executable, "-c", probe],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]


async def test_state_kept_in_the_worker_is_always_the_drivers(pool, guest_components):
    """A worker keeps each object's state between calls, so a call whose
    object's state is as the worker has it ships none; but every call still
    runs on the driver's state: a change the driver made between two calls
    is seen by the second, a failed call or an outcome the driver did not
    apply leaves nothing behind in the worker, and a replaced worker (or a
    sweep) starts cold."""
    with trio.fail_after(60):
        version = await pool.admit(code(guest_components, "import_probe"))
    state = {"hp": cbor2.dumps(7)}
    counts: list[tuple[int, int]] = []

    async def call(*steps: str, apply: bool = True) -> Outcome:
        before = pool.stats()
        hook, args = probe(*steps)
        with trio.fail_after(60):
            outcome = await pool.invoke(version, SELF, hook, args, state, ROOMY, TestWorld(), tenant="kept")
        after = pool.stats()
        counts.append((after.states_shipped - before.states_shipped, after.states_kept - before.states_kept))
        if apply and outcome.ok:  # as the tenant applies an outcome
            for key, value in outcome.state_changes.items():
                if value is None:
                    state.pop(key, None)
                else:
                    state[key] = value
        return outcome

    async def hp() -> int:
        outcome = await call(f"state-get {hexs('hp')}")
        assert outcome.ok, outcome.error
        value: int = cbor2.loads(cbor2.loads(outcome.state_changes["out"])[-1])
        return value

    shipped, kept = (1, 0), (0, 1)
    assert await hp() == 7 and counts[-1] == shipped  # first call: the worker has nothing
    assert await hp() == 7 and counts[-1] == kept  # as the worker left it
    state["hp"] = cbor2.dumps(9)  # the driver changes it between two calls
    assert await hp() == 9 and counts[-1] == shipped
    assert await hp() == 9 and counts[-1] == kept

    failed = await call(f"state-set {hexs('hp')} {hexs(cbor2.dumps(8))}", f"environment {hexs(BROKEN)}")
    assert failed.error is not None and failed.error.kind is ErrorKind.HOST_ERROR and counts[-1] == kept
    assert await hp() == 9 and counts[-1] == kept  # the failed call changed nothing there

    refused = await call(f"state-set {hexs('hp')} {hexs(cbor2.dumps(5))}", apply=False)
    assert refused.ok and counts[-1] == kept  # it succeeded there, but the driver applied nothing
    assert await hp() == 9 and counts[-1] == shipped
    deleted = await call(f"state-delete {hexs('hp')}")
    assert deleted.ok and "hp" not in state and counts[-1] == kept
    await call(f"state-get {hexs('hp')}")
    assert cbor2.loads(state["out"])[-1] is None and counts[-1] == kept  # deleted there too
    state["hp"] = cbor2.dumps(3)
    assert await hp() == 3 and counts[-1] == shipped

    pool.sweep(3600)  # keeps the instance, drops the kept states
    assert await hp() == 3 and counts[-1] == shipped
    assert await hp() == 3 and counts[-1] == kept

    pid = pool.pid_of("kept")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with trio.fail_after(60):
        while pool.pid_of("kept") in (None, pid):
            await trio.sleep(0.01)
    assert await hp() == 3 and counts[-1] == shipped  # a new worker starts cold
    assert await hp() == 3 and counts[-1] == kept


@pytest.mark.parametrize("bound", ["KEPT_OBJECTS", "KEPT_BYTES"])
async def test_state_kept_is_dropped_past_its_bound(bound, pool, guest_components, monkeypatch):
    """Past the bound on objects (or bytes) kept, both sides drop every kept
    state and start again; calls keep seeing the driver's state."""
    # Three objects fit (an INVOKE of one of these ships about 180 bytes).
    monkeypatch.setattr(f"driver.runtimes.workers.{bound}", 3 if bound == "KEPT_OBJECTS" else 3 * 200)
    with trio.fail_after(60):
        version = await pool.admit(code(guest_components, "counter"))
    states = {f"/obj/counter#{n}": {"count": cbor2.dumps(n * 100)} for n in range(5)}
    before = pool.stats()
    with trio.fail_after(60):
        for _ in range(3):
            for obj, state in states.items():
                outcome = await pool.invoke(version, obj, "on-command", (ACTOR, "push", ""), state, ROOMY,
                                            TestWorld(), tenant="bounded")  # fmt: skip
                assert outcome.ok, outcome.error
                state.update(outcome.state_changes)
    assert {obj: cbor2.loads(s["count"]) for obj, s in states.items()} == {
        f"/obj/counter#{n}": n * 100 + 3 for n in range(5)
    }
    after = pool.stats()
    # Three objects fit: each round, the fourth and fifth drop them all, so
    # some calls ship their state again that would have found it kept.
    shipped, kept = after.states_shipped - before.states_shipped, after.states_kept - before.states_kept
    assert shipped + kept == 15 and shipped > 5, (shipped, kept)


async def test_a_worker_that_hangs_is_killed_after_the_grace(pool, guest_components):
    """The engine's own deadline stops a spinning guest in the worker as it
    would in-process; a worker that stops answering at all (here: stopped
    with SIGSTOP while a call runs) is killed at deadline + grace."""
    with trio.fail_after(60):
        spin = await pool.admit(code(guest_components, "clock_spin"))
    no_fuel_limit = replace(SMALL, fuel=2**62)
    with trio.fail_after(30):
        spun = await pool.invoke(spin, SELF, "on-command", (ACTOR, "go", ""), {}, no_fuel_limit, TestWorld(),
                                 tenant="hung")
    assert spun.error is not None and spun.error.kind is ErrorKind.DEADLINE
    with trio.fail_after(30):  # a live instance again: no allowance for building one
        assert (await pool.invoke(spin, SELF, "heartbeat", (), {}, ROOMY, TestWorld(), tenant="hung")).ok

    world = TestWorld()
    stopped: list[int] = []

    def stop_the_worker() -> None:
        if not stopped:
            pid = pool.pid_of("hung")
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

    world.on_now = stop_the_worker
    started = trio.current_time()
    with trio.fail_after(30):
        outcome = await pool.invoke(spin, SELF, "on-command", (ACTOR, "go", ""), {}, no_fuel_limit, world,
                                    tenant="hung")
    took = trio.current_time() - started
    assert outcome.error is not None and outcome.error.kind is ErrorKind.SANDBOX_CRASH, outcome.error
    assert "gave no answer 500 ms into a call (deadline 100 ms + 400 ms grace); killed" in outcome.error.message
    assert f"(pid {stopped[0]})" in outcome.error.message
    assert 0.5 <= took < 5
    with trio.fail_after(60):
        beat = await pool.invoke(spin, SELF, "heartbeat", (), {}, ROOMY, TestWorld(), tenant="hung")
    assert beat.ok


async def test_admission_runs_apart_and_survives_its_worker(nursery, cache_dir, guest_components):
    """A compile that hangs costs an AdmissionError, not a tenant's turn."""
    pool = WorkerPool(1, cache_dir=cache_dir, memory_mb=MEMORY_MB, admit_timeout_s=1.0)
    with trio.fail_after(60):
        await nursery.start(pool.run)
        counter = await pool.admit(code(guest_components, "counter"))
    admission = pool.stats().admission
    assert admission is not None and admission.pid is not None
    os.kill(admission.pid, signal.SIGSTOP)  # as if stuck compiling
    with trio.fail_after(60):
        async with trio.open_nursery() as both:
            refused: list[str] = []

            async def admit_while_stuck() -> None:
                with pytest.raises(AdmissionError) as info:
                    await pool.admit(code(guest_components, "spin_heartbeat"))
                refused.append(str(info.value))

            both.start_soon(admit_while_stuck)
            for _ in range(20):  # meanwhile a tenant plays on
                assert (await pool.invoke(counter, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY,
                                          TestWorld(), tenant="t")).ok  # fmt: skip
    [message] = refused
    assert f"sandbox admission worker (pid {admission.pid})" in message and "admission; killed" in message
    with trio.fail_after(60):  # restarted
        assert await pool.admit(code(guest_components, "spin_heartbeat"))
        await pool.aclose()


async def test_a_worker_near_its_cpu_limit_is_replaced_between_calls(nursery, cache_dir, guest_components):
    """RLIMIT_CPU is a worker's budget over its life: near it (SIGXCPU) the
    worker asks to go, and is replaced once nothing is in flight; no call fails."""
    pool = WorkerPool(1, cache_dir=cache_dir, memory_mb=MEMORY_MB, cpu_seconds=2, admission_worker=False)
    with trio.fail_after(60):
        await nursery.start(pool.run)
        spin = await pool.admit(code(guest_components, "spin_heartbeat"))
    first = pool.stats().workers[0].pid
    burn = Limits(fuel=100_000_000, deadline_ms=5_000)
    kinds: set[str] = set()
    with trio.fail_after(120):
        while pool.stats().retired == 0:
            outcome = await pool.invoke(spin, SELF, "heartbeat", (), {}, burn, TestWorld(), tenant="t")
            kinds.add(str(outcome.error.kind) if outcome.error else "ok")
        outcome = await pool.invoke(spin, SELF, "on-command", (ACTOR, "ping", ""), {}, ROOMY, TestWorld(),
                                    tenant="t")
    assert kinds == {"fuel"} and outcome.ok
    stats = pool.stats()
    assert (stats.retired, stats.crashes) == (1, 0)
    assert stats.workers[0].pid not in (None, first)
    with trio.fail_after(30):
        await pool.aclose()


@pytest.mark.parametrize("python", ["/nonexistent/python3", "/bin/false"])
async def test_workers_that_cannot_start_fail_the_pool_clearly(python, nursery):
    pool = WorkerPool(1, python=python, startup_timeout_s=1.5, admission_worker=False)
    with trio.fail_after(30), pytest.raises(RuntimeError) as info:
        await nursery.start(pool.run)
    expected = "could not be started" if python.startswith("/nonexistent") else "exited with status 1"
    assert "sandbox workers did not start: sandbox worker 0" in str(info.value)
    assert expected in str(info.value)
    with trio.fail_after(30):
        outcome = await pool.invoke("0" * 64, SELF, "heartbeat", (), {}, ROOMY, TestWorld(), tenant="t")
    assert outcome.error is not None and outcome.error.kind is ErrorKind.INSTANTIATE


FAKE_WORKER = """
import argparse, os, socket, sys
from sandbox import wire

p = argparse.ArgumentParser()
p.add_argument("--fd", type=int)
ns, _ = p.parse_known_args()
sock = socket.socket(fileno=ns.fd)
sock.setblocking(True)
mode = os.environ["FAKE_MODE"]
sock.sendall(wire.frame([wire.encode([wire.HELLO, os.getpid(), wire.PROTOCOL])]))
decoder = wire.FrameDecoder()
while True:
    data = sock.recv(1 << 16)
    if not data:
        sys.exit(0)
    for frame in decoder.feed(data):
        for m in frame:
            if m[0] == wire.ADMIT:
                answer = [wire.ADMITTED, m[1], wire.content_hash(m[2])]
                sock.sendall(wire.frame([wire.encode(answer)]))
            elif m[0] == wire.INVOKE and mode == "lies":
                bogus = [None, True, [], {"hp": 5}, 1, 0.1, []]  # state values must be bytes
                sock.sendall(wire.frame([wire.encode([wire.OUTCOME, m[1], bogus])]))
            elif m[0] == wire.INVOKE and mode == "floods":
                while True:  # asks forever, never answers
                    sock.sendall(wire.frame([wire.encode([wire.QUERY, m[1], wire.W_NOW_MS, []])]))
"""


@pytest.mark.parametrize("mode", ["lies", "floods"])
async def test_a_worker_that_misbehaves_is_not_believed(mode, nursery, tmp_path, guest_components, monkeypatch):
    """A worker runs untrusted code, so the driver checks what it says: a
    malformed outcome, or questions instead of an answer, cost the call a
    sandbox-crash and the worker its life, never the driver."""
    (tmp_path / "fake_worker.py").write_text(FAKE_WORKER)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nFAKE_MODE={mode} exec {sys.executable} {tmp_path / "fake_worker.py"} "$@"\n')
    python.chmod(0o755)
    pool = WorkerPool(1, python=str(python), grace_ms=300, admission_worker=False)
    with trio.fail_after(60):
        await nursery.start(pool.run)
    limits = replace(ROOMY, deadline_ms=200)
    with trio.fail_after(60):
        version = await pool.admit(code(guest_components, "counter"))
        outcome = await pool.invoke(version, SELF, "on-command", (ACTOR, "push", ""), {}, limits, TestWorld(),
                                    tenant="t")
    assert outcome.error is not None and outcome.error.kind is ErrorKind.SANDBOX_CRASH
    expected = "sent a malformed message" if mode == "lies" else "gave no answer"
    assert expected in outcome.error.message, outcome.error.message
    assert outcome.effects == [] and outcome.state_changes == {}
    with trio.fail_after(30):
        await pool.aclose()


def _fds(pid: int) -> dict[int, str]:
    fd_dir = Path(f"/proc/{pid}/fd")
    return {int(fd): os.readlink(fd_dir / fd) for fd in os.listdir(fd_dir)}


async def test_workers_are_hardened(pool, guest_components, cache_dir):
    stats = pool.stats()
    assert stats.admission is not None
    pids = [w.pid for w in (*stats.workers, stats.admission)]
    assert all(pids) and os.getpid() not in pids and len(set(pids)) == 3
    dirs = []
    for pid in pids:
        assert pid is not None
        proc = Path(f"/proc/{pid}")
        status = (proc / "status").read_text()
        assert "NoNewPrivs:\t1" in status
        limits = (proc / "limits").read_text()
        address = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert address.split()[3:5] == [str(MEMORY_MB * 1024 * 1024)] * 2
        cpu = next(line for line in limits.splitlines() if line.startswith("Max cpu time"))
        assert cpu.split()[3] == "900"
        # Nothing inherited but the channel (stdin and stdout are /dev/null,
        # stderr is the driver's).
        fds = _fds(pid)
        assert set(fds) - {0, 1, 2} == {next(fd for fd, to in fds.items() if to.startswith("socket:"))}, fds
        assert fds[0] == fds[1] == "/dev/null"
        cwd = Path(os.readlink(proc / "cwd"))
        assert cwd.name.startswith("jitrealm-worker") and cwd.parent == Path(tempfile.gettempdir())
        assert list(cwd.iterdir()) == []
        assert cwd != Path.cwd() and not Path.cwd().is_relative_to(cwd)
        dirs.append(cwd)
        environ = (proc / "environ").read_bytes().split(b"\0")
        assert not any(var.startswith((b"HOME=", b"PYTEST_")) for var in environ)
    with trio.fail_after(60):
        version = await pool.admit(code(guest_components, "counter"))
        assert (await pool.invoke(version, SELF, "on-command", (ACTOR, "push", ""), {}, ROOMY, TestWorld(),
                                  tenant="t")).ok  # fmt: skip
    for pid in pids:
        assert pid is not None
        # What the engine opened itself: compiled code and memory images.
        opened = {to for fd, to in _fds(pid).items() if fd > 2 and not to.startswith("socket:")}
        assert all(to.startswith(("/memfd:wasm-memory-image", str(cache_dir))) for to in opened), opened
    with trio.fail_after(30):
        await pool.aclose()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):  # reaped, not left a zombie
            os.kill(pid, 0)
    assert not any(d.exists() for d in dirs)


def test_workers_of_a_killed_driver_exit_and_leave_nothing(cache_dir):
    """SIGKILL the driver: its workers see the channel close, exit, and
    remove their working directories themselves."""
    script = textwrap.dedent(
        """
        import json, os, sys, pathlib
        import trio
        from driver.runtimes.workers import WorkerPool

        async def main():
            pool = WorkerPool(2, cache_dir=pathlib.Path(sys.argv[1]))
            async with trio.open_nursery() as nursery:
                await nursery.start(pool.run)
                stats = pool.stats()
                pids = [w.pid for w in (*stats.workers, stats.admission)]
                print(json.dumps({p: os.readlink(f"/proc/{p}/cwd") for p in pids}), flush=True)
                await trio.sleep_forever()

        trio.run(main)
        """
    )
    driver = subprocess.Popen([sys.executable, "-c", script, str(cache_dir)], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)  # fmt: skip
    try:
        assert driver.stdout is not None
        workers = {int(pid): Path(cwd) for pid, cwd in json.loads(driver.stdout.readline()).items()}
        assert len(workers) == 3 and all(cwd.is_dir() for cwd in workers.values())
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)
    assert not any(cwd.exists() for cwd in workers.values())


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever inherited it has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_the_driver_never_maps_wasmtime(guest_components, cache_dir):
    """A process that runs invocations through a pool has no wasmtime in
    its address space, and never imported it."""
    script = textwrap.dedent(
        """
        import json, sys
        import trio
        import driver
        from driver.runtimes.workers import WorkerPool
        from sandbox.protocol import Limits

        class World:
            def environment(self, t): return None
            def contents(self, t): return []
            def query(self, a, t, k): return None
            def clone(self, a, b): raise ValueError
            def destruct(self, a, t): pass
            def move(self, a, t, d): pass
            def now_ms(self): return 0
            def next_callout_handle(self): return 1
            def cancel_callout(self, a, h): return False

        async def main():
            pool = WorkerPool(1, cache_dir=__import__("pathlib").Path(sys.argv[2]))
            async with trio.open_nursery() as nursery:
                await nursery.start(pool.run)
                version = await pool.admit(open(sys.argv[1], "rb").read())
                outcome = await pool.invoke(version, "/x", "on-command", ("/p", "push", ""), {},
                                            Limits(), World(), tenant="t")
                await pool.aclose()
            maps = open("/proc/self/maps").read()
            print(json.dumps({
                "ok": outcome.ok,
                "mapped": "wasmtime" in maps,
                "imported": sorted(m for m in sys.modules if "wasmtime" in m or m.startswith("sandbox.runtime")),
            }))

        trio.run(main)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(guest_components["counter"]), str(cache_dir)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"ok": True, "mapped": False, "imported": []}

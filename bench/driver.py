"""Driver benchmark: tenant events per second, hot reload (whole and swap
alone), memory per clone.

Prints one JSON document. Everything runs in this process, on one core,
with the in-process sandbox, over a scratch copy of ``world-src`` and its
build (so that the reload can edit a source file without touching the
real one). No socket is involved anywhere here: bench/e2e.py is the
benchmark for commands over real sockets. The tenant's rate budgets
(``rate_budgets_raised``: fuel, messages, clones... per second) are raised
out of reach, as an admin would for a world this busy: thousands of pushes
a second on one counter are what is measured, not what a budget allows.

* ``tenant_events_per_second_no_socket``: a command line handed straight to
  the player console (``Players.command``, no transport, no session, no
  telnet or WebSocket decoding) becomes a tenant event, the command parser
  splits it, the counter clone's C ``on-command`` runs (state-get,
  state-set, tell, say), the effects are applied and the output reaches a
  null session. Two players share the room, so every command also produces a
  broadcast. (This was ``commands_per_second``; it has no goal here, the
  commands-per-second goal is bench/e2e.py's, over sockets.)
  ``tenant_events_per_cpu_second_no_socket`` divides by this process's CPU
  time instead of the wall clock (on a shared machine, the difference is
  the time other programs had the CPU).
* ``reload_c_whole_ms_10000_clones``: from the wizard typing
  ``reload /examples/counter`` (a C blueprint with 10,000 clones) to the
  new code answering ``push`` on a clone in the room: the command path, the
  Realm's reload (compiling the edited source with zig in a child process,
  admitting the new component, swapping the version pointer; it runs as a
  background job), the wizard's "Reloaded" report (an event of its own),
  then ``push`` offered to a clone that runs ``on-reload`` and the new
  ``on-command``, and the reply text (it carries a token only the new
  source has) reaching the player's session. The source edit is a real
  change (a fresh random token in a message), so the compile is never a
  cache hit. ``reload_c_phases_ms`` splits it: ``compile`` (the build of
  the one source, its child process included), ``admit_and_swap`` (the
  publish), ``rest`` (the command path, the report and the two hooks).
  Goal: ``reload_c_whole_ms_10000_clones <= 1000`` (a wizard's reload of a
  C blueprint answers within a second, whatever its clone count).
* ``reload_python_whole_ms``: the same for the Python blueprint
  ``/examples/greeter`` (one clone in the room, ``greet``): componentize-py
  builds a whole Python interpreter into the component, so its compile
  (20 s or more) and the cold admission of the ~40 MB component dominate.
  Measured once; no goal.
* ``reload_swap_only_ms_10000_clones``: the swap alone: a C version compiled
  and admitted before the timer starts, then ``Tenant.publish`` of it (the
  runtime counts one more admission of a version it holds, a thread hop in
  process; the blueprint's version pointer moves; the 10,000 clones migrate
  lazily on their next hook). ``first_hook_after_swap_ms``: that first hook on a
  clone (``on-reload`` + ``on-command``). (Until now ``reload_ms_10000_clones``
  timed the admission + swap of a component compiled before the timer.)
* ``clone_with_on_load_us``: making one clone of the counter (its
  ``on-load`` included), averaged over the 10,000.
* ``bytes_per_clone``: driver-side memory per clone, state excluded
  (tracemalloc over 10,000 bare clone records).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from common import ROOT, unthrottled_quotas

from driver.app import Realm, RealmConfig
from driver.net.session import ClientInfo, Session
from driver.players.presence import Link
from driver.runtimes.inproc import InprocRuntime
from driver.store.accounts import MemoryAccountStore
from driver.world import ids
from sandbox.build import manifest as build_manifest
from sandbox.build import worldbuild

COUNTER = "/examples/counter"
GREETER = "/examples/greeter"
RELOAD_GOAL_MS = 1000


class NullSession(Session):
    """A session that counts what it is sent (the socket's place) and keeps
    the last texts (so a benchmark can see who answered, and wait for it)."""

    def __init__(self) -> None:
        self.info = ClientInfo(transport="bench", peer="bench")
        self.chunks = 0
        self.texts: list[str] = []

    def send_text(self, text: str) -> None:
        self.chunks += 1
        self.texts.append(text)
        if len(self.texts) > 64:
            del self.texts[:32]

    def send_prompt(self, text: str) -> None:
        self.chunks += 1

    def send_gmcp(self, package: str, data: object) -> None:
        self.chunks += 1

    def close(self, reason: str = "") -> None:
        pass

    def saw(self, needle: str) -> bool:
        return any(needle in text for text in self.texts)

    async def wait_for(self, realm: Realm, needle: str, *, unless: tuple[str, ...] = ()) -> None:
        """Run the tenant's events as they come (as its loop task would)
        until a text containing ``needle`` arrives; SystemExit if one
        containing any of ``unless`` comes first."""
        tenant = realm.tenant
        with trio.fail_after(900):
            while True:
                await settle(realm)
                if self.saw(needle):
                    return
                if any(self.saw(bad) for bad in unless):
                    raise SystemExit(f"bench/driver.py: waiting for {needle!r}, got {self.texts}")
                tenant.has_work = trio.Event()
                if not tenant.busy:
                    await tenant.has_work.wait()


def scratch_world(tmp: Path) -> tuple[Path, Path]:
    """A copy of world-src and of its build (the manifest and the components
    it names), so reload can edit sources and rebuild incrementally there."""
    world, build = tmp / "world", tmp / "build"
    shutil.copytree(ROOT / "world-src", world, symlinks=True)
    entries = build_manifest.load(ROOT / "build")
    (build / "components").mkdir(parents=True)
    for entry in entries.values():
        if entry.component:
            shutil.copy2(ROOT / "build" / entry.component, build / entry.component)
    build_manifest.save(build, world, entries)
    return world, build


async def make_realm(world: Path, build: Path) -> Realm:
    # The in-process sandbox, with the compiled-code cache of the real build
    # (what `jitrealm run` uses), so start-up does not recompile the
    # unchanged components.
    quotas, _ = unthrottled_quotas()
    realm = Realm(
        RealmConfig(world_dir=world, build_dir=build, quotas=quotas),
        runtime=InprocRuntime(cache_dir=ROOT / "build" / "cache"),
        accounts=MemoryAccountStore(),
    )
    errors = await realm.build()
    if errors:
        print(f"warning: {len(errors)} blueprint(s) failed to build", file=sys.stderr)
    await realm.publish_all()
    return realm


async def settle(realm: Realm) -> None:
    while await realm.loop.step():
        pass


async def seat(realm: Realm, name: str, *, wizard: bool = False) -> tuple[str, NullSession]:
    """A logged-in character in the start room whose session is a NullSession."""
    tenant = realm.tenant
    session = NullSession()
    pid = ids.player_id(name)
    realm.players.links[pid] = Link(pid, name.capitalize(), wizard, session, realm.players.clock())
    body = tenant.add_player(pid, {})
    body.set("name", name.capitalize())
    tenant.move(body, await tenant.find(realm.start_room))
    return pid, session


async def bench_events(realm: Realm, ann: str, sessions: list[NullSession], seconds: float = 3.0) -> dict[str, float]:
    tenant = realm.tenant
    counter = await tenant.clone(COUNTER)
    tenant.move(counter, await tenant.find(realm.start_room))
    await settle(realm)
    players = realm.players
    rates, cpu_rates = [], []
    total = 0
    for _ in range(3):
        n = 0
        start, cpu = time.perf_counter(), time.process_time()
        deadline = start + seconds / 3
        while time.perf_counter() < deadline:
            for _ in range(100):
                players.command(ann, "push")
                await settle(realm)
            n += 100
        rates.append(n / (time.perf_counter() - start))
        cpu_rates.append(n / (time.process_time() - cpu))
        total += n
    counted = counter.get("count")
    failed = [f"{e.kind}: {e.message}" for e in tenant.errors if e.object_id == counter.id]
    if counted != total:
        print(f"bench/driver.py: {total} pushes, the counter counted {counted}; guest errors: {failed[-3:]}",
              file=sys.stderr)
    tenant.destruct(counter)  # the reload benchmark brings its own
    await settle(realm)
    return {
        "tenant_events_per_second_no_socket": round(statistics.median(rates)),
        "tenant_events_per_cpu_second_no_socket": round(statistics.median(cpu_rates)),
        "tenant_events_run": total,
        "tenant_events_failed": total - counted,
        "session_writes": sum(s.chunks for s in sessions),
    }


def edit_source(realm: Realm, blueprint: str, old: str, new: str) -> Path:
    """Replace ``old`` with ``new`` in the blueprint's (scratch) source."""
    entry = build_manifest.load(realm.config.build_dir)[blueprint]
    source = realm.config.world_dir / entry.source
    text = source.read_text()
    assert old in text, (blueprint, old)
    source.write_text(text.replace(old, new, 1))
    return source


async def timed_reload(realm: Realm, admin: str, admin_session: NullSession, blueprint: str,
                       player: str, session: NullSession, command: str, token: str) -> dict[str, float]:
    """The wizard's reload, then ``command`` until the reply with ``token``
    arrives; the whole and its phases, in ms."""
    phases = {"compile": 0.0, "admit_and_swap": 0.0}

    def timing(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                phases[name] += (time.perf_counter() - started) * 1000

        return wrapper

    # Instance attributes shadow the methods Realm.reload calls.
    realm.build = timing("compile", realm.build)  # type: ignore[method-assign]
    realm._publish = timing("admit_and_swap", realm._publish)  # type: ignore[method-assign]
    admin_session.texts.clear()
    session.texts.clear()
    try:
        start = time.perf_counter()
        realm.players.command(admin, f"reload {blueprint}")
        await settle(realm)  # the command: "Reloading...", the build and admission start
        await admin_session.wait_for(realm, f"Reloaded {blueprint}", unless=("Compile error", "Cannot reload"))
        realm.players.command(player, command)
        await settle(realm)
        whole = (time.perf_counter() - start) * 1000
    finally:
        del realm.build, realm._publish
    if not session.saw(token):
        raise SystemExit(f"bench/driver.py: the new {blueprint} did not answer {command!r}: {session.texts}")
    return {
        "whole": round(whole, 2),
        "compile": round(phases["compile"], 2),
        "admit_and_swap": round(phases["admit_and_swap"], 2),
        "rest": round(whole - phases["compile"] - phases["admit_and_swap"], 2),
    }


async def bench_reload(realm: Realm, ann: str, ann_session: NullSession, admin: str, admin_session: NullSession,
                       clones: int = 10_000, python: bool = True) -> dict[str, Any]:
    tenant = realm.tenant
    room = await tenant.find(realm.start_room)
    start = time.perf_counter()
    made = [await tenant.clone(COUNTER) for _ in range(clones)]
    await settle(realm)
    clone_s = time.perf_counter() - start
    tenant.move(made[0], room)  # the clone that answers `push`
    await settle(realm)
    out: dict[str, Any] = {"clones": clones, "clone_with_on_load_us": round(clone_s / clones * 1e6, 1)}

    # C: the whole reload, a real edit (a token no earlier run compiled).
    token = os.urandom(4).hex()
    edit_source(realm, COUNTER, "Click! The counter now reads ", f"Click ({token})! The counter now reads ")
    before = made[0].version
    c = await timed_reload(realm, admin, admin_session, COUNTER, ann, ann_session, "push", token)
    current = tenant.blueprints.get(COUNTER)
    assert current is not None and made[0].version != before and made[0].version == current.version
    out[f"reload_c_whole_ms_{clones}_clones"] = c.pop("whole")
    out["reload_c_phases_ms"] = c

    # The swap alone: compile and admit before the timer, then publish.
    swap_token = os.urandom(4).hex()
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        shutil.copytree(realm.config.world_dir, world, symlinks=True)
        source = world / build_manifest.load(realm.config.build_dir)[COUNTER].source
        source.write_text(source.read_text().replace(token, swap_token))
        result = worldbuild.build_world(world, Path(tmp) / "build", [source], wit_dir=ROOT / "wit", quiet=True)
        assert result.ok, result.failed
        data = result.artifacts[COUNTER].read()
    runtime = realm.runtime
    admitted = await runtime.admit(data)
    start = time.perf_counter()
    version, old = await tenant.publish(COUNTER, data)
    swap_ms = (time.perf_counter() - start) * 1000
    runtime.release(admitted)  # the benchmark's own admission
    assert version == admitted and version != old
    other = made[1]
    start = time.perf_counter()
    outcome = await tenant.run_hook(other, "on-command", (ann, "look", ""))  # type: ignore[arg-type]
    first_hook_ms = (time.perf_counter() - start) * 1000
    assert outcome is not None and outcome.ok and other.version == version
    out[f"reload_swap_only_ms_{clones}_clones"] = round(swap_ms, 3)
    out["first_hook_after_swap_ms"] = round(first_hook_ms, 3)

    if python:
        greeter = await tenant.clone(GREETER)
        tenant.move(greeter, room)
        await settle(realm)
        token = os.urandom(4).hex()
        edit_source(realm, GREETER, 'f"Hello, {args', f'f"Hello ({token}), {{args')
        py = await timed_reload(realm, admin, admin_session, GREETER, ann, ann_session, "greet", token)
        out["reload_python_whole_ms"] = py.pop("whole")
        out["reload_python_phases_ms"] = py
        tenant.destruct(greeter)
        await settle(realm)
    return out


def bench_memory(realm: Realm, clones: int = 10_000) -> dict[str, float]:
    tenant = realm.tenant
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    made = [tenant._create(tenant.next_clone_id(COUNTER), COUNTER) for _ in range(clones)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The list holding them is the benchmark's, not the driver's.
    grown -= sys.getsizeof(made)
    return {"bytes_per_clone": round(grown / clones, 1)}


async def run(result: dict[str, Any], clones: int, python: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="jitrealm-bench-driver-") as tmp:
        realm = await make_realm(*scratch_world(Path(tmp)))
        async with trio.open_nursery() as nursery:
            realm.players.nursery = nursery  # where the wizard's reload runs its build
            ann, ann_session = await seat(realm, "ann")
            _, bob_session = await seat(realm, "bob")
            await settle(realm)
            result.update(await bench_events(realm, ann, [ann_session, bob_session]))
            admin, admin_session = await seat(realm, "admin", wizard=True)
            await settle(realm)
            result.update(await bench_reload(realm, ann, ann_session, admin, admin_session, clones, python))
            result.update(bench_memory(realm))
            nursery.cancel_scope.cancel()


def main() -> None:
    # For development: --clones N (the keys then name N), --no-python.
    python = "--no-python" not in sys.argv[1:]
    clones = 10_000
    if "--clones" in sys.argv:
        clones = int(sys.argv[sys.argv.index("--clones") + 1])
    result: dict[str, Any] = {"benchmark": "driver"}
    result["loadavg_before"] = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    result["rate_budgets_raised"] = unthrottled_quotas()[1]
    trio.run(run, result, clones, python)
    result["goals"] = {
        f"reload_c_whole_{clones}_clones_le_{RELOAD_GOAL_MS}ms": result[f"reload_c_whole_ms_{clones}_clones"] <= RELOAD_GOAL_MS,
        "bytes_per_clone_le_1024": result["bytes_per_clone"] <= 1024,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

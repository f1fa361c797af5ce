"""No world code can deny service: each attack of the governance issue,
contained by budgets, fair scheduling and quarantine (tests/worlds/hostile).

The tenant runs on a fake clock, so budgets (rates per second) are exact;
each attack runs for a bounded number of turns and simulated seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio

from driver.runtimes import Runtime
from driver.tenancy import recovery
from driver.tenancy.output import Outbox
from driver.tenancy.quotas import Quotas
from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.objects import MudObject
from sandbox.build import manifest as build_manifest
from sandbox.runtime.host import Sandbox

from ..driver_support import FakeClock, as_runtime, build

HOSTILE_WORLD = Path(__file__).resolve().parents[1] / "worlds" / "hostile"


class Screen:
    """A tenant Output that records what players and wizards were told."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.notices: list[str] = []

    def text(self, player_id: str, text: str) -> None:
        self.texts.setdefault(player_id, []).append(text)

    def room_changed(self, player_id: str) -> None:
        pass

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        pass

    def release(self, outbox: Outbox) -> None:
        raise AssertionError("nothing is held without a committer")

    def wizard_notice(self, text: str) -> None:
        self.notices.append(text)


@pytest.fixture(scope="session")
def hostile_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile-build")
    build(HOSTILE_WORLD, out)
    return out


async def make_world(runtime: Runtime | Sandbox, build_dir: Path, **quotas: Any) -> tuple[Tenant, Screen, FakeClock]:
    screen, clock = Screen(), FakeClock()
    tenant = Tenant("hostile", as_runtime(runtime), screen, quotas=Quotas(**quotas), clock=clock)
    for path, entry in build_manifest.load(build_dir).items():
        if entry.component:
            await tenant.publish(path, (build_dir / entry.component).read_bytes())
    return tenant, screen, clock


async def bystander(tenant: Tenant) -> MudObject:
    player = tenant.add_player(ids.player_id("bea"), {"name": cbor2.dumps("Bea")})
    room = await tenant.find("/rooms/start")
    assert room is not None
    tenant.move(player, room)
    await tenant.run_turn(1000)
    return player


async def run_for(tenant: Tenant, clock: FakeClock, seconds: float, step_ms: float = 50) -> None:
    """Simulated time passes; the tenant gets a turn every ``step_ms``."""
    for _ in range(int(seconds * 1000 / step_ms)):
        clock.advance(step_ms)
        tenant.collect_due(clock())
        await tenant.run_turn()


async def answered(tenant: Tenant, player: MudObject) -> bool:
    """A bystander's command, queued behind whatever the world has queued,
    runs in the very next turn."""
    done: list[bool] = []

    async def look() -> None:
        done.append(True)

    assert tenant.enqueue_command(player.id, look)
    await tenant.run_turn()
    return done == [True]


async def test_callout_storm_is_throttled_then_quarantined(backend: Runtime, hostile_build: Path) -> None:
    tenant, screen, clock = await make_world(backend, hostile_build)
    bea = await bystander(tenant)
    await tenant.clone("/obj/storm")
    for _ in range(20):
        await run_for(tenant, clock, 0.5)
        assert await answered(tenant, bea)
    assert len(tenant.callouts) < 500  # not 2^n: the callouts-per-second budget held
    kinds = {e.kind for e in tenant.errors}
    assert "host-limit" in kinds
    assert tenant.quarantine.objects or tenant.quarantine.blueprints
    assert any("[quarantine]" in n for n in screen.notices)
    assert len(tenant.callouts) == 0  # quarantine dropped what was pending


async def test_fuel_burning_heartbeats_wait_for_their_budget(backend: Runtime, hostile_build: Path) -> None:
    tenant, screen, clock = await make_world(
        backend, hostile_build, quarantine_strikes=1000, object_fuel_per_second=60_000_000,
        fuel_per_second=120_000_000,
    )  # fmt: skip
    bea = await bystander(tenant)
    burners = [await tenant.clone("/obj/burner") for _ in range(3)]
    await run_for(tenant, clock, 0.2)
    before = len(tenant.errors)
    await run_for(tenant, clock, 5.0, step_ms=100)
    burned = len(tenant.errors) - before
    # Each beat burns 50M fuel; the world may spend 120M a second: about 2.4
    # beats a second in all, not 3 burners x 10 beats a second.
    assert 0 < burned <= 5 * 2.4 + 4, burned
    assert all(e.kind == "fuel" for e in list(tenant.errors)[before:])
    assert await answered(tenant, bea)
    assert {b.id for b in burners}  # they still exist: throttled, not destroyed


async def test_burners_are_quarantined_and_released_by_a_wizard(backend: Runtime, hostile_build: Path) -> None:
    tenant, screen, clock = await make_world(backend, hostile_build, quarantine_strikes=3)
    burner = await tenant.clone("/obj/burner")
    await run_for(tenant, clock, 3.0, step_ms=100)
    assert burner.id in tenant.quarantine.objects
    assert burner.id not in tenant.heartbeats.entries  # its timers are gone
    errors = len(tenant.errors)
    await run_for(tenant, clock, 2.0, step_ms=100)
    assert len(tenant.errors) == errors  # nothing of it runs any more
    assert recovery.release(tenant, burner.id)
    assert burner.id in tenant.heartbeats.entries  # heartbeat back
    await run_for(tenant, clock, 0.5, step_ms=100)
    assert len(tenant.errors) > errors


async def test_time_in_host_calls_counts_against_the_deadline(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build, quarantine_strikes=1000)
    await tenant.clone("/obj/reader")
    await run_for(tenant, clock, 1.0, step_ms=100)
    failures = list(tenant.errors)
    assert failures and {e.kind for e in failures} <= {"deadline", "fuel"}, failures
    deadline = tenant.quotas.limits.deadline_ms
    assert all("deadline" in e.message or "fuel" in e.message for e in failures)
    assert deadline == 200


async def test_state_growth_is_capped_per_object(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build, quarantine_strikes=1000)
    grower = await tenant.clone("/obj/grower")
    await run_for(tenant, clock, 2.0, step_ms=100)
    size = sum(len(k) + len(v) for k, v in grower.state.items())
    assert size <= tenant.quotas.max_state_bytes_per_object
    assert tenant.budgets.state_total <= tenant.quotas.max_state_bytes_total
    assert any(e.kind == "host-limit" for e in tenant.errors)


async def test_clone_storm_stops_and_the_wizard_can_still_clone(backend: Runtime, hostile_build: Path) -> None:
    tenant, screen, clock = await make_world(backend, hostile_build)
    bea = await bystander(tenant)
    await tenant.clone("/obj/cloner")
    for _ in range(10):
        await run_for(tenant, clock, 1.0, step_ms=100)
        assert await answered(tenant, bea)
    cloners = sum(1 for o in tenant.graph.objects.values() if o.blueprint == "/obj/cloner")
    assert cloners < 1000  # the clones-per-second budget, not 2^n
    assert "/obj/cloner" in tenant.quarantine.blueprints
    stone = await tenant.clone("/obj/storm")  # another blueprint clones fine
    assert stone.id in tenant.graph
    assert recovery.purge(tenant, "/obj/cloner") == cloners


async def test_ping_pong_is_throttled_and_quarantined(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build)
    bea = await bystander(tenant)
    a = await tenant.clone("/obj/pinger")
    b = await tenant.clone("/obj/pinger")
    outcome = await tenant.run_hook(a, tenant_hook("on-command"), (bea.id, "ping", b.id))
    assert outcome is not None and outcome.ok
    for _ in range(5):
        await run_for(tenant, clock, 1.0, step_ms=100)
        assert await answered(tenant, bea)
    assert any(e.kind == "host-limit" and "messages" in e.message for e in tenant.errors)
    # The refused tell ended the exchange (all or nothing: it was never sent):
    # no more hooks run, however long the world goes on.
    ran = tenant.events_run
    await run_for(tenant, clock, 3.0, step_ms=100)
    assert tenant.events_run - ran <= 1
    assert ran < 2 * tenant.quotas.object_messages_per_second * tenant.quotas.budget_burst_seconds + 20


def tenant_hook(name: str) -> Any:
    from sandbox.protocol import Hook

    return Hook(name)


async def test_memory_hogs_are_held_to_the_tenants_total(sandbox: Sandbox, hostile_build: Path) -> None:
    total = 160 * 1024 * 1024
    limits = Quotas().limits
    from dataclasses import replace

    tenant, _, clock = await make_world(
        sandbox, hostile_build, limits=replace(limits, memory_total_bytes=total)
    )
    for i in range(1, 10):
        await tenant.find(f"/hogs/hog{i}")
    charged = sandbox._tenant_memory["hostile"]  # noqa: SLF001
    assert charged <= total
    assert all(tenant.graph.get(f"/hogs/hog{i}") is not None for i in range(1, 10))
    assert sandbox.sweep(idle_seconds=0) >= 1
    assert sandbox._tenant_memory.get("hostile", 0) == 0  # noqa: SLF001


async def test_one_heartbeat_pending_per_object(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build, quarantine_strikes=1000)
    await tenant.clone("/obj/burner")
    for _ in range(20):  # beats fall due, but no turn runs
        clock.advance(100)
        tenant.collect_due(clock())
    assert len(tenant.queue) == 1


async def test_too_busy_only_for_a_players_own_flood(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build, max_queued_events=10)

    async def nothing() -> None:
        pass

    for _ in range(50):
        tenant.enqueue(nothing)  # the world's queue is full
    assert tenant.enqueue_command("/player/bea", nothing)  # a player still gets in
    for _ in range(tenant.quotas.max_pending_commands - 1):
        assert tenant.enqueue_command("/player/flood", nothing)
    assert tenant.enqueue_command("/player/flood", nothing)
    assert not tenant.enqueue_command("/player/flood", nothing)  # their own flood
    assert tenant.enqueue_command("/player/bea", nothing)  # not anyone else's


async def test_timers_held_until_a_wizard_resumes(backend: Runtime, hostile_build: Path) -> None:
    tenant, _, clock = await make_world(backend, hostile_build)
    await tenant.clone("/obj/storm")
    tenant.timers_paused = True
    await run_for(tenant, clock, 1.0)
    assert len(tenant.callouts) == 1 and not tenant.errors
    assert recovery.cancel_callouts(tenant, "/obj/storm") == 1
    tenant.timers_paused = False
    await run_for(tenant, clock, 1.0)
    assert len(tenant.callouts) == 0


async def test_a_world_saved_mid_storm_starts_and_serves_players(
    backend: Runtime, hostile_build: Path, tmp_path: Path
) -> None:
    """Two thousand callouts of a storm are saved (the storm ran under
    budgets raised out of reach); the world restarts with its real budgets
    and a player logs in and is answered while the storm is throttled."""
    from driver.app import RealmConfig, open_realm
    from driver.server import serve

    from ..driver_support import CHEAP, TelnetClient, add_wizard

    def config(quotas: Quotas) -> RealmConfig:
        return RealmConfig(
            world_dir=HOSTILE_WORLD, build_dir=hostile_build, data_dir=tmp_path / "var",
            kdf_params=CHEAP, quotas=quotas,
        )  # fmt: skip

    unbounded = Quotas(callouts_per_second=1e9, object_callouts_per_second=1e9, max_pending_callouts=10**6)
    realm, persistence = await open_realm(config(unbounded), backend)
    storm = await realm.tenant.clone("/obj/storm")
    clock = FakeClock()
    realm.tenant.clock = clock
    realm.tenant.budgets.clock = clock
    with trio.fail_after(120):
        while len(realm.tenant.callouts) < 2_000:
            clock.advance(10)
            realm.tenant.collect_due(clock())
            await realm.tenant.run_turn(1000)
    assert storm.id in realm.tenant.graph
    saved = len(realm.tenant.callouts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(persistence.run)
        with trio.fail_after(60):
            while realm.tenant.changes or persistence.held or persistence.pending:
                persistence.kick()
                await trio.sleep(0.05)
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    persistence.store.close()

    again, persistence2 = await open_realm(config(Quotas()), backend)
    assert len(again.tenant.callouts) == saved  # the storm came back whole
    add_wizard(again.accounts)
    async with trio.open_nursery() as nursery:
        port, _ = await nursery.start(
            lambda task_status: serve(again, ("127.0.0.1", 0), ("127.0.0.1", 0),
                                      persistence=persistence2, task_status=task_status)
        )  # fmt: skip
        wiz = await TelnetClient.log_in(port, "connect admin wizardly", timeout=30)
        for _ in range(5):
            await wiz.command("look", "Proving Ground", timeout=10)
            await trio.sleep(0.3)
        await wiz.command("callouts cancel /obj/storm", "Cancelled", timeout=10)
        assert len(again.tenant.callouts) < saved
        await wiz.close()
        nursery.cancel_scope.cancel()
    persistence2.store.close()

"""What authors and admins read of a tenant: error records (blueprint@version,
numbered, quarantines included, saved in a real SQLite store and read back
after a restart, versions' metadata with them), usage figures, and quotas
changed live taking effect at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio

from driver.persistence.commit import Persistence
from driver.persistence.restore import restore
from driver.runtimes import Runtime
from driver.runtimes.inproc import InprocRuntime
from driver.store.sqlite import SqliteStore
from driver.tenancy import quotas as quota_names
from driver.tenancy import recovery
from driver.tenancy.errors import QUARANTINED, QuotaExceeded
from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.objects import MudObject
from sandbox.protocol import Hook, Outcome

from ..driver_support import FakeClock, as_runtime
from ..gadgets import gadgets_fixture  # noqa: F401  (the session fixture `gadgets`)
from .test_publishing import GADGET, Screen

PLAYER = ids.player_id("ann")


def make_tenant(runtime: Runtime, **quotas: Any) -> tuple[Tenant, Screen, FakeClock]:
    screen, clock = Screen(), FakeClock()
    tenant = Tenant(
        "acme", as_runtime(runtime), screen, quotas=quota_names.with_changes(
            quota_names.from_flat({}), quotas), clock=clock,
    )  # fmt: skip
    tenant.add_player(PLAYER, {"name": cbor2.dumps("Ann")})
    return tenant, screen, clock


async def command(tenant: Tenant, obj: MudObject, verb: str) -> Outcome:
    """``verb`` typed at ``obj``, run as an event (as a player's command is)."""
    result: list[Outcome | None] = []

    async def run() -> None:
        tenant.actor = PLAYER
        result.append(await tenant.run_hook(obj, Hook.ON_COMMAND, (PLAYER, verb, "")))

    await tenant.run_event(run)
    outcome = result[0]
    assert outcome is not None
    return outcome


async def test_error_records_name_the_code_and_are_numbered(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, screen, _ = make_tenant(backend, quarantine_strikes=3)
    v1 = await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    for _ in range(3):
        assert (await command(tenant, gadget, "crash")).error is not None
    records = list(tenant.errors)
    traps = [r for r in records if r.kind == "trap"]
    assert len(traps) == 3
    assert all(r.blueprint == GADGET and r.version == v1.version for r in traps)
    assert all(r.object_id == gadget.id and r.hook == "on-command" for r in traps)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    # The third strike quarantined it, and that is on the record too.
    quarantined = [r for r in records if r.kind == QUARANTINED]
    assert [r.object_id for r in quarantined] == [gadget.id]
    assert tenant.quarantine_infos()[0].target == gadget.id
    assert tenant.quarantine_infos()[0].scope == "object"
    infos = tenant.error_infos(limit=2)
    assert [i.seq for i in infos] == [r.seq for r in records[-2:]]
    assert (
        infos[-1].tenant == "acme"
        and infos[0].blueprint == GADGET
        and infos[0].version == v1.version
    )
    assert tenant.usage().errors_by_kind == {"trap": 3, QUARANTINED: 1}
    assert recovery.release(tenant, gadget.id) and tenant.quarantine_infos() == []


async def test_error_counts_outlive_the_bounded_records(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _, _ = make_tenant(backend, max_errors_kept=2, quarantine_strikes=1000)
    await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    for _ in range(5):
        await command(tenant, gadget, "crash")
    assert len(tenant.errors) == 2 and [r.seq for r in tenant.errors] == [4, 5]
    assert tenant.usage().errors_by_kind == {"trap": 5}


async def test_errors_and_versions_survive_a_restart(
    backend: Runtime, gadgets: dict[str, bytes], tmp_path: Path
) -> None:
    data = tmp_path / "var"
    store = SqliteStore(data)
    tenant, _, _ = make_tenant(backend, quarantine_strikes=1000, max_errors_kept=3)
    persistence = Persistence(store, _World([tenant]))
    tenant.committer = persistence
    v1 = await tenant.publish_version(GADGET, gadgets["v1"])
    v3 = await tenant.publish_version(GADGET, gadgets["v3"])
    staged = await tenant.publish_version(GADGET, gadgets["v4"], stage=True)
    gadget = await tenant.clone(GADGET)
    for _ in range(4):
        await command(tenant, gadget, "crash")
    assert [r.seq for r in tenant.errors] == [2, 3, 4]
    await trio.to_thread.run_sync(store.commit, persistence.build_batch())
    before = tenant.versions(GADGET)
    saved = list(tenant.errors)
    store.close()

    store = SqliteStore(data)
    snapshot = store.load()
    again, _, _ = make_tenant(backend, max_errors_kept=3)
    assert await restore(again, snapshot) == []
    assert list(again.errors) == saved  # the newest 3, field for field
    assert again.error_infos()[0].version == v3.version
    assert again.versions(GADGET) == before
    assert before.staged == staged.version and before.versions[0].published_at
    # The numbering goes on; older versions come back from the store.
    regained = again.graph.get(gadget.id)
    assert regained is not None
    await command(again, regained, "crash")
    assert again.errors[-1].seq == 5

    async def from_store(version: str) -> bytes | None:
        return await trio.to_thread.run_sync(store.get_version, version)

    again.load_component = from_store
    back = await again.activate(GADGET)
    assert back.activated and back.version == v1.version
    assert (await again.activate(GADGET, staged.version)).activated
    store.close()


async def test_usage_figures_move(backend: Runtime, gadgets: dict[str, bytes]) -> None:
    tenant, _, clock = make_tenant(backend)
    empty = tenant.usage(connections=3, players_online=1)
    assert empty.tenant == "acme" and empty.fuel_used == 0 and empty.events_run == 0
    assert (empty.connections, empty.players_online) == (3, 1)
    await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    assert (await command(tenant, gadget, "burn")).ok
    assert (await command(tenant, gadget, "arm")).ok
    now = tenant.usage()
    assert now.fuel_used > 100_000 and now.fuel_per_second > 0
    assert now.fuel_per_second_quota == tenant.quotas.fuel_per_second
    assert now.objects == 2 and now.callouts_pending == 1 and now.events_run == 2
    assert now.state_bytes > 0 and now.errors_by_kind == {}
    if isinstance(backend, InprocRuntime):
        assert now.memory_bytes > 0  # charged its instances' caps
    else:
        assert now.memory_bytes == 0  # a worker pool does not report it
    clock.advance(60_000)  # a minute later the rate is down to nothing
    assert tenant.usage().fuel_per_second == 0 and tenant.usage().fuel_used == now.fuel_used


async def test_lower_fuel_per_second_holds_timers_at_once(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _, clock = make_tenant(backend)
    await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    assert (await command(tenant, gadget, "arm")).ok
    tenant.set_quotas(quota_names.with_changes(tenant.quotas, {"fuel_per_second": 1000}))
    assert (await command(tenant, gadget, "burn")).ok  # far over a 2,000 fuel burst
    clock.advance(200)
    tenant.collect_due(clock())
    await tenant.run_turn(1000)
    assert gadget.get("rings") is None and len(tenant.callouts) == 1  # held, still pending
    usage = tenant.usage()
    assert usage.fuel_wait_seconds > 0 and usage.fuel_per_second_quota == 1000
    # Raised again, the callout runs when it is next due.
    tenant.set_quotas(quota_names.with_changes(tenant.quotas, {"fuel_per_second": 1e12}))
    clock.advance(tenant.callouts.next_due() - clock() if tenant.callouts.next_due() else 0)  # type: ignore[operator]
    tenant.collect_due(clock())
    await tenant.run_turn(1000)
    assert gadget.get("rings") == 1


async def test_lower_max_objects_refuses_a_clone(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _, _ = make_tenant(backend)
    await tenant.publish_version(GADGET, gadgets["v1"])
    await tenant.clone(GADGET)
    tenant.set_quotas(quota_names.with_changes(tenant.quotas, {"max_objects": len(tenant.graph)}))
    with pytest.raises(QuotaExceeded, match=r"object quota reached \(2\)"):
        await tenant.clone(GADGET)


async def test_lower_call_fuel_fails_the_next_call(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _, _ = make_tenant(backend, quarantine_strikes=1000)
    await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    assert (await command(tenant, gadget, "burn")).ok
    tenant.set_quotas(quota_names.with_changes(tenant.quotas, {"call_fuel": 10_000}))
    outcome = await command(tenant, gadget, "burn")
    assert outcome.error is not None and outcome.error.kind == "fuel"
    assert tenant.errors[-1].kind == "fuel" and tenant.usage().errors_by_kind == {"fuel": 1}


async def test_quota_changes_reach_what_captured_the_old_ones(backend: Runtime) -> None:
    tenant, _, _ = make_tenant(backend)
    changed = quota_names.with_changes(
        tenant.quotas, {"max_errors_kept": 7, "quarantine_strikes": 2, "reset_jitter": 0.0}
    )
    tenant.set_quotas(changed)
    assert tenant.quotas is changed and tenant.budgets.quotas is changed
    assert tenant.quarantine.quotas is changed and tenant.errors.maxlen == 7
    assert tenant.resets.jitter == 0.0


class _World:
    """What persistence needs of the world: the tenants."""

    def __init__(self, tenants: list[Tenant]) -> None:
        self.tenants = tenants

    def pause(self, why: str) -> None:
        raise AssertionError(why)

    def resume(self) -> None:
        pass

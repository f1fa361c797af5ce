"""Publishing versions of a blueprint: activate, stage, canary, roll back,
versions kept, and the component size quota (driver.tenancy.publishing),
with real components built by zig, on both sandbox backends."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from driver.runtimes import Runtime
from driver.tenancy.errors import NoSuchBlueprint, NoSuchVersion, QuotaExceeded
from driver.tenancy.output import Outbox
from driver.tenancy.quotas import Quotas
from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.changes import Changes
from driver.world.objects import MudObject
from sandbox.protocol import AdmissionError, Hook

from ..driver_support import FakeClock, as_runtime
from ..gadgets import gadgets_fixture  # noqa: F401  (the session fixture `gadgets`)

GADGET = "/obj/gadget"


class Screen:
    """A tenant Output that records everything anyone was told."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.notices: list[str] = []

    def text(self, player_id: str, text: str) -> None:
        self.texts.append((player_id, text))

    def room_changed(self, player_id: str) -> None:
        pass

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        pass

    def release(self, outbox: Outbox) -> None:
        raise AssertionError("nothing is held without a committer")

    def wizard_notice(self, text: str) -> None:
        self.notices.append(text)


def make_tenant(runtime: Runtime, **quotas: Any) -> tuple[Tenant, Screen]:
    screen = Screen()
    tenant = Tenant("pub", as_runtime(runtime), screen, quotas=Quotas(**quotas), clock=FakeClock())
    return tenant, screen


async def poke(tenant: Tenant, obj: MudObject, screen: Screen) -> str:
    """What ``obj`` tells a player who pokes it (running the hook live)."""
    player = tenant.graph.get(ids.player_id("ann")) or tenant.add_player(
        ids.player_id("ann"), {"name": cbor2.dumps("Ann")}
    )
    screen.texts.clear()
    outcome = await tenant.run_hook(obj, Hook.ON_COMMAND, (player.id, "poke", ""))
    assert outcome is not None and outcome.ok, outcome
    return "".join(t for who, t in screen.texts if who == player.id).strip()


async def test_publish_activates_a_new_version(backend: Runtime, gadgets: dict[str, bytes]) -> None:
    tenant, screen = make_tenant(backend)
    first = await tenant.publish_version(GADGET, gadgets["v1"])
    assert first.activated and first.previous is None and not first.staged and not first.unchanged
    gadget = await tenant.clone(GADGET)
    assert await poke(tenant, gadget, screen) == "v1"
    second = await tenant.publish_version(GADGET, gadgets["v3"])
    assert second.activated and second.previous == first.version and second.objects == 1
    assert tenant.blueprints.get(GADGET).version == second.version  # type: ignore[union-attr]
    # The object keeps its state and runs on-reload before its next hook.
    assert await poke(tenant, gadget, screen) == "v3"
    assert gadget.get("reloads") == 1 and gadget.version == second.version
    again = await tenant.publish_version(GADGET, gadgets["v3"])
    assert again.unchanged and again.activated and again.version == second.version
    listing = tenant.versions(GADGET)
    assert [v.version for v in listing.versions] == [first.version, second.version]
    assert listing.current == second.version and listing.staged is None
    assert [v.current for v in listing.versions] == [False, True]
    assert listing.versions[0].size == len(gadgets["v1"]) and listing.versions[1].published_at


async def test_stage_then_activate(backend: Runtime, gadgets: dict[str, bytes]) -> None:
    tenant, screen = make_tenant(backend)
    first = await tenant.publish_version(GADGET, gadgets["v1"])
    gadget = await tenant.clone(GADGET)
    staged = await tenant.publish_version(GADGET, gadgets["v3"], stage=True)
    assert staged.staged and not staged.activated and staged.previous == first.version
    listing = tenant.versions(GADGET)
    assert listing.current == first.version and listing.staged == staged.version
    assert [(v.current, v.staged) for v in listing.versions] == [(True, False), (False, True)]
    assert await poke(tenant, gadget, screen) == "v1"  # still the old code
    assert staged.version not in tenant.blueprints.held  # kept, not held by the runtime
    done = await tenant.activate(GADGET, staged.version[:12])  # a unique prefix will do
    assert done.activated and done.version == staged.version and done.previous == first.version
    assert tenant.versions(GADGET).staged is None
    assert await poke(tenant, gadget, screen) == "v3"


async def test_a_staged_first_version_is_not_loadable_until_activated(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _ = make_tenant(backend)
    staged = await tenant.publish_version(GADGET, gadgets["v1"], stage=True)
    assert not tenant.can_load(GADGET)
    with pytest.raises(NoSuchBlueprint):
        await tenant.clone(GADGET)
    await tenant.activate(GADGET, staged.version)
    assert tenant.can_load(GADGET)


async def test_canary_passes_and_activates(backend: Runtime, gadgets: dict[str, bytes]) -> None:
    tenant, screen = make_tenant(backend)
    old = await tenant.publish_version(GADGET, gadgets["v1"])
    clones = [await tenant.clone(GADGET) for _ in range(4)]
    states = [dict(c.state) for c in clones]
    counter, handle = tenant.clone_counter, tenant.peek_handle()
    screen.texts.clear()
    result = await tenant.publish_version(GADGET, gadgets["v2"], canary=3)
    assert result.activated and result.canary_checked == 3 and result.canary_failures == []
    assert result.previous == old.version
    # The rehearsal left no trace: states, counters, timers, messages.
    assert [dict(c.state) for c in clones] == states
    assert (tenant.clone_counter, tenant.peek_handle()) == (counter, handle)
    assert len(tenant.callouts) == 0 and screen.texts == [] and len(tenant.graph) == 4
    assert list(tenant.errors) == []
    # The real reload then runs as usual, before each object's next hook.
    assert await poke(tenant, clones[0], screen) == "v2"
    assert clones[0].get("reloads") == 1


async def test_canary_failure_changes_nothing(backend: Runtime, gadgets: dict[str, bytes]) -> None:
    tenant, screen = make_tenant(backend)
    old = await tenant.publish_version(GADGET, gadgets["v1"])
    clones = [await tenant.clone(GADGET) for _ in range(4)]
    for c in clones[1::2]:
        c.set("fragile", True)  # v2's on-reload traps for these
    states = [dict(c.state) for c in clones]
    versions = [c.version for c in clones]
    counter, handle = tenant.clone_counter, tenant.peek_handle()
    held = set(tenant.blueprints.held)
    tenant.changes = Changes()
    screen.texts.clear()
    result = await tenant.publish_version(GADGET, gadgets["v2"], canary=10)
    assert not result.activated and not result.staged and result.canary_checked == 4
    assert result.previous == old.version
    assert sorted(f.object_id for f in result.canary_failures) == sorted(c.id for c in clones[1::2])
    assert all(f.kind == "trap" and f.message for f in result.canary_failures)
    # The old version keeps running, and nothing at all changed.
    bp = tenant.blueprints.get(GADGET)
    assert bp is not None and bp.version == old.version and bp.history == [old.version]
    assert [dict(c.state) for c in clones] == states  # byte for byte
    assert [c.version for c in clones] == versions
    assert (tenant.clone_counter, tenant.peek_handle()) == (counter, handle)
    assert set(tenant.blueprints.held) == held  # the refused version is not held
    assert not tenant.changes and len(tenant.callouts) == 0 and len(tenant.graph) == 4
    assert list(tenant.errors) == [] and not tenant.quarantine.objects
    assert not tenant.quarantine.blueprints and screen.texts == [] and screen.notices == []
    assert [v.version for v in tenant.versions(GADGET).versions] == [old.version]
    assert await poke(tenant, clones[1], screen) == "v1"


async def test_rollback_goes_back_one_version_at_a_time(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, screen = make_tenant(backend)
    v1 = await tenant.publish_version(GADGET, gadgets["v1"])
    v3 = await tenant.publish_version(GADGET, gadgets["v3"])
    v4 = await tenant.publish_version(GADGET, gadgets["v4"])
    gadget = await tenant.clone(GADGET)
    assert await poke(tenant, gadget, screen) == "v4"
    back = await tenant.activate(GADGET)
    assert back.activated and back.version == v3.version and back.previous == v4.version
    assert await poke(tenant, gadget, screen) == "v3"  # released by the runtime, admitted again
    back = await tenant.activate(GADGET)
    assert back.version == v1.version
    assert await poke(tenant, gadget, screen) == "v1"
    with pytest.raises(NoSuchVersion):
        await tenant.activate(GADGET)  # the oldest kept
    with pytest.raises(NoSuchVersion):
        await tenant.activate(GADGET, "0123456789abcdef")
    with pytest.raises(NoSuchBlueprint):
        await tenant.activate("/obj/nothing")
    # Rolling back keeps the history in publishing order.
    assert [v.version for v in tenant.versions(GADGET).versions] == [
        v1.version,
        v3.version,
        v4.version,
    ]
    forward = await tenant.activate(GADGET, v4.version)
    assert forward.activated and await poke(tenant, gadget, screen) == "v4"


async def test_versions_kept_are_trimmed_but_never_current_or_staged(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _ = make_tenant(backend, versions_kept=2)
    published = [await tenant.publish_version(GADGET, gadgets[n]) for n in ("v1", "v2", "v3")]
    assert [v.version for v in tenant.versions(GADGET).versions] == [
        p.version for p in published[1:]
    ]
    with pytest.raises(NoSuchVersion):
        await tenant.activate(GADGET, published[0].version)
    assert published[0].version not in tenant.component_cache
    await tenant.activate(GADGET, published[1].version)  # v2 current, v3 newer
    staged = await tenant.publish_version(GADGET, gadgets["v4"], stage=True)
    # Three would be over the quota, but v2 is current and v4 staged: v3 goes.
    listing = tenant.versions(GADGET)
    assert [v.version for v in listing.versions] == [published[1].version, staged.version]
    assert listing.current == published[1].version and listing.staged == staged.version


async def test_a_component_over_the_size_quota_changes_nothing(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _ = make_tenant(backend, max_component_bytes=len(gadgets["v1"]) + 10)
    old = await tenant.publish_version(GADGET, gadgets["v1"])
    big = gadgets["v3"] + b"\0" * 64  # well-formed or not, it is refused on size first
    held = set(tenant.blueprints.held)
    with pytest.raises(QuotaExceeded, match="max_component_bytes"):
        await tenant.publish_version(GADGET, big)
    with pytest.raises(QuotaExceeded):
        await tenant.publish_version("/obj/other", big)
    assert tenant.blueprints.get("/obj/other") is None
    assert tenant.versions(GADGET).current == old.version
    assert [v.version for v in tenant.versions(GADGET).versions] == [old.version]
    assert set(tenant.blueprints.held) == held


async def test_a_refused_component_changes_nothing(
    backend: Runtime, gadgets: dict[str, bytes]
) -> None:
    tenant, _ = make_tenant(backend)
    old = await tenant.publish_version(GADGET, gadgets["v1"])
    with pytest.raises(AdmissionError):
        await tenant.publish_version(GADGET, b"\0asm\x0d\0\x01\0 not really a component")
    assert tenant.versions(GADGET).current == old.version
    assert len(tenant.versions(GADGET).versions) == 1

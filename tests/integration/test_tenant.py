"""The tenant: objects, movement, hooks, scheduling, reload, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest

from driver.tenancy.txn import Txn
from driver.world import ids
from sandbox.protocol import WorldRefusal

from ..driver_support import BASIC_WORLD, build, copy_world, drain, event, make_tenant


@pytest.fixture
async def world(backend, basic_build):
    return await make_tenant(backend, BASIC_WORLD, basic_build)


async def player(tenant, name="ann", room="/rooms/start"):
    p = tenant.add_player(ids.player_id(name), {"name": cbor2.dumps(name.capitalize())})
    tenant.move(p, await tenant.find(room))
    await drain(tenant)
    return p


async def test_master_loads_on_first_use_with_its_state(world):
    tenant, _, _ = world
    assert "/rooms/start" not in tenant.graph
    room = await tenant.find("/rooms/start")
    assert room is not None and room.id == "/rooms/start"
    assert room.short == "The Start"
    assert room.exits() == {"east": "/rooms/hall"}
    assert await tenant.find("/rooms/start") is room  # loaded once
    assert await tenant.find("/rooms/nowhere") is None


async def test_clone_ids_count_up_and_are_never_reused(world):
    tenant, _, _ = world
    a = await tenant.clone("/obj/stone")
    b = await tenant.clone("/obj/stone")
    assert (a.id, b.id) == ("/obj/stone#000001", "/obj/stone#000002")
    tenant.destruct(b)
    c = await tenant.clone("/obj/ticker")
    assert c.id == "/obj/ticker#000003"
    assert a.short == "a smooth stone" and a.nouns() == ["stone", "pebble", "stone"]


async def test_move_runs_on_enter_after_the_event(world):
    tenant, _, _ = world
    hall = await tenant.find("/rooms/hall")
    stone = await tenant.clone("/obj/stone")
    tenant.enqueue(event(lambda: tenant.move(stone, hall)))
    await tenant.run_turn(1000)
    assert stone.env is hall and hall.contents == [stone]
    assert hall.get("visits") == 1


async def test_destruct_drops_contents_into_the_environment(world):
    tenant, _, _ = world
    room = await tenant.find("/rooms/start")
    bag = await tenant.clone("/obj/stone")
    inner = await tenant.clone("/obj/stone")
    tenant.move(bag, room)
    tenant.move(inner, bag)
    tenant.destruct(bag)
    await drain(tenant)
    assert bag.id not in tenant.graph
    assert inner.env is room


async def test_graph_refuses_cycles(world):
    tenant, _, _ = world
    a, b = await tenant.clone("/obj/stone"), await tenant.clone("/obj/stone")
    tenant.move(b, a)
    with pytest.raises(ValueError):
        tenant.graph.move(a, b)


async def test_callout_fires_when_due(world):
    tenant, out, clock = world
    ann = await player(tenant)
    ticker = await tenant.clone("/obj/ticker")
    tenant.move(ticker, ann)
    outcome = await tenant.run_hook(ticker, "on-command", (ann.id, "arm", ""))
    assert outcome is not None and outcome.ok and outcome.result is True
    assert "Armed." in out.seen(ann.id)
    assert len(tenant.callouts) == 1
    clock.advance(49)
    tenant.collect_due(clock())
    await drain(tenant)
    assert ticker.get("ticks") is None
    clock.advance(1)
    tenant.collect_due(clock())
    await drain(tenant)
    assert ticker.get("ticks") == 1
    assert len(tenant.callouts) == 0


async def test_callouts_due_together_run_in_scheduling_order(world):
    tenant, _, clock = world
    ran: list[int] = []
    for n in range(5):
        tenant.schedule_callout(tenant.next_handle(), f"/x{n}", "m", 10, b"")

    async def run_callout(c):
        ran.append(int(c.object_id[2:]))  # observe order only

    tenant._run_callout = run_callout
    clock.advance(10)
    tenant.collect_due(clock())
    await drain(tenant)
    assert ran == [0, 1, 2, 3, 4]


async def test_cancelled_callout_never_runs(world):
    tenant, _, clock = world
    ticker = await tenant.clone("/obj/ticker")
    handle = tenant.next_handle()
    tenant.schedule_callout(handle, ticker.id, "tick", 5, b"")
    assert tenant.callouts.cancel(handle, owner="/someone/else") is False
    assert tenant.callouts.cancel(handle, owner=ticker.id) is True
    clock.advance(10)
    tenant.collect_due(clock())
    await drain(tenant)
    assert ticker.get("ticks") is None


async def test_zero_delay_runs_after_the_event_not_inside_it(world):
    tenant, _, _ = world
    ticker = await tenant.clone("/obj/ticker")
    seen_inside: list[object] = []

    async def run() -> None:
        tenant.schedule_callout(tenant.next_handle(), ticker.id, "tick", 0, b"")
        seen_inside.append(ticker.get("ticks"))

    await tenant.run_event(run)
    assert seen_inside == [None]
    assert ticker.get("ticks") == 1


async def test_zero_delay_storm_is_capped_per_turn(backend, basic_build):
    tenant, _, clock = await make_tenant(backend, BASIC_WORLD, basic_build, max_zero_delay_per_turn=20)
    ticker = await tenant.clone("/obj/ticker")
    other_ran: list[bool] = []
    tenant.enqueue(lambda: tenant.run_hook(ticker, "on-command", ("/player/x", "storm", "")))
    tenant.enqueue(event(lambda: other_ran.append(True)))
    await tenant.run_turn(1000)
    # The chain stopped at the cap; the other event was not starved.
    assert ticker.get("ticks") == 20
    assert other_ran == [True]
    assert len(tenant.callouts) == 1  # the next storm callout waits on the timer heap
    tenant.collect_due(clock())
    await tenant.run_turn(1000)
    # The deferred callout ran, then its chain got a fresh cap of 20.
    assert ticker.get("ticks") == 41


async def test_heartbeat_runs_at_its_interval_and_can_stop(world):
    tenant, _, clock = world
    ticker = await tenant.clone("/obj/ticker")
    await tenant.run_hook(ticker, "on-command", ("/player/x", "beat", ""))
    assert ticker.heartbeat_ms == 200
    for _ in range(3):
        clock.advance(200)
        tenant.collect_due(clock())
        await drain(tenant)
    assert ticker.get("beats") == 3
    tenant.set_heartbeat(ticker, 0)
    clock.advance(1000)
    tenant.collect_due(clock())
    await drain(tenant)
    assert ticker.get("beats") == 3


async def test_rooms_reset_on_the_tenant_interval(backend, basic_build):
    tenant, _, clock = await make_tenant(backend, BASIC_WORLD, basic_build, reset_interval_ms=1000, reset_jitter=0.1)
    await tenant.find("/rooms/start")
    resets: list[str] = []
    original = tenant._periodic

    async def periodic(oid, hook):
        resets.append(f"{oid}:{hook}")
        await original(oid, hook)

    tenant._periodic = periodic
    clock.advance(850)
    tenant.collect_due(clock())
    assert resets == []
    clock.advance(300)  # past 1000 ms +10% jitter
    tenant.collect_due(clock())
    await drain(tenant)
    assert resets == ["/rooms/start:reset"]


async def test_failed_hook_applies_nothing_and_tells_the_actor(world):
    tenant, out, _ = world
    ann = await player(tenant)
    bob = await player(tenant, "bob")
    ticker = await tenant.clone("/obj/ticker")
    tenant.move(ticker, ann.env)
    await drain(tenant)
    before = dict(ticker.state)

    async def run() -> None:
        tenant.actor = ann.id
        await tenant.run_hook(ticker, "on-command", (ann.id, "boom", ""))

    await tenant.run_event(run)
    assert ticker.state == before  # no `boomed`
    assert "never be heard" not in out.seen(bob.id)
    assert "Something went wrong" in out.seen(ann.id)
    assert tenant.errors[-1].kind == "trap" and tenant.errors[-1].object_id == ticker.id
    # The next call of the same blueprint works.
    outcome = await tenant.run_hook(ticker, "on-command", (ann.id, "arm", ""))
    assert outcome is not None and outcome.ok


async def test_message_ping_pong_is_bounded(backend, basic_build):
    tenant, out, _ = await make_tenant(backend, BASIC_WORLD, basic_build, max_followups_per_event=50)
    ann = await player(tenant)
    room = ann.env
    p1, p2 = await tenant.clone("/npc/parrot"), await tenant.clone("/npc/parrot")
    tenant.move(p1, room)
    tenant.move(p2, room)
    await drain(tenant)
    await tenant.run_event(event(lambda: tenant.say(ann, "hello")))
    # Capped: the rest of the conversation waits in the queue for later turns.
    heard = (p1.get("heard") or 0) + (p2.get("heard") or 0)
    assert 0 < heard <= 51
    assert tenant.queue
    assert "Squawk! hello" in out.seen(ann.id)


async def test_txn_sees_its_own_staged_moves(world):
    tenant, _, _ = world
    room = await tenant.find("/rooms/start")
    stone = await tenant.clone("/obj/stone")
    tenant.move(stone, room)
    txn = Txn(tenant)
    hall_id = "/rooms/hall"
    txn.move(room.id, stone.id, hall_id)  # the hall is not loaded yet: it can be
    assert txn.environment(stone.id) == hall_id
    assert stone.id not in txn.contents(room.id)
    assert stone.id in txn.contents(hall_id)
    assert stone.env is room  # the live graph is untouched
    new = txn.clone(room.id, "/obj/stone")
    txn.move(room.id, new, room.id)
    assert new in txn.contents(room.id)
    with pytest.raises(WorldRefusal):
        txn.move(room.id, room.id, new)  # the room into a clone (staged) inside it: a cycle
    with pytest.raises(WorldRefusal):
        txn.clone(room.id, "/obj/nothing")
    with pytest.raises(WorldRefusal):
        txn.destruct(room.id, "/player/ann")


async def test_query_reads_only_public_keys(world):
    tenant, _, _ = world
    ticker = await tenant.clone("/obj/ticker")
    txn = Txn(tenant)
    assert cbor2.loads(txn.query("/x", ticker.id, "short")) == "a ticking gadget"
    assert txn.query("/x", ticker.id, "mark") is None  # not in `public`
    ticker.set("public", ["mark"])
    assert cbor2.loads(txn.query("/x", ticker.id, "mark")) == 1


async def test_pending_callout_quota_is_a_host_limit(backend, basic_build):
    tenant, _, _ = await make_tenant(backend, BASIC_WORLD, basic_build, max_pending_callouts=1)
    ticker = await tenant.clone("/obj/ticker")
    assert (await tenant.run_hook(ticker, "on-command", ("/p", "arm", ""))).ok
    outcome = await tenant.run_hook(ticker, "on-command", ("/p", "arm", ""))
    assert outcome.error is not None and outcome.error.kind == "host-limit"
    assert len(tenant.callouts) == 1


async def test_reload_keeps_state_callouts_and_heartbeats(backend, tmp_path: Path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build_dir = tmp_path / "build"
    build(world, build_dir)
    tenant, _, clock = await make_tenant(backend, world, build_dir)
    tickers = [await tenant.clone("/obj/ticker") for _ in range(3)]
    for t in tickers:
        t.set("count", 7)
        assert (await tenant.run_hook(t, "on-command", ("/p", "arm", ""))).ok
        assert (await tenant.run_hook(t, "on-command", ("/p", "beat", ""))).ok
    old_version = tenant.blueprints.get("/obj/ticker").version

    source = world / "obj" / "ticker.c"
    source.write_text(source.read_text().replace("a ticking gadget", "a newer gadget"))
    build(world, build_dir)
    from sandbox.build import manifest as build_manifest

    entry = build_manifest.load(build_dir)["/obj/ticker"]
    new_version, old = await tenant.blueprints.publish("/obj/ticker", (build_dir / entry.component).read_bytes())
    assert old == old_version and new_version != old_version
    # Nothing ran yet: objects migrate lazily, keeping their state.
    assert all(t.version == old_version and t.get("count") == 7 for t in tickers)
    assert old_version not in tenant.blueprints.released

    clock.advance(200)
    tenant.collect_due(clock())
    await drain(tenant)
    for t in tickers:
        assert t.version == new_version
        assert t.get("reloads") == 1  # on-reload ran once, before the next hook
        assert t.get("count") == 7 and t.get("mark") == 1
        assert t.get("ticks") == 1 and t.get("beats") == 1
    assert old_version in tenant.blueprints.released  # nothing uses it any more
    # A clone made now runs the new code.
    assert (await tenant.clone("/obj/ticker")).short == "a newer gadget"


async def test_room_speech_reaches_its_contents(world):
    tenant, out, _ = world
    ann = await player(tenant)
    await tenant.run_event(event(lambda: tenant.say(ann.env, "The floor creaks.")))
    assert "The floor creaks.\n" in out.seen(ann.id)
    assert "says" not in out.seen(ann.id)


async def test_now_ms_follows_the_tenant_clock(world):
    tenant, _, clock = world
    before = Txn(tenant).now_ms()
    clock.advance(5000)
    assert Txn(tenant).now_ms() - before == 5000


async def test_loading_a_room_finishes_what_its_on_load_started(backend, basic_build):
    """Clones a room makes while loading have run their own on-load before
    anyone looks at the room."""
    tenant, _, _ = await make_tenant(backend, BASIC_WORLD, basic_build)
    room = await tenant.find("/rooms/start")
    stone_id = None

    async def on_load_side_effect() -> None:
        nonlocal stone_id
        stone = tenant._create(tenant.next_clone_id("/obj/stone"), "/obj/stone")
        stone_id = stone.id
        tenant.followup_hook(stone, "on-load", ())
        tenant.move(stone, room)

    await tenant._nested(on_load_side_effect)
    assert tenant.graph.get(stone_id).short == "a smooth stone"
    assert not tenant.followups

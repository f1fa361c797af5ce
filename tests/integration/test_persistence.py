"""Persistence in process: restart round trips, output commit, full disk, dump/restore."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from driver.app import Realm, RealmConfig, open_realm
from driver.server import serve
from driver.store import snapshot
from driver.store.errors import (
    SchemaTooNewError,
    StoreCorruptError,
    StoreFullError,
    StoreLockedError,
)
from driver.store.sqlite import SqliteStore

from ..driver_support import BASIC_WORLD, CHEAP, TelnetClient, add_wizard


def config(data: Path, build_dir: Path) -> RealmConfig:
    return RealmConfig(world_dir=BASIC_WORLD, build_dir=build_dir, data_dir=data, kdf_params=CHEAP)


def picture(realm: Realm) -> dict[str, tuple]:
    """Everything about every object that must survive a restart."""
    tenant = realm.tenant
    return {
        oid: (o.blueprint, o.version, o.env.id if o.env else None, dict(o.state), o.heartbeat_ms,
              [c.id for c in o.contents or ()])
        for oid, o in tenant.graph.objects.items()
    }


async def settle(realm: Realm, persistence) -> None:
    """Wait until every event ran and everything it changed is committed."""
    with trio.fail_after(10):
        while realm.tenant.busy or realm.tenant.changes or persistence.held:
            persistence.kick()
            await trio.sleep(0.02)
        await trio.sleep(0.05)


async def create_ann(port: int) -> TelnetClient:
    """Ann, a new character, standing in the start room."""
    return await TelnetClient.log_in(port, "create ann secret99")


def hold_commits(persistence) -> trio.Event:
    """From now on the store's commits wait (in the committer's thread) until
    the returned gate is set. Holding them again replaces the earlier gate."""
    gate = trio.Event()
    real_commit = getattr(persistence.store.commit, "real_commit", persistence.store.commit)

    def held_commit(batch):
        trio.from_thread.run(gate.wait)
        real_commit(batch)

    held_commit.real_commit = real_commit
    persistence.store.commit = held_commit
    return gate


async def play(realm: Realm, persistence, port: int) -> None:
    ann = await create_ann(port)
    wiz = await TelnetClient.log_in(port, "connect admin wizardly")
    await wiz.command("clone /obj/stone", "Cloned /obj/stone#")
    await wiz.command("drop stone", "You drop")
    await ann.command("get stone", "You take a smooth stone.")
    await wiz.command("clone /obj/ticker", "Cloned /obj/ticker#")
    await wiz.command("arm 600000", "Armed.")
    await wiz.command("beat", ">")
    await ann.command("count 7", "counted 7")
    await ann.command("east", "The Hall")
    await ann.close()
    await wiz.close()
    await settle(realm, persistence)


async def run_server(realm: Realm, persistence, body) -> None:
    async with trio.open_nursery() as nursery:
        telnet, _ = await nursery.start(
            lambda task_status: serve(realm, ("127.0.0.1", 0), ("127.0.0.1", 0), persistence=persistence, task_status=task_status)
        )
        await body(telnet)
        nursery.cancel_scope.cancel()


async def test_restart_restores_the_world_exactly(backend, basic_build, tmp_path):
    data = tmp_path / "var"
    realm, persistence = await open_realm(config(data, basic_build), backend)
    add_wizard(realm.accounts)
    await run_server(realm, persistence, lambda port: play(realm, persistence, port))
    before = picture(realm)
    clone_counter = realm.tenant.clone_counter
    callouts = {h: (c.object_id, c.method, c.due - realm.tenant.clock()) for h, c in realm.tenant.callouts.by_handle.items()}
    persistence.store.close()

    again, persistence2 = await open_realm(config(data, basic_build), backend)
    try:
        after = picture(again)
        # Link-dead players stay where they were, with what they carry.
        assert after == before
        ann = again.tenant.graph.get("/player/ann")
        assert ann.env.id == "/rooms/hall" and [o.blueprint for o in ann.contents] == ["/obj/stone"]
        assert again.tenant.graph.get("/rooms/start").get("/player/ann") == 7
        assert again.tenant.clone_counter == clone_counter
        restored = {h: (c.object_id, c.method, c.due - again.tenant.clock()) for h, c in again.tenant.callouts.by_handle.items()}
        assert restored.keys() == callouts.keys()
        for handle, (oid, method, left) in callouts.items():
            assert restored[handle][:2] == (oid, method)
            # Remaining time as of the last commit the world made (within a second or two).
            assert abs(restored[handle][2] - left) <= 5000
        ticker = next(o for o in again.tenant.graph.objects.values() if o.blueprint == "/obj/ticker")
        assert again.tenant.heartbeats.interval(ticker.id) == 200
        # on-load did not run again: the hall counted one visit, not two.
        assert again.tenant.graph.get("/rooms/hall").get("visits") == 1
        assert again.tenant.next_clone_id("/obj/stone").endswith(f"#{clone_counter + 1:06d}")
        assert again.accounts.get("ann") is not None
    finally:
        persistence2.store.close()


async def test_output_waits_for_the_commit(backend, basic_build, tmp_path):
    realm, persistence = await open_realm(config(tmp_path / "var", basic_build), backend)

    async def body(port: int) -> None:
        ann = await create_ann(port)
        await settle(realm, persistence)
        gate = hold_commits(persistence)
        await ann.send("count 3")
        with trio.move_on_after(0.5):
            await ann.expect("counted 3")
            pytest.fail("the reply came before its change was durable")
        assert realm.tenant.graph.get("/rooms/start").get("/player/ann") == 3  # ran, not yet saved
        gate.set()
        await ann.expect("counted 3")
        await ann.close()

    try:
        await run_server(realm, persistence, body)
    finally:
        persistence.store.close()


async def test_output_of_a_changeless_event_waits_only_for_earlier_changes(backend, basic_build, tmp_path):
    realm, persistence = await open_realm(config(tmp_path / "var", basic_build), backend)
    persistence.alive_every = 3600  # no clock writes during the test

    async def body(port: int) -> None:
        ann = await create_ann(port)
        await settle(realm, persistence)
        gate = hold_commits(persistence)
        await ann.send("count 4")  # a change: its commit is held at the gate
        await ann.send("say after the change")  # no change, but after one
        with trio.move_on_after(0.5):
            await ann.expect("You say: after the change")
            pytest.fail("a reply overtook an earlier change that was not yet durable")
        gate.set()
        seen = await ann.expect("You say: after the change")
        assert "counted 4" in seen
        await settle(realm, persistence)
        gate2 = hold_commits(persistence)
        # Nothing is pending now: a changeless command needs no disk write.
        await ann.command("say right away", "You say: right away", timeout=2)
        gate2.set()
        await ann.close()

    try:
        await run_server(realm, persistence, body)
    finally:
        persistence.store.close()


async def test_output_of_a_changeless_event_does_not_wait_for_the_clocks_write(
    backend, basic_build, tmp_path
):
    """The wall clock is saved once a second: a changeless command that ends
    when it is due is answered at once, and the clock is written alone."""
    realm, persistence = await open_realm(config(tmp_path / "var", basic_build), backend)
    persistence.alive_every = 3600  # the test says when the clock is due

    async def body(port: int) -> None:
        ann = await create_ann(port)
        await settle(realm, persistence)
        gate = hold_commits(persistence)
        commits = persistence.commits
        persistence._alive_due = True
        await ann.command("say right away", "You say: right away", timeout=2)
        assert persistence.commits == commits  # the clock's commit is still at the gate
        gate.set()
        with trio.fail_after(10):
            while persistence.commits == commits:
                await trio.sleep(0.02)
        await ann.close()

    try:
        await run_server(realm, persistence, body)
    finally:
        persistence.store.close()


async def test_full_disk_pauses_the_world_and_loses_nothing(backend, basic_build, tmp_path):
    """The store refuses commits (as SQLite does when the disk is full): the
    world pauses, says why, keeps what it could not write, and carries on
    once the store takes it. (The store's own full-disk behaviour, with a
    real size cap, is tested in test_store.)"""
    data = tmp_path / "var"
    realm, persistence = await open_realm(config(data, basic_build), backend)
    real_commit = persistence.store.commit
    disk_full = True

    def commit(batch):
        if disk_full:
            raise StoreFullError("database or disk is full")
        real_commit(batch)

    async def body(port: int) -> None:
        nonlocal disk_full
        ann = await create_ann(port)
        await ann.command("count 1", "counted 1")
        await settle(realm, persistence)
        persistence.store.commit = commit
        await ann.send("count 2")
        seen = await ann.expect("cannot save changes right now")
        assert "counted 2" not in seen
        assert realm.loop.paused is not None
        await ann.send("count 3")  # queued while paused: not run yet
        await trio.sleep(0.3)
        assert realm.tenant.graph.get("/rooms/start").get("/player/ann") == 2
        disk_full = False
        await ann.expect("counted 2", timeout=10)
        await ann.expect("counted 3", timeout=10)
        assert realm.loop.paused is None
        await settle(realm, persistence)
        await ann.close()

    try:
        await run_server(realm, persistence, body)
    finally:
        persistence.store.close()
    again, p2 = await open_realm(config(data, basic_build), backend)
    try:
        assert again.tenant.graph.get("/rooms/start").get("/player/ann") == 3
    finally:
        p2.store.close()


async def test_dump_and_restore_round_trip(backend, basic_build, tmp_path):
    data = tmp_path / "var"
    realm, persistence = await open_realm(config(data, basic_build), backend)
    add_wizard(realm.accounts)
    await run_server(realm, persistence, lambda port: play(realm, persistence, port))
    # A live dump: the server's store is still open.
    live = SqliteStore(data, readonly=True)
    snapshot.dump_to_path(live, tmp_path / "world.dump")
    live.close()
    before = picture(realm)
    persistence.store.close()
    snapshot.restore(tmp_path / "world.dump", tmp_path / "copy")
    copy, p2 = await open_realm(config(tmp_path / "copy", basic_build), backend)
    try:
        assert picture(copy) == before
    finally:
        p2.store.close()


async def test_bad_data_directories_are_refused_clearly(backend, basic_build, tmp_path):
    data = tmp_path / "var"
    realm, persistence = await open_realm(config(data, basic_build), backend)
    with pytest.raises(StoreLockedError, match=str(data)):
        await open_realm(config(data, basic_build), backend)
    persistence.store.close()

    import sqlite3

    conn = sqlite3.connect(data / "jitrealm.db")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="newer"):
        await open_realm(config(data, basic_build), backend)

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "jitrealm.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorruptError):
        await open_realm(config(junk, basic_build), backend)
    assert (junk / "jitrealm.db").read_bytes() == b"this is not a database" * 100


async def test_source_changed_while_down_the_build_decides_and_state_is_kept(backend, tmp_path):
    from ..driver_support import build, copy_world

    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build_dir = tmp_path / "build"
    build(world, build_dir)
    cfg = RealmConfig(world_dir=world, build_dir=build_dir, data_dir=tmp_path / "var", kdf_params=CHEAP)
    realm, persistence = await open_realm(cfg, backend)

    async def body(port: int) -> None:
        ticker = await realm.tenant.clone("/obj/ticker")
        ticker.set("count", 5)
        realm.tenant.touch(ticker)
        await settle(realm, persistence)

    await run_server(realm, persistence, body)
    old = realm.tenant.blueprints.get("/obj/ticker").version
    persistence.store.close()

    source = world / "obj" / "ticker.c"
    source.write_text(source.read_text().replace("a ticking gadget", "a changed gadget"))
    again, p2 = await open_realm(cfg, backend)  # builds the changed source, then publishes it
    try:
        tenant = again.tenant
        new = tenant.blueprints.get("/obj/ticker").version
        assert new != old
        ticker = next(o for o in tenant.graph.objects.values() if o.blueprint == "/obj/ticker")
        assert ticker.version == old and ticker.get("count") == 5  # kept, not yet migrated
        assert (await tenant.run_hook(ticker, "heartbeat", ())).ok
        assert ticker.version == new and ticker.get("reloads") == 1 and ticker.get("count") == 5
    finally:
        p2.store.close()

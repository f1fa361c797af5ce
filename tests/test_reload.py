"""Hot reload from the wizard's side: compile errors, and --watch."""

from __future__ import annotations

import trio

from driver.accounts import MemoryAccountStore, ScryptParams, hash_password, new_account
from driver.realm import Realm, RealmConfig, watch_sources

from .driver_support import BASIC_WORLD, FakeSession, build, copy_world

CHEAP = ScryptParams(n=16, r=1, p=1)


def make_realm(sandbox, world, build_dir) -> Realm:
    accounts = MemoryAccountStore()
    accounts.create(new_account("admin", hash_password("wizardly", CHEAP), is_wizard=True))
    realm = Realm(RealmConfig(world_dir=world, build_dir=build_dir, kdf_params=CHEAP), sandbox=sandbox, accounts=accounts)
    realm.publish_all()
    return realm


async def wizard(realm: Realm) -> tuple[FakeSession, object]:
    session = FakeSession()
    handler = realm.players.connect(session)
    handler.on_line("connect admin wizardly")
    with trio.fail_after(5):
        while "Obvious exits" not in session.text():
            await trio.sleep(0.01)
    return session, handler


async def command(session: FakeSession, handler, line: str, needle: str) -> str:
    session.out.clear()
    handler.on_line(line)
    with trio.fail_after(30):
        while needle not in session.text():
            await trio.sleep(0.01)
    return session.text()


async def test_compile_error_is_shown_and_the_old_version_keeps_running(sandbox, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build(world, tmp_path / "build")
    realm = make_realm(sandbox, world, tmp_path / "build")
    async with trio.open_nursery() as nursery:
        realm.players.nursery = nursery
        nursery.start_soon(realm.run_loop)
        wiz, wh = await wizard(realm)
        await command(wiz, wh, "clone /obj/ticker", "Cloned")
        old = realm.tenant.blueprints.get("/obj/ticker").version
        source = world / "obj" / "ticker.c"
        lines = source.read_text().splitlines()
        lines[20] = lines[20] + " this is not C;"
        source.write_text("\n".join(lines) + "\n")
        seen = await command(wiz, wh, "reload /obj/ticker", "old version keeps running")
        assert "obj/ticker.c:21:" in seen
        assert realm.tenant.blueprints.get("/obj/ticker").version == old
        await command(wiz, wh, "arm", "Armed.")  # the old code still answers
        nursery.cancel_scope.cancel()


async def test_watch_rebuilds_and_reloads_a_saved_source(sandbox, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build(world, tmp_path / "build")
    realm = make_realm(sandbox, world, tmp_path / "build")
    notes: list[str] = []
    async with trio.open_nursery() as nursery:
        realm.players.nursery = nursery
        nursery.start_soon(realm.run_loop)
        nursery.start_soon(watch_sources(realm, notes.append))
        await trio.sleep(0.7)  # the watcher has taken its first look
        stone = realm.tenant.clone("/obj/stone")
        old = realm.tenant.blueprints.get("/obj/stone").version
        source = world / "obj" / "stone.c"
        source.write_text(source.read_text().replace("a smooth stone", "a polished stone"))
        with trio.fail_after(30):
            while not any("Reloaded /obj/stone" in n for n in notes):
                await trio.sleep(0.05)
        assert realm.tenant.blueprints.get("/obj/stone").version != old
        assert stone.short == "a smooth stone"  # state is kept; on-load does not rerun
        assert realm.tenant.clone("/obj/stone").short == "a polished stone"
        nursery.cancel_scope.cancel()

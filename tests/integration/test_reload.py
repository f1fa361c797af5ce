"""Hot reload from the wizard's side: compile errors, and --watch."""

from __future__ import annotations

import trio

from driver.watch import watch_sources

from ..driver_support import BASIC_WORLD, build, copy_world, login, make_realm, running, send

RELOAD_TIMEOUT = 30  # seconds a command that compiles may take


async def test_compile_error_is_shown_and_the_old_version_keeps_running(backend, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build(world, tmp_path / "build")
    realm = await make_realm(backend, world, tmp_path / "build")
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        await send(wiz, wh, "clone /obj/ticker", "Cloned", timeout=RELOAD_TIMEOUT)
        old = realm.tenant.blueprints.get("/obj/ticker").version
        source = world / "obj" / "ticker.c"
        lines = source.read_text().splitlines()
        lines[20] = lines[20] + " this is not C;"
        source.write_text("\n".join(lines) + "\n")
        seen = await send(wiz, wh, "reload /obj/ticker", "old version keeps running", timeout=RELOAD_TIMEOUT)
        assert "obj/ticker.c:21:" in seen
        assert realm.tenant.blueprints.get("/obj/ticker").version == old
        await send(wiz, wh, "arm", "Armed.", timeout=RELOAD_TIMEOUT)  # the old code still answers


async def test_watch_rebuilds_and_reloads_a_saved_source(backend, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build(world, tmp_path / "build")
    realm = await make_realm(backend, world, tmp_path / "build")
    notes: list[str] = []
    async with running(realm) as nursery:
        nursery.start_soon(watch_sources(realm, notes.append))
        await trio.sleep(0.7)  # the watcher has taken its first look
        stone = await realm.tenant.clone("/obj/stone")
        old = realm.tenant.blueprints.get("/obj/stone").version
        source = world / "obj" / "stone.c"
        source.write_text(source.read_text().replace("a smooth stone", "a polished stone"))
        with trio.fail_after(30):
            while not any("Reloaded /obj/stone" in n for n in notes):
                await trio.sleep(0.05)
        assert realm.tenant.blueprints.get("/obj/stone").version != old
        assert stone.short == "a smooth stone"  # state is kept; on-load does not rerun
        assert (await realm.tenant.clone("/obj/stone")).short == "a polished stone"

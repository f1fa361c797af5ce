"""Scripted multi-player scenarios through the real server and real sockets."""

from __future__ import annotations

import trio

from driver.app import Realm
from driver.net.telnet_server import TelnetConfig
from driver.server import serve
from driver.tenancy.quotas import Quotas

from ..driver_support import BASIC_WORLD, FakeClock, TelnetClient, build, copy_world, make_realm


async def start(nursery: trio.Nursery, realm: Realm, **kw) -> int:
    telnet_port, _ = await nursery.start(
        lambda task_status: serve(realm, ("127.0.0.1", 0), ("127.0.0.1", 0), task_status=task_status, **kw)
    )
    return telnet_port


async def test_two_players_meet_talk_and_pass_an_item(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build)
    async with trio.open_nursery() as nursery:
        port = await start(nursery, realm)
        ann = await TelnetClient.log_in(port, "create ann secret99", "Obvious exits: east.")
        bob = await TelnetClient.connect(port)
        await bob.expect("What is your name?")
        seen = await bob.command("create bob hunter22", "Obvious exits: east.")
        await bob.expect("Ann is here.")
        await ann.expect("Bob arrives.")
        assert "The Start" in seen

        await ann.command("say hi Bob, want a stone?", "You say: hi Bob, want a stone?")
        await bob.expect("Ann says: hi Bob, want a stone?")
        await bob.command(":nods eagerly.", "You emote: Bob nods eagerly.")
        await ann.expect("Bob nods eagerly.")

        realm.tenant.move(await realm.tenant.clone("/obj/stone"), await realm.tenant.find("/rooms/start"))
        await ann.command("get stone", "You take a smooth stone.")
        await bob.expect("Ann takes a smooth stone.")
        await ann.command("give stone to bob", "You give a smooth stone to Bob.")
        await bob.expect("Ann gives you a smooth stone.")
        await bob.command("inventory", "a smooth stone")
        await ann.command("tell bob enjoy", "You tell Bob: enjoy")
        await bob.expect("Ann tells you: enjoy")
        await bob.command("quit", "Farewell.")
        await ann.command("who", "1 player online")
        stone = [o for o in realm.tenant.graph.objects.values() if o.blueprint == "/obj/stone"][0]
        assert stone.env is realm.tenant.graph.get("/player/bob")
        await ann.close()
        await bob.close()
        nursery.cancel_scope.cancel()


async def test_wizard_clones_a_thousand_reloads_and_everything_survives(backend, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build_dir = tmp_path / "build"
    build(world, build_dir)
    # The wizard types 3,000 lines without waiting: the telnet rate limit and
    # the world's cap on a player's waiting commands are raised for them.
    realm = await make_realm(backend, world, build_dir, quotas=Quotas(max_pending_commands=10_000))
    # The world's clock only moves when the test says so: however long a busy
    # machine takes over the thousand clones, no callout falls due before
    # the reload.
    clock = FakeClock()
    realm.tenant.clock = clock
    fast_typist = TelnetConfig(lines_per_second=100_000, line_burst=100_000)
    async with trio.open_nursery() as nursery:
        port = await start(nursery, realm, telnet_config=fast_typist)
        wiz = await TelnetClient.log_in(port, "connect admin wizardly")
        count = 1000
        for n in range(count):
            # Each new ticker is the only one in the wizard's hands when armed.
            await wiz.send("clone /obj/ticker")
            await wiz.send("arm 4000")
            await wiz.send("drop ticker")
            if n % 100 == 99:
                await wiz.expect(f"Cloned /obj/ticker#{n + 1:06d}", timeout=30)
        await wiz.expect("You drop a ticking gadget.", timeout=30)
        tickers = [o for o in realm.tenant.graph.objects.values() if o.blueprint == "/obj/ticker"]
        assert len(tickers) == count
        assert len(realm.tenant.callouts) == count
        old = realm.tenant.blueprints.get("/obj/ticker").version

        source = world / "obj" / "ticker.c"
        source.write_text(source.read_text().replace("a ticking gadget", "a humming gadget"))
        seen = await wiz.command("reload /obj/ticker", "before their next hook", timeout=30)
        assert f"{count} objects keep their state" in " ".join(seen.split())  # unwrap
        new = realm.tenant.blueprints.get("/obj/ticker").version
        assert new != old

        # The callouts were scheduled for 4 s after arming: they fire after the reload.
        assert all(t.get("ticks") is None for t in tickers)
        clock.advance(4000)
        realm.loop.wake()
        with trio.fail_after(20):
            while any(t.get("ticks") != 1 for t in tickers):
                await trio.sleep(0.1)
        for t in tickers:
            assert t.version == new
            assert t.get("mark") == 1 and t.get("reloads") == 1
        assert old in realm.tenant.blueprints.released
        seen = await wiz.command(f"stat {tickers[0].id}", "callouts:")
        assert "ticks" in seen and "reloads" in seen
        await wiz.command("clone /obj/ticker", "a humming gadget")
        await wiz.close()
        nursery.cancel_scope.cancel()

"""Players end to end without sockets: login, commands, wizards, link-death."""

from __future__ import annotations

import trio

from ..driver_support import BASIC_WORLD, login, make_realm, running, send, wait_for

LINKDEAD_SECONDS = 0.2  # link-dead bodies are stowed this soon


async def test_two_players_meet_talk_and_pass_an_item(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        assert "The Start" in ann.text() and "Obvious exits: east" in ann.text()
        assert ann.gmcp and ann.gmcp[-1][0] == "Room.Info"
        assert ann.gmcp[-1][1]["name"] == "The Start" and "east" in ann.gmcp[-1][1]["exits"]
        bob, bh = await login(realm, "create bob hunter22")
        await wait_for(ann, "Bob arrives.")
        assert "Ann is here." in bob.text()

        await send(ann, ah, "say hello bob", "You say: hello bob")
        await wait_for(bob, "Ann says: hello bob")
        await send(bob, bh, "'hi ann", "You say: hi ann")
        await wait_for(ann, "Bob says: hi ann")
        await send(ann, ah, ":waves", "You emote: Ann waves")
        await wait_for(bob, "Ann waves")
        await send(ann, ah, "tell bob psst", "You tell Bob: psst")
        await wait_for(bob, "Ann tells you: psst")

        # A wizard makes a stone; Ann gets it and gives it to Bob.
        realm.tenant.move(await realm.tenant.clone("/obj/stone"), await realm.tenant.find("/rooms/start"))
        await send(ann, ah, "get stone", "You take a smooth stone.")
        await wait_for(bob, "Ann takes a smooth stone.")
        await send(ann, ah, "give stone to bob", "You give a smooth stone to Bob.")
        await wait_for(bob, "Ann gives you a smooth stone.")
        await send(bob, bh, "i", "a smooth stone")
        await send(ann, ah, "inventory", "empty-handed")
        await send(bob, bh, "drop pebble", "You drop a smooth stone.")
        await send(ann, ah, "look at stone", "A river stone, smooth and grey.")

        await send(bob, bh, "east", "The Hall")
        await wait_for(ann, "Bob leaves east.")
        # on-enter runs after the move's event, maybe in the next turn (a turn
        # is bounded in time, and a loaded machine can use it up).
        hall = await realm.tenant.find("/rooms/hall")
        with trio.fail_after(5):
            while hall.get("visits") is None:
                await trio.sleep(0.01)
        assert hall.get("visits") == 1
        await send(bob, bh, "w", "The Start")
        await send(ann, ah, "who", "2 players online")
        await send(ann, ah, "dance wildly", "What?")
        await send(ann, ah, "north", "You can't go that way.")
        await send(ann, ah, "clone /obj/stone", "What?")  # not a wizard


async def test_wizard_commands_on_live_objects(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        out = await send(wiz, wh, "clone /obj/ticker", "Cloned /obj/ticker#")
        ticker_id = out.split("Cloned ", 1)[1].split(" ", 1)[0]
        await send(wiz, wh, "arm", "Armed.")
        out = await send(wiz, wh, f"stat {ticker_id}", "callouts:")
        assert "blueprint:   /obj/ticker" in out and "tick in" in out and "mark" in out
        await send(wiz, wh, "callouts", "1 pending callout")
        out = await send(wiz, wh, "blueprints", "/obj/ticker")
        assert "/rooms/start" in out
        await send(wiz, wh, "goto /rooms/hall", "The Hall")
        await send(wiz, wh, "boom", "Something went wrong")
        out = await send(wiz, wh, "errors", "trap")
        assert ticker_id in out
        await send(wiz, wh, f"destruct {ticker_id}", f"Destructed {ticker_id}")
        assert ticker_id not in realm.tenant.graph
        await send(wiz, wh, "stat /obj/nothing", "No such object")
        await send(wiz, wh, "clone /obj/nothing", "Cannot clone")
        await send(wiz, wh, "reload /obj/nothing", "Cannot reload")
        await send(wiz, wh, "help", "Wizard commands")


async def test_reconnect_takes_over_and_linkdead_bodies_are_stowed(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        ann2, ah2 = await login(realm, "connect ann secret99", peer="127.0.0.1:2")
        assert ann.closed == "taken over"
        assert "take over your body" in ann2.text()
        player = realm.tenant.graph.get("/player/ann")
        assert player.env is not None and player.env.id == "/rooms/start"

        ah2.on_disconnect("gone")
        assert realm.players.links["/player/ann"].linkdead_since is not None
        assert player.env is not None  # link-dead: still in the world
        await trio.sleep(0.25)
        assert realm.players.reap_linkdead() == 1
        with trio.fail_after(5):
            while player.env is not None:
                await trio.sleep(0.005)
        assert player.get("last_room") == "/rooms/start"

        ann3, _ = await login(realm, "connect ann secret99", peer="127.0.0.1:3")
        assert "Welcome back" in ann3.text() and "The Start" in ann3.text()


async def test_quit_stows_the_body_and_closes(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        await send(ann, ah, "quit", "Farewell")
        with trio.fail_after(5):
            while ann.closed is None or realm.tenant.graph.get("/player/ann").env is not None:
                await trio.sleep(0.005)
        assert "/player/ann" not in realm.players.links


async def test_examine_reads_objects_and_room_details(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        (await realm.tenant.find("/rooms/start")).set("details", {"floor": "Bare boards, swept clean."})
        await send(ann, ah, "x the floor", "Bare boards, swept clean.")
        await send(ann, ah, "examine ceiling", "You see no ceiling here.")
        await send(ann, ah, "exa", "Examine what?")


async def test_gmcp_from_the_world_and_at_login(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        assert ("Char.Name", {"name": "Admin", "fullname": "Admin"}) in wiz.gmcp
        await send(wiz, wh, "clone /obj/ticker", "Cloned")
        await send(wiz, wh, "vitals", "> ")
        assert wiz.gmcp[-1] == ("Char.Vitals", {"hp": 7, "maxhp": 10})
        before = len(wiz.gmcp)
        await send(wiz, wh, "badgmcp", "bad-guest-data")
        assert len(wiz.gmcp) == before


def test_nouns_ignore_case_and_filler_words():
    from driver.players.commands import noun_of

    assert noun_of("at the Old Well") == "old well"
    assert noun_of("INTO my BAG") == "bag"
    assert noun_of("the") == ""

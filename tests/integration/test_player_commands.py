"""What a player of a mature MUD types in their first minutes: stacked
things, ``get/drop all``, ``all.<noun>``, counts, ``score``, socials,
``reply``, "did you mean" and the link-dead mark. Players over
FakeSessions, the real realm and the basic test world."""

from __future__ import annotations

from ..driver_support import BASIC_WORLD, login, make_realm, running, send, wait_for

LINKDEAD_SECONDS = 30.0  # long enough that nobody is stowed during a test


async def stones(realm, n: int, where: str = "/rooms/start") -> list:
    tenant = realm.tenant
    room = await tenant.find(where)
    made = []
    for _ in range(n):
        stone = await tenant.clone("/obj/stone")
        tenant.move(stone, room)
        made.append(stone)
    return made


async def test_identical_things_stack_and_are_named_together(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        await stones(realm, 3)
        out = await send(ann, ah, "look", "Obvious exits")
        assert "three smooth stones" in out and "a smooth stone" not in out, out
        out = await send(ann, ah, "get 2 stones", "You take")
        assert "You take two smooth stones." in out
        out = await send(ann, ah, "i", "You are carrying")
        assert "two smooth stones" in out and out.count("smooth stone") == 1, out
        out = await send(ann, ah, "look", "Obvious exits")
        assert "  a smooth stone" in out, out
        out = await send(ann, ah, "drop stones", "You drop")
        assert "You drop two smooth stones." in out
        out = await send(ann, ah, "get all", "You take")
        assert "You take three smooth stones." in out
        out = await send(ann, ah, "drop 2 pebbles", "You drop")
        assert "You drop two smooth stones." in out
        out = await send(ann, ah, "drop 5 stones", "only")
        assert "You drop a smooth stone." in out and "(There was only one.)" in out
        out = await send(ann, ah, "get all.stone", "You take")
        assert "You take three smooth stones." in out
        out = await send(ann, ah, "drop all", "You drop")
        assert "You drop three smooth stones." in out
        out = await send(ann, ah, "drop all", "empty-handed")
        out = await send(ann, ah, "get all coins", "You see no")
        # A container: get all from it, put all in it.
        box = (await stones(realm, 1))[0]
        box.set("container", True)
        box.set("short", "a stone box")
        box.set("ids", ["box"])
        box.set("name", "box")
        await send(ann, ah, "get all.stone", "You take three smooth stones.")
        out = await send(ann, ah, "put all stones in box", "You put")
        assert "You put three smooth stones in a stone box." in out
        out = await send(ann, ah, "look in box", "It contains")
        assert "It contains: three smooth stones." in out
        out = await send(ann, ah, "get all from box", "You take")
        assert "You take three smooth stones." in out


async def test_score_socials_and_reply(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        bob, bh = await login(realm, "create bob hunter22")
        await wait_for(ann, "Bob arrives.")
        out = await send(ann, ah, "score", "Location")
        assert "Ann, an adventurer." in out and "The Start" in out and "Carrying:  nothing" in out

        out = await send(ann, ah, "smile", "You smile")
        assert "You smile happily." in out
        await wait_for(bob, "Ann smiles happily.")
        out = await send(ann, ah, "wave at bob", "You wave")
        assert "You wave at Bob." in out
        await wait_for(bob, "Ann waves at you.")
        out = await send(bob, bh, "bow ann", "You bow")
        assert "You bow to Ann." in out
        await wait_for(ann, "Bob bows to you.")
        for verb in ("nod", "grin", "laugh", "shrug", "sigh"):
            await send(ann, ah, verb, "You " + verb)
        out = await send(ann, ah, "poke", "Poke whom?")
        out = await send(ann, ah, "smile at bobb", "You see no")
        assert "Did you mean bob?" in out, out

        await send(bob, bh, "tell ann are you there?", "You tell Ann")
        await wait_for(ann, "Bob tells you: are you there?")
        out = await send(ann, ah, "reply yes, here", "You tell Bob")
        assert "You tell Bob: yes, here" in out
        await wait_for(bob, "Ann tells you: yes, here")
        out = await send(bob, bh, "reply", "Reply what to Ann?")
        out = await send(bob, bh, "r good", "You tell Ann: good")


async def test_did_you_mean(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        await stones(realm, 1)
        out = await send(ann, ah, "lok", "What?")
        assert "Did you mean look?" in out, out
        out = await send(ann, ah, "inventroy", "What?")
        assert "Did you mean inventory?" in out, out
        out = await send(ann, ah, "eats", "What?")
        assert "Did you mean east?" in out, out
        out = await send(ann, ah, "cuont 3", "What?")  # the room's own verb
        assert "Did you mean count?" in out, out
        out = await send(ann, ah, "xyzzy", "What?")
        assert "Did you mean" not in out
        out = await send(ann, ah, "look at stnoe", "You see no stnoe here.")
        assert "Did you mean stone?" in out, out
        out = await send(ann, ah, "get pebbel", "You see no")
        assert "Did you mean pebble?" in out, out
        await send(ann, ah, "get stone", "You take")
        out = await send(ann, ah, "drop stnoes", "You have no")
        assert "Did you mean stone?" in out, out


async def test_linkdead_bodies_are_marked_in_the_room_and_in_who(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        pip, ph = await login(realm, "create pipkin secret99")
        await wait_for(ann, "Pipkin arrives.")
        ph.on_disconnect("connection lost")
        await wait_for(ann, "Pipkin has lost their link.")
        out = await send(ann, ah, "look", "Obvious exits")
        assert "Pipkin is here. (link-dead)" in out, out
        out = await send(ann, ah, "who", "online")
        assert "1 player online" in out and "Pipkin (link-dead)" in out, out
        out = await send(ann, ah, "look at pipkin", "adventurer")
        assert "lost their link" in out
        pip, ph = await login(realm, "connect pipkin secret99")
        await wait_for(ann, "Pipkin has reconnected.")
        out = await send(ann, ah, "look", "Obvious exits")
        assert "Pipkin is here." in out and "link-dead" not in out, out
        out = await send(ann, ah, "who", "online")
        assert "2 players online" in out and "link-dead" not in out


async def test_a_player_in_the_world_holds_no_login_screen(backend, basic_build):
    # An idle session keeps only what playing needs: the login machine (its
    # held lines, its closures) is let go once the player is in, and what
    # the player types from then on is commands, as before.
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=LINKDEAD_SECONDS)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        assert ah.login is None and not ah.at_login
        out = await send(ann, ah, "score", "Location")
        assert "Ann, an adventurer." in out
        ah.on_disconnect("connection lost")
        again, gh = await login(realm, "connect ann secret99")
        assert gh.login is None and not gh.at_login
        out = await send(again, gh, "say still here", "You say")
        assert "You say: still here" in out

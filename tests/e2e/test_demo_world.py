"""Thornwick, the demo world, keeps its word: played over raw telnet against
the real server, built from world-src with the world build (once per
session: see the ``demo_build`` fixture).

* A player walks every room and, in each, examines every noun that the
  room's description, and the long description of everything there, names.
  Each word of every description is either examined (it must answer with
  something better than "You see no ...") or listed below as not naming a
  thing; so a new description cannot name a thing nobody can look at
  without this test saying so.
* What descriptions promise happens: ``buy ale`` hands over a mug that
  ``drink ale`` drinks; ``x tower`` in the Broken Watchtower and ``x brick``
  once it is found answer; Marta welcomes a regular back as one; the world
  sends Char.Vitals, and what the player does changes them.

Timers are held, so Tansy the cat stays put and nobody chats meanwhile.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from driver.app import Realm
from driver.net import ansi
from driver.net.telnet_server import TelnetConfig
from driver.server import serve

from ..driver_support import DEMO_WORLD, make_realm
from .test_e2e_telnet import NAME_PROMPT, MudClient

BUDGET = 240.0  # seconds for a whole test

# Words of the descriptions that name no thing to look at: the small words
# of English, verbs, adjectives and adverbs, and nouns for what is not
# there to be seen (time, manner, amounts, the player).
NOT_NOUNS = frozenset(
    """
    a about above across add against ago ahead all almost alone along an and answer answers
    are as ask at away back bare be beamed bearing begin begins behind belongs below beneath
    between big black both bright bristling broad broken brown but by calm can carved
    chalked chattering cheeked choked close cloudy common constantly cool could crackling
    cramped crooked crowd daily damp dark deepens dented dim down drape dripping drink east
    enough etched every everyone faded faint fallen falls far fed feel few fiercely fills
    first flip follow for form freckled from full gently get give gleams gold grassy graze
    great green grey grows hanging hangs have hear here her hushed idle if in into is it
    its just keen keeps knot lead leads leaning leans lets lie lies like listening little
    long low lower make might mismatched moans mossy motionless murmurs narrow near no
    nobody north northeast not notched now of old older on one only onto open opens or order
    other out outside over overhead painted pale perfect pet pointing polished pretending
    put quiet quite ragged read red remembers ringed roast roomy rough runs rutted s same
    scuffed settling shallow sharp she shows shut silvered sleeping slanting slightly
    sliding slips slope smell smelling smells smiling smoky smooth soft some something south
    southwest spilled split spread spreads stacked stand stands starred start steady still
    stout strange swings take talk tall than that the their them they thin this though
    through to toward try tumbled turn turns twice two type under up upstream use vaulted
    very walking warm way ways weathered west westward whenever where whisper whole wide
    wish with wooden works worn write you your mended dented twice height number deal
    generations years self regard question text thing things scores quiz years water
    climbs notice draw holding were gossip allows scruffy torn white last facing vanishes
    """.split()
)

# Per blueprint, words that name no thing there: figures of speech (the
# cat is "fed at every door in the village"; the hearth could roast an ox),
# and words that are nouns elsewhere but not in this description (the
# path "leaves" the cottages; willows "trail" their fingers).
NOT_THINGS_HERE = {
    "/npc/cat": {"creature", "door", "village"},
    "/npc/innkeeper": {"woman", "square", "hen", "chicks", "clucking", "marta"},
    "/npc/oracle": {"man", "wind", "rain"},
    "/obj/ale": {"peat", "stream", "marta", "malt", "woodsmoke"},
    "/obj/bag": {"loaf", "lamp", "secrets", "satchel"},
    "/obj/board": {"notes", "board"},
    "/obj/cider": {"eyes"},
    "/obj/coin": {"well"},
    "/obj/sword": {"stones", "watchtower"},
    "/rooms/cellar": {"bunting", "pitch"},
    "/rooms/ford": {"trail"},
    "/rooms/path": {"leaves"},
    "/rooms/ruin": {"arrow"},
    "/rooms/glade": {"breath"},
    "/rooms/mill": set(),
    "/rooms/square": set(),
    "/rooms/tavern": {"ox"},
    "/rooms/woods": {"snakes"},
}

WORD = re.compile(r"[a-z]+")


def words_of(text: str) -> list[str]:
    """The words of a description as a player reads it (markup and
    command hints like "{bold}read board{/}" left out)."""
    plain = re.sub(r"\{bold\}.*?\{/\}", " ", text)
    return WORD.findall(ansi.strip(plain).lower())


@asynccontextmanager
async def thornwick(sandbox: Any, build_dir: Path) -> AsyncIterator[tuple[Realm, int]]:
    realm = await make_realm(sandbox, DEMO_WORLD, build_dir, timers_paused=True)
    with trio.fail_after(BUDGET):
        async with trio.open_nursery() as nursery:
            # A walker types faster than a person: no input rate limit here.
            config = TelnetConfig(lines_per_second=1000.0, line_burst=1000)
            telnet_port, _ = await nursery.start(
                partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0), telnet_config=config)
            )
            try:
                yield realm, telnet_port
            finally:
                nursery.cancel_scope.cancel()


async def newcomer(port: int, name: str) -> MudClient:
    """A GMCP-capable telnet client, logged in as a new character."""
    client = await MudClient.connect(port)
    await client.expect(NAME_PROMPT)
    await client.send_gmcp("Core.Supports.Set", ["Char 1", "Room 1"])
    await client.settle()
    await client.command(f"create {name} secret99", "Obvious exits")
    await client.expect("\n> ")
    return client


def latest_vitals(client: MudClient) -> dict[str, int]:
    return [data for package, data in client.gmcp if package == "Char.Vitals"][-1]


async def ask(client: MudClient, line: str) -> str:
    """Type ``line``; what came back, up to the next prompt."""
    await client.line(line)
    return await client.expect("\n> ")


def route(realm: Realm, start: str, goal: str) -> list[str]:
    """The directions from room ``start`` to room ``goal`` (breadth first,
    over the exits the rooms have)."""
    graph = realm.tenant.graph
    came: dict[str, tuple[str, str] | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        if here == goal:
            break
        room = graph.get(here)
        for direction, there in (room.exits() if room else {}).items():
            if there not in came and graph.get(there) is not None:
                came[there] = (here, direction)
                todo.append(there)
    steps: list[str] = []
    at = goal
    while came[at] is not None:
        before, direction = came[at]  # type: ignore[misc]
        steps.append(direction)
        at = before
    return steps[::-1]


async def test_every_room_and_every_noun_its_descriptions_name_can_be_examined(sandbox, demo_build):
    async with thornwick(sandbox, demo_build) as (realm, port):
        tenant = realm.tenant
        walker = await newcomer(port, "walker")
        # Every room there is, loaded (a room loads when first walked into).
        rooms = sorted(bp for bp in tenant.blueprints.by_path if bp.startswith("/rooms/"))
        for bp in rooms:
            assert await tenant.find(bp) is not None, bp
        here = "/rooms/square"
        unnamed: dict[str, list[str]] = {}
        examined = 0
        for room_id in rooms:
            for direction in route(realm, here, room_id):
                await ask(walker, direction)
            here = room_id
            room = tenant.graph.get(room_id)
            assert room is not None
            player = tenant.graph.get("/player/walker")
            assert player is not None and player.env is room, (room_id, player.env)
            # The room, and everything in it and carried, as a player sees them.
            sources = [room] + [o for o in room.contents or () if not o.is_player] + list(player.contents or ())
            for obj in sources:
                figures = NOT_THINGS_HERE.get(obj.blueprint or "", set())
                for word in sorted(set(words_of(obj.text("long")))):
                    if word in NOT_NOUNS or word in figures:
                        continue
                    answer = await ask(walker, f"x {word}")
                    examined += 1
                    if "You see no" in answer or answer.startswith("What?"):
                        unnamed.setdefault(f"{room_id} ({obj.blueprint})", []).append(word)
        assert unnamed == {}, f"nouns nobody can examine: {unnamed}"
        assert len(rooms) >= 10 and examined > 150, (rooms, examined)
        await walker.aclose()


async def test_what_thornwick_promises_happens(sandbox, demo_build):
    async with thornwick(sandbox, demo_build) as (realm, port):
        ann = await newcomer(port, "ann")
        vitals = await ann.expect_gmcp("Char.Vitals")
        assert vitals == {"hp": 20, "maxhp": 20, "sp": 20, "maxsp": 20}

        # Marta serves a newcomer an ale that arrives and can be drunk.
        await ask(ann, "east")
        await ann.expect("Welcome to the Crooked Lantern, Ann!")  # she hears arrivals just after
        answer = await ask(ann, "buy ale")
        assert "draws a foaming mug of brown ale" in answer and "First one's on the house" in answer
        assert "a mug of brown ale" in await ask(ann, "i")
        assert "foam" in await ask(ann, "x ale")
        assert "You drink the ale" in await ask(ann, "drink ale")
        assert "a mug of brown ale" not in await ask(ann, "i")
        await ask(ann, "order cider")
        assert "a cup of cloudy cider" in await ask(ann, "i")
        assert "You drink the cider" in await ask(ann, "drink")

        # She knows a regular when one comes back.
        await ask(ann, "west")
        await ask(ann, "east")
        await ann.expect("Back again, Ann!")
        assert "Good to see a regular" in await ask(ann, "talk to marta")
        assert "On the slate, Ann, as ever." in await ask(ann, "order ale")
        assert "a mug of brown ale" in await ask(ann, "i")

        # The brick behind the barrels, once the lamp shows it.
        await ask(ann, "get lamp")
        await ask(ann, "light lamp")
        await ask(ann, "down")
        assert "You see no brick here" in await ask(ann, "x brick")
        assert "silver coin" in await ask(ann, "search")
        assert "loose brick" in await ask(ann, "x brick")
        await ask(ann, "up")

        # The watchtower, seen from the ford and from inside it.
        for step in ("west", "north", "north", "east"):
            await ask(ann, step)
        assert "watchtower" in await ask(ann, "x tower")
        before = latest_vitals(ann)
        assert "You wade out" in await ask(ann, "wade")
        await ann.wait(lambda: latest_vitals(ann)["sp"] == before["sp"] - 5, "stamina spent wading")
        assert latest_vitals(ann)["hp"] == before["hp"]
        await ask(ann, "northeast")
        assert "lower storey" in await ask(ann, "x tower")
        assert "lower storey" in await ask(ann, "examine watchtower")
        await ann.aclose()

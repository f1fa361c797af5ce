"""Declarative rooms in the MUD: the quiz bundle as a blueprint of a real realm.

The quiz (world-src/rooms/quiz.json) is copied into a small test world as its start
room; players log in through the gateway (fake sessions), play it with commands, see
its texts, its state through `look` and GMCP, and its timers through callouts. Also:
a bundle that errors applies nothing, reload keeps the game, restore from the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio

from driver.runtimes import RuntimeKind
from driver.runtimes.declarative import ROOM_KEY

from ..driver_support import (
    BASIC_WORLD,
    ROOT,
    FakeSession,
    build,
    copy_world,
    make_realm,
    running,
    send,
    wait_for,
)

QUIZ = ROOT / "world-src" / "rooms" / "quiz.json"


def quiz_world(tmp: Path, **config: Any) -> Path:
    world = copy_world(BASIC_WORLD, tmp / "world")
    bundle = json.loads(QUIZ.read_text())
    bundle["mud"]["exits"] = {"down": "/rooms/start"}
    bundle["config"].update(config)
    (world / "rooms" / "quiz.json").write_text(json.dumps(bundle))
    (world / "world.json").write_text('{"title": "Quizland", "start": "/rooms/quiz"}')
    return world


@pytest.fixture
def quiz_build(tmp_path: Path) -> tuple[Path, Path]:
    world = quiz_world(tmp_path, timePerStep=3)
    out = tmp_path / "build"
    build(world, out)
    return world, out


async def login(realm: Any, line: str, peer: str = "127.0.0.1:1") -> tuple[FakeSession, Any]:
    """Log in with a session whose client asked for GMCP Realm.Room (as the browser does)."""
    session = FakeSession(peer)
    session.info.gmcp_packages.add("realm.room")
    handler = realm.players.connect(session)
    handler.on_line(line)
    await wait_for(session, "Obvious exits")
    return session, handler


def gmcp_of(session: Any, package: str) -> list[Any]:
    return [data for name, data in session.gmcp if name == package]


async def test_the_quiz_is_a_room_played_from_telnet(sandbox, quiz_build):
    world, out = quiz_build
    realm = await make_realm(sandbox, world, out)
    bp = realm.tenant.blueprints.get("/rooms/quiz")
    assert bp is not None and bp.kind is RuntimeKind.DECLARATIVE
    async with running(realm):
        ann, ann_h = await login(realm, "create ann secret99")
        assert "The Quiz Hall" in ann.text()
        assert "Chalked on the board" in ann.text()
        bob, bob_h = await login(realm, "create bob secret99", peer="127.0.0.2:1")
        await wait_for(ann, "Bob takes a seat at the quiz.")
        text = await send(ann, ann_h, "start", "Question 1 of 5")
        assert "The quiz begins: 5 questions" in text
        await wait_for(bob, "Question 1 of 5")
        # look shows the room's state (the board)
        text = await send(bob, bob_h, "look", "seconds left")
        assert "Which river runs past Thornwick's mill?" in text
        # a wrong answer, then a repeated one, then a bad one
        text = await send(bob, bob_h, "answer 3", "Answer 3 is wrong.")
        text = await send(bob, bob_h, "answer 1", "already answered")
        text = await send(ann, ann_h, "answer x", "Usage: answer <1-4>")
        # the correct answer scores and advances
        text = await send(ann, ann_h, "answer 1", "Question 2 of 5")
        assert "Ann answers 1) The Wend - correct! +10 points." in text
        # nobody answers: the timer runs out (3 s) and the game moves on
        await wait_for(ann, "Time is up!", timeout=8)
        await wait_for(ann, "Question 3 of 5", timeout=2)
        for choice in (2, 3, 1):
            await send(bob, bob_h, f"answer {choice}", "correct!")
        text = await wait_for(ann, "The quiz is over!")
        assert "Bob: 30" in text and "Ann: 10" in text
        text = await send(ann, ann_h, "scores", "Scores:")
        assert text.index("Bob: 30") < text.index("Ann: 10")
        # GMCP: the whole state on arrival, then patches
        states = gmcp_of(ann, "Realm.Room.State")
        assert states and states[0]["room"] == "/rooms/quiz" and states[0]["view"] == "quiz"
        patches = gmcp_of(ann, "Realm.Room.Patch")
        assert patches and all(p["room"] == "/rooms/quiz" for p in patches)
        doc = states[-1]["state"]
        from driver.dsl.state import apply_patch

        for p in patches:
            apply_patch(doc, p["ops"])
        room = cbor2.loads(realm.tenant.graph.get("/rooms/quiz").state[ROOM_KEY])["room"]
        assert doc == room["state"]
        assert doc["phase"] == "finished"
        # leaving unseats
        await send(bob, bob_h, "down", "Obvious exits")
        assert gmcp_of(bob, "Realm.Room.Left")


async def test_an_event_that_errors_applies_nothing(sandbox, tmp_path):
    world = quiz_world(tmp_path)
    bundle = json.loads((world / "rooms" / "quiz.json").read_text())
    # "start" also writes a string into a number: the whole event must be undone
    bundle["actions"]["resetGame"].append({"type": "set", "params": {"path": "stepIndex", "value": "oops"}})
    (world / "rooms" / "quiz.json").write_text(json.dumps(bundle))
    out = tmp_path / "build"
    build(world, out)
    realm = await make_realm(sandbox, world, out)
    async with running(realm):
        ann, ann_h = await login(realm, "create ann secret99")
        before = dict(realm.tenant.graph.get("/rooms/quiz").state)
        text = await send(ann, ann_h, "start", "Something went wrong")
        assert "The quiz begins" not in text
        assert realm.tenant.graph.get("/rooms/quiz").state == before
        error = realm.tenant.errors[-1]
        assert error.object_id == "/rooms/quiz" and "expected number, got a string" in error.message


async def test_reload_keeps_the_game(sandbox, quiz_build):
    world, out = quiz_build
    realm = await make_realm(sandbox, world, out)
    async with running(realm):
        ann, ann_h = await login(realm, "create ann secret99")
        await send(ann, ann_h, "start", "Question 1 of 5")
        await send(ann, ann_h, "answer 1", "Question 2 of 5")
        path = world / "rooms" / "quiz.json"
        bundle = json.loads(path.read_text())
        bundle["config"]["pointsPerCorrect"] = 7  # config the room keeps: still 10
        bundle["mud"]["short"] = "The Quiz Loft"
        path.write_text(json.dumps(bundle))
        report = await realm.reload("/rooms/quiz")
        assert "Reloaded /rooms/quiz" in report
        # The room runs on-reload before its next hook (lazily, like every object).
        text = await send(ann, ann_h, "answer 2", "Question 3 of 5")
        assert "+10 points" in text
        text = await send(ann, ann_h, "look", "Obvious exits")
        assert "The Quiz Loft" in text and "Question 3 of 5" in text
        state = cbor2.loads(realm.tenant.graph.get("/rooms/quiz").state[ROOM_KEY])["room"]["state"]
        assert state["players"]["/player/ann"]["score"] == 20


async def test_a_game_survives_a_restart(sandbox, quiz_build, tmp_path):
    """The room's whole game (machine, state, seats, its pending timer) is in the store:
    after a restart the quiz goes on where it was, and its clock ticks on."""
    from driver.app import RealmConfig, open_realm
    from driver.server import serve

    from ..driver_support import CHEAP, TelnetClient, as_runtime

    world, out = quiz_build
    data = tmp_path / "var"

    def config() -> RealmConfig:
        return RealmConfig(world_dir=world, build_dir=out, data_dir=data, kdf_params=CHEAP)

    async def serving(realm: Any, persistence: Any, body: Any) -> None:
        async with trio.open_nursery() as nursery:
            telnet, _ = await nursery.start(
                lambda task_status: serve(realm, ("127.0.0.1", 0), ("127.0.0.1", 0),
                                          persistence=persistence, task_status=task_status)
            )
            await body(telnet)
            nursery.cancel_scope.cancel()

    realm, persistence = await open_realm(config(), as_runtime(sandbox))

    async def first(port: int) -> None:
        ann = await TelnetClient.log_in(port, "create ann secret99")
        await ann.command("start", "Question 1 of 5")
        await ann.command("answer 1", "Question 2 of 5")
        with trio.fail_after(10):
            while realm.tenant.busy or realm.tenant.changes or persistence.held:
                persistence.kick()
                await trio.sleep(0.02)
        await ann.close()

    await serving(realm, persistence, first)
    saved = cbor2.loads(realm.tenant.graph.get("/rooms/quiz").state[ROOM_KEY])["room"]
    persistence.store.close()

    again, persistence2 = await open_realm(config(), as_runtime(sandbox))
    try:
        room = again.tenant.graph.get("/rooms/quiz")
        assert again.tenant.blueprints.get("/rooms/quiz").kind is RuntimeKind.DECLARATIVE
        assert cbor2.loads(room.state[ROOM_KEY])["room"]["state"] == saved["state"]
        assert any(c.object_id == "/rooms/quiz" for c in again.tenant.callouts.by_handle.values())

        async def second(port: int) -> None:
            ann = await TelnetClient.log_in(port, "connect ann secret99", until="take over")
            text = await ann.command("look", "seconds left")
            assert "Question 2 of 5" in text
            await ann.expect("Time is up!", timeout=8)  # its timer ticked on after the restart
            await ann.command("scores", "Ann: 10")
            await ann.close()

        await serving(again, persistence2, second)
    finally:
        persistence2.store.close()

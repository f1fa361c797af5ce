"""Live rooms end to end over WebSocket: several json.jitrealm clients on a real server
join the quiz, play it, get patches in order, reconnect with their token keeping seat
and score; bad messages are refused and change nothing; a full room refuses a seat."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from driver.server import serve

from ..driver_support import BASIC_WORLD, ROOT, build, copy_world, make_realm
from ..rooms_support import JsonClient

QUIZ = ROOT / "world-src" / "rooms" / "quiz.json"


@pytest.fixture
def rooms_build(tmp_path: Path) -> tuple[Path, Path]:
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    bundle = json.loads(QUIZ.read_text())
    bundle["mud"]["exits"] = {"down": "/rooms/start"}
    bundle["config"].update(maxClients=2, timePerStep=30)
    (world / "rooms" / "quiz.json").write_text(json.dumps(bundle))
    out = tmp_path / "build"
    build(world, out)
    return world, out


async def test_clients_play_a_hosted_quiz(sandbox, rooms_build):
    world, out = rooms_build
    realm = await make_realm(sandbox, world, out)
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(partial(serve, realm, ("127.0.0.1", 0), ("127.0.0.1", 0)))
        ann = await JsonClient.connect(nursery, port)
        await ann.log_in("create ann secret99")
        bob = await JsonClient.connect(nursery, port)
        await bob.log_in("create bob secret99")
        cat = await JsonClient.connect(nursery, port)
        await cat.log_in("create cat secret99")

        # join-or-create, then join by id; the third is refused: the room is full
        await ann.event("room.join", {"blueprint": "/rooms/quiz"})
        joined = await ann.wait_event("room.joined")
        room = joined["room"]
        assert joined["view"] == "quiz" and joined["maxClients"] == 2 and joined["token"]
        assert joined["state"]["players"]["/player/ann"]["name"] == "Ann"
        await bob.event("room.join", {"room": room})
        bob_joined = await bob.wait_event("room.joined")
        await ann.wait_doc(room, lambda d: "/player/bob" in d["players"])
        await cat.event("room.join", {"room": room})
        refused = await cat.wait_event("room.error")
        assert refused["code"] == "full"

        # bad messages: refused with a reason, nothing changes
        before = json.loads(json.dumps(ann.docs[room]))
        await ann.event("room.send", {"room": room, "type": "answer", "payload": {"choice": "x"}})
        assert (await ann.wait_event("room.error"))["code"] == "bad-event"
        await ann.event("room.send", {"room": room, "type": "teleport", "payload": {}})
        assert (await ann.wait_event("room.error"))["code"] == "unknown-event"
        await ann.event("room.join", {})
        assert (await ann.wait_event("room.error"))["code"] == "bad-request"
        await cat.event("room.send", {"room": room, "type": "start", "payload": {}})
        assert (await cat.wait_event("room.error"))["code"] == "not-joined"
        await trio.sleep(0.2)
        assert realm.rooms.rooms[room].room.state == before

        # play: start, a wrong answer, a right one
        await ann.event("room.send", {"room": room, "type": "start", "payload": {}})
        await bob.wait_doc(room, lambda d: d["phase"] == "question")
        await ann.event("room.send", {"room": room, "type": "answer", "payload": {"choice": 4}})
        await bob.event("room.send", {"room": room, "type": "answer", "payload": {"choice": 1}})
        doc = await ann.wait_doc(room, lambda d: d["stepIndex"] == 1)
        assert doc["players"]["/player/bob"]["score"] == 10
        text = await ann.wait_event("room.text", lambda p: "correct" in p["text"])
        assert "Bob answers 1) The Wend - correct!" in text["text"]

        # bob drops: the seat waits; he comes back with his token and keeps his score
        await bob.aclose()
        await ann.wait_doc(room, lambda d: d["players"]["/player/bob"]["connected"] is False)
        bob2 = await JsonClient.connect(nursery, port)
        await bob2.line("connect bob secret99")
        await bob2.wait_text("take over your body")
        await bob2.event("room.join", {"room": room, "token": "wrong"})
        assert (await bob2.wait_event("room.error"))["code"] == "seated"
        await bob2.event("room.join", {"room": room, "token": bob_joined["token"]})
        back = await bob2.wait_event("room.joined")
        assert back["seat"] == "/player/bob" and back["state"]["players"]["/player/bob"]["score"] == 10
        await ann.wait_doc(room, lambda d: d["players"]["/player/bob"]["connected"] is True)

        # to the end
        for choice in (2, 2, 3, 1):
            await bob2.event("room.send", {"room": room, "type": "answer", "payload": {"choice": choice}})
            await trio.sleep(0.06)
        final = await ann.wait_doc(room, lambda d: d["phase"] == "finished")
        assert [r["name"] for r in final["ranking"]] == ["Bob", "Ann"]
        assert final == realm.rooms.rooms[room].room.state
        # patches arrived in order, none lost
        seqs = ann.seqs[room]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

        # a flood is cut off with one error, not served
        for _ in range(80):
            await cat.event("room.send", {"room": room, "type": "start", "payload": {}})
        assert (await cat.wait_event("room.error", lambda p: p["code"] == "rate-limited"))

        await ann.event("room.leave", {"room": room})
        assert (await ann.wait_event("room.left"))["reason"] == "left"
        nursery.cancel_scope.cancel()


class EventSession:
    """A session that keeps the room messages it is sent (no socket)."""

    def __init__(self) -> None:
        from driver.net.session import ClientInfo

        self.info = ClientInfo(transport="test", peer="127.0.0.1:9")
        self.events: list[tuple[str, Any]] = []

    def send_event(self, name: str, payload: Any) -> None:
        self.events.append((name, payload))

    def send_text(self, text: str) -> None: ...
    def send_prompt(self, text: str) -> None: ...
    def send_gmcp(self, package: str, data: Any) -> None: ...
    def close(self, reason: str = "") -> None: ...

    def last(self, name: str) -> Any:
        return [p for n, p in self.events if n == name][-1]


async def test_a_hosted_room_follows_its_blueprint_to_a_new_version(sandbox, rooms_build):
    """Hot reload: a room created without a version moves to the new one on its next
    event, keeping its state and config; its clients get the whole room again."""
    world, out = rooms_build
    realm = await make_realm(sandbox, world, out)
    host = realm.rooms
    ann = EventSession()
    host.event("/player/ann", ann, "room.join", {"blueprint": "/rooms/quiz"})  # type: ignore[arg-type]
    joined = ann.last("room.joined")
    room = joined["room"]
    host.event("/player/ann", ann, "room.send", {"room": room, "type": "start", "payload": {}})  # type: ignore[arg-type]
    host.event("/player/ann", ann, "room.send", {"room": room, "type": "answer", "payload": {"choice": 1}})  # type: ignore[arg-type]
    old_version = host.rooms[room].version
    path = world / "rooms" / "quiz.json"
    bundle = json.loads(path.read_text())
    bundle["state"]["classes"]["State"]["mood"] = "string"
    bundle["state"]["defaults"]["State"]["mood"] = "cheerful"
    path.write_text(json.dumps(bundle))
    assert "Reloaded /rooms/quiz" in await realm.reload("/rooms/quiz")
    host.event("/player/ann", ann, "room.send", {"room": room, "type": "answer", "payload": {"choice": 2}})  # type: ignore[arg-type]
    hosted = host.rooms[room]
    assert hosted.version != old_version
    assert hosted.room.state["mood"] == "cheerful"
    assert hosted.room.state["players"]["/player/ann"]["score"] == 20
    assert hosted.room.config["maxClients"] == 2  # the room's config, kept
    host._flush(hosted)
    again = ann.last("room.joined")
    assert again["version"] == hosted.version and again["state"]["mood"] == "cheerful"

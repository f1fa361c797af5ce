"""A json.jitrealm WebSocket client for the live-room tests: logs in, speaks room.*
messages, applies patches, and waits (bounded) for what it expects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio
from trio_websocket import WebSocketConnection, connect_websocket

from driver.dsl.state import apply_patch
from driver.net import ansi


class JsonClient:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        self.text = ""
        self.docs: dict[str, Any] = {}  # room -> its state, kept by snapshots and patches
        self.seqs: dict[str, list[int]] = {}

    @classmethod
    async def connect(cls, nursery: trio.Nursery, port: int) -> JsonClient:
        ws = await connect_websocket(nursery, "127.0.0.1", port, "/ws", use_ssl=False,
                                     subprotocols=["json.jitrealm"])
        return cls(ws)

    async def log_in(self, line: str) -> None:
        await self.line(line)
        await self.wait_text("Obvious exits")

    async def line(self, text: str) -> None:
        await self.ws.send_message(json.dumps({"type": "line", "text": text}))

    async def event(self, name: str, payload: Any) -> None:
        await self.ws.send_message(json.dumps({"type": "event", "name": name, "payload": payload}))

    async def _receive(self) -> dict[str, Any]:
        message = json.loads(await self.ws.get_message())
        self.seen.append(message)
        if message["type"] == "text":
            self.text += ansi.strip(message["text"])
        elif message["type"] == "event":
            name, payload = message["name"], message["payload"]
            if name == "room.joined":
                self.docs[payload["room"]] = payload["state"]
                self.seqs[payload["room"]] = [payload["seq"]]
            elif name == "room.patch":
                self.seqs.setdefault(payload["room"], []).append(payload["seq"])
                apply_patch(self.docs[payload["room"]], payload["ops"])
        return message

    async def wait_text(self, needle: str, timeout: float = 10.0) -> str:
        with trio.fail_after(timeout):
            while needle not in self.text:
                await self._receive()
        seen, self.text = self.text, self.text[self.text.index(needle) + len(needle):]
        return seen

    async def wait_event(self, name: str, where: Callable[[Any], bool] = lambda p: True,
                         timeout: float = 10.0) -> Any:
        """The next ``name`` event (after those already waited for) whose payload passes."""
        with trio.fail_after(timeout):
            while True:
                for i, message in enumerate(self.inbox):
                    if message.get("name") == name and where(message["payload"]):
                        del self.inbox[: i + 1]
                        return message["payload"]
                self.inbox.clear()
                message = await self._receive()
                if message["type"] == "event":
                    if message["name"] == name and where(message["payload"]):
                        return message["payload"]

    async def wait_doc(self, room: str, where: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        with trio.fail_after(timeout):
            while not (room in self.docs and where(self.docs[room])):
                await self._receive()
        return self.docs[room]

    async def aclose(self) -> None:
        await self.ws.aclose()

"""A world's own settings: what it is called, where new characters start,
and what its admin decided about it (a port of its own, suspended or not).

The default world reads its title and start room from ``world.json`` beside
its sources; every world's settings are kept in the store with its quotas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class WorldSettings:
    title: str = "JitRealm"
    start_room: str = "/rooms/start"
    port: int | None = None  # a telnet port of the world's own
    suspended: str | None = None  # why it is suspended; None: it is open
    created_at: float = 0.0

    def to_plain(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "start_room": self.start_room,
            "port": self.port,
            "suspended": self.suspended,
            "created_at": self.created_at,
        }

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> WorldSettings:
        """Settings read back from the store; anything missing or of the
        wrong type keeps its default (a store written by another version)."""
        s = cls()
        if isinstance(data.get("title"), str):
            s.title = data["title"]
        if isinstance(data.get("start_room"), str):
            s.start_room = data["start_room"]
        port = data.get("port")
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            s.port = port
        if isinstance(data.get("suspended"), str):
            s.suspended = data["suspended"]
        if isinstance(data.get("created_at"), int | float):
            s.created_at = float(data["created_at"])
        return s

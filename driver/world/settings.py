"""A world's own settings (from its ``world.json``): what it is called and
where new characters start."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class WorldSettings:
    title: str = "JitRealm"
    start_room: str = "/rooms/start"

"""Who is in the world: logged-in characters, their sessions, link-death.

A character stays in :class:`Presence` from login until they quit or have
been link-dead (connection lost) for too long; a reconnect takes the same
:class:`Link` over with a new session. After a restart, every body the
world put back in a room is link-dead until its player returns (see
:meth:`Presence.restored`): players see them marked so, in rooms and in
``who``, and they are stowed after the same grace as any other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from driver.net.session import Session


@dataclass(slots=True)
class Link:
    """A logged-in character and (while connected) its session."""

    player_id: str
    name: str
    is_wizard: bool
    session: Session | None
    last_input: float
    linkdead_since: float | None = None
    connected_at: float | None = None  # None: since last_input was first set
    #: The last Char.Vitals the world sent this player (for `score`).
    vitals: dict[str, Any] | None = None
    #: The world's admin (moderation, making wizards); always a wizard too.
    is_admin: bool = False

    def __post_init__(self) -> None:
        if self.connected_at is None:
            self.connected_at = self.last_input


class Presence:
    """Every logged-in character by player id (see module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.links: dict[str, Link] = {}

    def session_of(self, player_id: str) -> Session | None:
        link = self.links.get(player_id)
        return link.session if link is not None else None

    def is_wizard(self, player_id: str) -> bool:
        link = self.links.get(player_id)
        return link is not None and link.is_wizard

    def is_admin(self, player_id: str) -> bool:
        link = self.links.get(player_id)
        return link is not None and link.is_admin

    def online(self) -> list[tuple[str, float]]:
        """(player id, idle seconds) of every connected character."""
        now = self.clock()
        return [
            (pid, now - link.last_input)
            for pid, link in self.links.items()
            if link.linkdead_since is None
        ]

    def linkdead(self) -> list[str]:
        """Ids of the characters in the world whose player lost the connection."""
        return [pid for pid, link in self.links.items() if link.linkdead_since is not None]

    def is_linkdead(self, player_id: str) -> bool:
        link = self.links.get(player_id)
        return link is not None and link.linkdead_since is not None

    def restored(self, bodies: Iterable[tuple[str, str, bool]]) -> None:
        """After a restart: each (player id, name, is wizard) body standing in
        the world is link-dead from now, until its player logs in again."""
        now = self.clock()
        for player_id, name, is_wizard in bodies:
            if player_id not in self.links:
                self.links[player_id] = Link(player_id, name, is_wizard, None, now, linkdead_since=now)

    def names_online(self) -> list[str]:
        return sorted(link.name for link in self.links.values() if link.linkdead_since is None)

    def linkdead_longer_than(self, seconds: float) -> list[str]:
        now = self.clock()
        return [
            pid
            for pid, link in self.links.items()
            if link.linkdead_since is not None and now - link.linkdead_since >= seconds
        ]

"""Where a logged-in client's out-of-band messages go: the live rooms.

A browser or game client sends more than command lines: named events (``json.jitrealm``
``event`` messages) and GMCP messages (``Realm.Room.Send``). The gateway does not know
what they mean; it hands them, with the player and the session they came from, to a
:class:`ClientEvents` the composition root plugs in (:class:`driver.rooms.RoomHost`).
Defined here, below the rooms, so the players layer depends on nothing above it.
"""

from __future__ import annotations

from typing import Any, Protocol

from driver.net.session import Session


class ClientEvents(Protocol):
    def event(self, player_id: str, session: Session, name: str, payload: Any) -> None:
        """A named event from a logged-in client."""
        ...

    def gmcp(self, player_id: str, session: Session, package: str, data: Any) -> bool:
        """A GMCP message from a logged-in client; True if it was one of ours."""
        ...

    def disconnected(self, player_id: str, session: Session) -> None:
        """The session is gone (its seats wait for a reconnect)."""
        ...

"""Delivery: what a tenant says to a player id reaches that player's session.

:class:`Delivery` is the tenant's :class:`~driver.tenancy.output.Output`.
Everything an event says is held in the tenant's outbox until the event is
over (and, with persistence, durable): a player never sees a message whose
cause a crash could take back. Outside events it goes out at once.

In a crowded room one ``say`` is one line to each of the others, so this is
the inner loop of the output path: a line said to the room becomes one
:class:`Text` item shared by every recipient, and releasing an outbox takes
the text items' way to their sessions without dispatching on type per item.
The sessions render once per kind of client (:mod:`driver.net.render`) and
write once per turn.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from driver.players.commands import describe_room
from driver.players.presence import Presence
from driver.tenancy.output import Close, GmcpMessage, Outbox, OutItem, Prompt, Text
from driver.world.objects import MudObject
from driver.world.settings import WorldSettings

if TYPE_CHECKING:
    from driver.tenancy.tenant import Tenant


def room_number(room_id: str) -> int:
    """A stable number for a room id (GMCP Room.Info `num`, mapper-friendly)."""
    return zlib.crc32(room_id.encode())


class Delivery:
    """The tenant's output, rendered to sessions (see module docstring)."""

    def __init__(self, presence: Presence, settings: WorldSettings) -> None:
        self.presence = presence
        self.settings = settings
        self.tenant: Tenant | None = None  # bound once the tenant exists
        # The last text item made: a line told to a whole room is the same
        # string for every recipient, and so is its item.
        self._last_text = Text("")

    def _deliver(self, player_id: str, item: OutItem) -> None:
        tenant = self.tenant
        if tenant is not None and tenant.in_event:
            tenant.outbox.append((player_id, item))
        else:
            self.send_now(player_id, item)

    def send_now(self, player_id: str, item: OutItem) -> None:
        session = self.presence.session_of(player_id)
        if session is None:
            return
        match item:
            case Text(text):
                session.send_text(text)
            case Prompt(text):
                session.send_prompt(text)
            case GmcpMessage(package, data):
                session.send_gmcp(package, data)
            case Close(reason):
                # Quitting: the link goes with the session.
                self.presence.links.pop(player_id, None)
                session.close(reason)

    def release(self, outbox: Outbox) -> None:
        """Send an event's held output (the tenant calls this when it may)."""
        links = self.presence.links
        for player_id, item in outbox:
            if type(item) is Text:  # nearly every item: straight to the session
                link = links.get(player_id)
                if link is not None and link.session is not None:
                    link.session.send_text(item.text)
            elif type(item) is Prompt:  # one per command: as straight
                link = links.get(player_id)
                if link is not None and link.session is not None:
                    link.session.send_prompt(item.text)
            else:
                self.send_now(player_id, item)

    def text(self, player_id: str, text: str) -> None:
        item = self._last_text
        if item.text is not text:
            item = self._last_text = Text(text)
        tenant = self.tenant
        if tenant is not None and tenant.in_event:
            tenant.outbox.append((player_id, item))
        else:
            self.send_now(player_id, item)

    def wizard_notice(self, text: str) -> None:
        """Tell every wizard online, at once (not held with an event's output)."""
        for player_id, link in list(self.presence.links.items()):
            if link.is_wizard:
                self.send_now(player_id, Text(text))

    def prompt(self, player_id: str, text: str) -> None:
        self._deliver(player_id, Prompt(text))

    def close(self, player_id: str, reason: str) -> None:
        self._deliver(player_id, Close(reason))

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        if package == "Char.Vitals" and isinstance(data, dict):
            link = self.presence.links.get(player_id)
            if link is not None:
                link.vitals = data  # for `score`, whatever the client takes
        session = self.presence.session_of(player_id)
        if session is not None and session.wants_gmcp(package):
            self._deliver(player_id, GmcpMessage(package, data))

    def room_changed(self, player_id: str) -> None:
        session = self.presence.session_of(player_id)
        if session is None or self.tenant is None:
            return
        player = self.tenant.graph.get(player_id)
        if player is None:
            return
        presence = self.presence
        text = describe_room(player.env, player, stack=True, linkdead=presence.is_linkdead)
        self._deliver(player_id, Text(text))
        room = player.env
        if room is not None and session.wants_gmcp("Room.Info"):
            self._deliver(player_id, GmcpMessage("Room.Info", self.room_info(room)))

    def room_info(self, room: MudObject) -> dict[str, Any]:
        return {
            "num": room_number(room.id),
            "id": room.id,
            "name": room.short,
            "area": room.text("area") or self.settings.title,
            "exits": {d: room_number(dest) for d, dest in room.exits().items()},
        }

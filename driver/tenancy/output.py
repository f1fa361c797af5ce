"""What a tenant says to players, and who it says it through.

While an event runs, everything it says is held in the tenant's outbox as
typed items; the tenant hands the outbox on when the event is over (to the
persistence layer, which releases it once the event's changes are durable,
or straight to the :class:`Output`). The players layer renders the items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Text:
    """Markup text for the player's screen."""

    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """The command prompt (marked with GA or EOR for clients that want it)."""

    text: str


@dataclass(frozen=True, slots=True)
class GmcpMessage:
    """An out-of-band GMCP message."""

    package: str
    data: Any


@dataclass(frozen=True, slots=True)
class Close:
    """End the player's session (they quit)."""

    reason: str


OutItem = Text | Prompt | GmcpMessage | Close
#: What an event said to players, held until it may be sent: (player id, item).
Outbox = list[tuple[str, OutItem]]


class Output(Protocol):
    """Where a tenant's messages to players go (the session layer).

    While an event runs (``Tenant.in_event``) the output layer should put
    what it renders into ``Tenant.outbox``; the tenant hands the outbox to
    ``release`` when the event is over (see :meth:`Tenant.end_event`)."""

    def text(self, player_id: str, text: str) -> None: ...
    def room_changed(self, player_id: str) -> None: ...
    def gmcp(self, player_id: str, package: str, data: Any) -> None: ...
    def release(self, outbox: Outbox) -> None: ...
    def wizard_notice(self, text: str) -> None: ...  # to every wizard online, now


"""Players: from a new connection, through login, to a character in the world.

:class:`Players` is the driver's :class:`~driver.net.session.Gateway` (every
transport hands it new sessions) and the tenant's output (messages to a
player id reach that player's session, if they are connected).

A connection starts at the login screen (:mod:`driver.login`, a sans-IO
machine whose password hashing runs in worker threads so the event loop
never stalls). Once logged in, its lines become command events of the
player's tenant. Reconnecting takes over an existing session; a dropped
connection leaves the character in the world, link-dead, for a while.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from driver.auth.accounts import AccountStore, LoginThrottle, ScryptParams
from driver.auth.login import (
    Disconnect,
    EchoOff,
    EchoOn,
    HashPassword,
    LoggedIn,
    Login,
    Prompt,
    Show,
    ShowWho,
    VerifyPassword,
)
from driver.net.session import Session
from driver.players.commands import Commands, describe_room
from driver.world import ids

if TYPE_CHECKING:
    from driver.app import Realm
    from driver.tenancy.tenant import Outbox

PROMPT = "> "


@dataclass(slots=True)
class Link:
    """A logged-in character and (while connected) its session."""

    player_id: str
    name: str
    is_wizard: bool
    session: Session | None
    last_input: float
    linkdead_since: float | None = None


def room_number(room_id: str) -> int:
    """A stable number for a room id (GMCP Room.Info `num`, mapper-friendly)."""
    return zlib.crc32(room_id.encode())


class Players:
    """Gateway, output and console of the realm (see module docstring)."""

    def __init__(
        self,
        realm: Realm,
        accounts: AccountStore,
        *,
        kdf_params: ScryptParams | None = None,
        linkdead_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.realm = realm
        self.accounts = accounts
        self.throttle = LoginThrottle()
        self.kdf_params = kdf_params
        self.linkdead_seconds = linkdead_seconds
        self.clock = clock
        self.links: dict[str, Link] = {}
        self.commands = Commands(self)
        self.kdf_limiter = trio.CapacityLimiter(2)  # each scrypt hash holds 32 MiB
        self.nursery: trio.Nursery | None = None

    # -- Gateway ------------------------------------------------------------------------

    def connect(self, session: Session) -> _Connection:
        conn = _Connection(self, session)
        conn.start()
        return conn

    # -- Output (for tenants) ---------------------------------------------------------------
    #
    # Everything a tenant event says to a player is held in the tenant's
    # outbox until the event is over (and, with persistence, durable):
    # a player never sees a message whose cause a crash could take back.

    def _deliver(self, player_id: str, item: tuple[Any, ...]) -> None:
        tenant = self.realm.tenant
        if tenant.in_event:
            tenant.outbox.append((player_id, item))
        else:
            self.send_now(player_id, item)

    def send_now(self, player_id: str, item: tuple[Any, ...]) -> None:
        link = self.links.get(player_id)
        session = link.session if link is not None else None
        if session is None:
            return
        kind = item[0]
        if kind == "text":
            session.send_text(item[1])
        elif kind == "prompt":
            session.send_prompt(item[1])
        elif kind == "gmcp":
            session.send_gmcp(item[1], item[2])
        elif kind == "close":
            # Quitting: the link goes with the session.
            self.links.pop(player_id, None)
            session.close(item[1])

    def release(self, outbox: Outbox) -> None:
        """Send an event's held output (the tenant calls this when it may)."""
        for player_id, item in outbox:
            self.send_now(player_id, item)

    def text(self, player_id: str, text: str) -> None:
        self._deliver(player_id, ("text", text))

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        link = self.links.get(player_id)
        if link is not None and link.session is not None and link.session.wants_gmcp(package):
            self._deliver(player_id, ("gmcp", package, data))

    def room_changed(self, player_id: str) -> None:
        link = self.links.get(player_id)
        if link is None or link.session is None:
            return
        player = self.realm.tenant.graph.get(player_id)
        if player is None:
            return
        self._deliver(player_id, ("text", describe_room(player.env, player)))
        room = player.env
        if room is not None and link.session.wants_gmcp("Room.Info"):
            self._deliver(player_id, ("gmcp", "Room.Info", self.room_info(room)))

    def room_info(self, room: Any) -> dict[str, Any]:
        return {
            "num": room_number(room.id),
            "id": room.id,
            "name": room.short,
            "area": room.text("area") or self.realm.title,
            "exits": {d: room_number(dest) for d, dest in room.exits().items()},
        }

    # -- Console (for commands) ---------------------------------------------------------------

    def is_wizard(self, player_id: str) -> bool:
        link = self.links.get(player_id)
        return link is not None and link.is_wizard

    def online(self) -> list[tuple[str, float]]:
        now = self.clock()
        return [(pid, now - link.last_input) for pid, link in self.links.items() if link.linkdead_since is None]

    def quit(self, player_id: str) -> None:
        self._deliver(player_id, ("close", "quit"))
        self._stow(player_id)

    def reload(self, blueprint: str) -> str:
        return self.realm.reload(blueprint)

    # -- entering and leaving the world -----------------------------------------------------

    def enter(self, conn: _Connection, event: LoggedIn) -> None:
        """Put a freshly logged-in character into the world."""
        tenant = self.realm.tenant
        player_id = ids.player_id(event.name)
        old = self.links.get(player_id)
        now = self.clock()
        if old is not None:
            # Reconnect: take over the old session; the body never left.
            if old.session is not None and old.session is not conn.session:
                old.session.send_text("{yellow}You have logged in from somewhere else.{/}\n")
                old.session.close("taken over")
            old.session = conn.session
            old.linkdead_since = None
            old.last_input = now
            old.is_wizard = event.is_wizard
            conn.player_id = player_id

            def resume() -> None:
                tenant.actor = player_id
                self.text(player_id, "{green}You take over your body again.{/}\n")
                self.gmcp(player_id, "Char.Name", {"name": event.name, "fullname": event.name})
                self.room_changed(player_id)
                self._prompt(player_id)

            tenant.enqueue(resume)
            self.realm.wake()
        else:
            self.links[player_id] = Link(player_id, event.name, event.is_wizard, conn.session, now)
            conn.player_id = player_id

            def arrive() -> None:
                tenant.actor = player_id
                self.gmcp(player_id, "Char.Name", {"name": event.name, "fullname": event.name})
                player = tenant.add_player(player_id, {})
                player.set("name", event.name)
                player.set("short", event.name)
                if not player.text("long"):
                    player.set("long", f"{event.name}, an adventurer.")
                tenant.touch(player)
                start = player.text("last_room") or self.realm.start_room
                room = tenant.find(start) or tenant.find(self.realm.start_room)
                if event.created:  # the login screen has said welcome
                    self.text(player_id, "Type {bold}help{/} for commands.\n")
                if player.env is not None:
                    # Restored after a restart: the body is where it was.
                    self.room_changed(player_id)
                elif room is None:
                    self.text(player_id, "{red}The world has no start room yet.{/}\n")
                else:
                    for other in room.contents or ():
                        if other.is_player:
                            self.text(other.id, f"{event.name} arrives.\n")
                    tenant.move(player, room)
                self._prompt(player_id)

            tenant.enqueue(arrive)
            self.realm.wake()
        for line in event.pending:
            self.command(player_id, line)

    def _stow(self, player_id: str) -> None:
        """Take a leaving character's body out of the world, remembering where it was."""
        tenant = self.realm.tenant

        def leave() -> None:
            player = tenant.graph.get(player_id)
            if player is None:
                return
            room = player.env
            if room is not None:
                player.set("last_room", room.id)
                tenant.touch(player)
                for other in room.contents or ():
                    if other.is_player and other is not player:
                        self.text(other.id, f"{player.name} leaves the game.\n")
            tenant.move(player, None)

        tenant.enqueue(leave)
        self.realm.wake()

    def disconnected(self, conn: _Connection) -> None:
        link = self.links.get(conn.player_id or "")
        if link is None or link.session is not conn.session:
            return
        link.session = None
        link.linkdead_since = self.clock()
        tenant = self.realm.tenant
        player = tenant.graph.get(link.player_id)
        if player is not None and player.env is not None:
            for other in player.env.contents or ():
                if other.is_player and other is not player:
                    self.text(other.id, f"{link.name} has lost their link.\n")

    def reap_linkdead(self) -> int:
        """Stow characters link-dead for longer than allowed. Returns how many."""
        now = self.clock()
        doomed = [
            pid for pid, link in self.links.items()
            if link.linkdead_since is not None and now - link.linkdead_since >= self.linkdead_seconds
        ]
        for pid in doomed:
            del self.links[pid]
            self._stow(pid)
        return len(doomed)

    # -- commands -------------------------------------------------------------------------

    def command(self, player_id: str, line: str) -> None:
        link = self.links.get(player_id)
        if link is None:
            return
        link.last_input = self.clock()
        tenant = self.realm.tenant

        def run() -> None:
            player = tenant.graph.get(player_id)
            if player is None:
                return
            tenant.actor = player_id
            self.commands.handle(tenant, player, line)
            self._prompt(player_id)

        if not tenant.enqueue(run):
            self.text(player_id, "{red}The world is too busy; try again in a moment.{/}\n")
            return
        self.realm.wake()

    def _prompt(self, player_id: str) -> None:
        self._deliver(player_id, ("prompt", PROMPT))


class _Connection:
    """One session's handler: the login screen, then the player's commands."""

    def __init__(self, players: Players, session: Session) -> None:
        self.players = players
        self.session = session
        self.player_id: str | None = None
        kwargs: dict[str, Any] = {}
        if players.kdf_params is not None:
            kwargs["params"] = players.kdf_params
        self.login = Login(
            players.accounts, players.throttle, session.info.peer, title=players.realm.title, **kwargs
        )
        self.closed = False

    def start(self) -> None:
        self._act(self.login.start())

    def on_line(self, text: str) -> None:
        if self.closed:
            return
        if self.player_id is not None:
            self.players.command(self.player_id, text)
        else:
            self._act(self.login.on_line(text))

    def on_gmcp(self, package: str, data: Any) -> None:
        """Client GMCP beyond Core.* (which the transport answers) is not used yet."""

    def on_disconnect(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.player_id is not None:
            self.players.disconnected(self)

    def _act(self, actions: list[Any]) -> None:
        session = self.session
        for action in actions:
            if isinstance(action, Show):
                session.send_text(action.text)
            elif isinstance(action, Prompt):
                session.send_prompt(action.text)
            elif isinstance(action, EchoOff):
                session.set_echo(False)
            elif isinstance(action, EchoOn):
                session.set_echo(True)
            elif isinstance(action, ShowWho):
                names = sorted(link.name for link in self.players.links.values() if link.linkdead_since is None)
                session.send_text(f"{len(names)} online: {', '.join(names) or 'nobody yet'}\n")
            elif isinstance(action, HashPassword | VerifyPassword):
                self._spawn_kdf(action)
            elif isinstance(action, LoggedIn):
                self.players.enter(self, action)
            elif isinstance(action, Disconnect):
                self.closed = True
                session.close(action.reason)

    def _spawn_kdf(self, action: HashPassword | VerifyPassword) -> None:
        nursery = self.players.nursery
        if nursery is None:
            raise RuntimeError("Players.nursery must be set before sessions connect")

        async def work() -> None:
            result = await trio.to_thread.run_sync(action.compute, limiter=self.players.kdf_limiter)
            if self.closed:
                return
            if isinstance(action, HashPassword):
                self._act(self.login.password_hashed(result))
            else:
                self._act(self.login.password_checked(result))

        nursery.start_soon(work)

"""The gateway: from a new connection, through login, to a character in the world.

:class:`Gateway` is the driver's :class:`~driver.net.session.Gateway` (every
transport hands it new sessions) and the commands' console. A connection
starts at the login screen (:mod:`driver.auth.login`, a sans-IO machine
whose password hashing runs in worker threads so the event loop never
stalls). Once logged in, its lines become command events of the player's
tenant. Reconnecting takes over an existing session; a dropped connection
leaves the character in the world, link-dead, for a while
(:mod:`driver.players.presence`).

Login is where a guessing attack meets the KDF, so the gateway also bounds
it: password checks run in worker threads behind one small limiter (each
scrypt hash holds 32 MiB), and one address may have only a couple of checks
in flight; each is re-checked against the address's lockout when its turn
comes. So a thousand guesses sent at once from one address run only as many
times as the throttle allows, and cannot hold the KDF from everyone else,
while correct logins arriving together from one address (a classroom behind
NAT) are only queued, never refused. The login throttle and the connection
admission both count by address (an IPv6 ``/64``), not by connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio

from driver import oplog
from driver.auth.accounts import LoginThrottle, ScryptParams
from driver.auth.bans import BanStore
from driver.auth.login import (
    Action,
    Disconnect,
    EchoOff,
    EchoOn,
    HashPassword,
    LoggedIn,
    Login,
    Prompt,
    Show,
    ShowWho,
    Stage,
    VerifyPassword,
    peer_host,
)
from driver.auth.rules import login_rules
from driver.net import ansi
from driver.net.admission import Admission, address_key
from driver.net.session import Session
from driver.players.client_events import ClientEvents
from driver.players.commands import Commands
from driver.players.delivery import Delivery
from driver.players.moderation import ADMINHELP, Moderation
from driver.players.presence import Link, Presence
from driver.store.accounts import AccountStore
from driver.tenancy.errors import GuestErrorRecord
from driver.tenancy.output import Text
from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.settings import WorldSettings

PROMPT = "> "
SHUTDOWN_NOTICE = (
    "{bold yellow}The server is shutting down now. Your character is saved; "
    "come back in a little while.{/}\n"
)


class Gateway:
    """Login, entering and leaving the world, and commands (see module docstring)."""

    def __init__(
        self,
        tenant: Tenant,
        presence: Presence,
        delivery: Delivery,
        accounts: AccountStore,
        settings: WorldSettings,
        *,
        reload: Callable[[str], Awaitable[str]],
        kdf_params: ScryptParams | None = None,
        linkdead_seconds: float = 600.0,
        admission: Admission | None = None,
        kdf_per_address: int = 2,
        bans: BanStore | None = None,
    ) -> None:
        self.tenant = tenant
        self.presence = presence
        self.delivery = delivery
        self.accounts = accounts
        self.settings = settings
        self._reload = reload
        self.throttle = LoginThrottle()
        self.kdf_params = kdf_params
        self.linkdead_seconds = linkdead_seconds
        self.commands = Commands(self)
        self.kdf_limiter = trio.CapacityLimiter(2)  # each scrypt hash holds 32 MiB
        self.kdf_gates = _AddressGates(kdf_per_address)
        # Connections counted per address and before login, for every
        # transport; the listeners take it from here (driver.server).
        self.admission = admission or Admission()
        self.nursery: trio.Nursery | None = None
        # Events and GMCP from logged-in clients beyond commands: the live rooms
        # (driver.rooms), plugged in by the realm.
        self.client_events: ClientEvents | None = None
        # Every open connection, logged in or not: all are told at shutdown.
        self.connections: set[_Connection] = set()
        tenant.on_error = self._guest_error
        # Roles and moderation (driver.players.moderation): the admins'
        # commands, and the bans every login is checked against. `shutdown`
        # calls request_shutdown (the server sets it; None: not available).
        self.request_shutdown: Callable[[], None] | None = None
        self.moderation = Moderation(self, bans, ipv6_prefix=self.admission.limits.ipv6_prefix)
        self.commands.admin.update(self.moderation.commands())
        self.commands.admin_help = ADMINHELP

    @property
    def links(self) -> dict[str, Link]:
        return self.presence.links

    @property
    def clock(self) -> Callable[[], float]:
        return self.presence.clock

    # -- net.session.Gateway --------------------------------------------------------------

    def connect(self, session: Session) -> _Connection:
        conn = _Connection(self, session)
        self.connections.add(conn)
        conn.start()
        return conn

    # -- shutting down ------------------------------------------------------------------------

    def shutdown(self, text: str = SHUTDOWN_NOTICE) -> int:
        """Tell every connection, at the login screen or playing, that the
        server is stopping, and close it; each transport flushes what it
        was sent before it closes. Returns how many were told."""
        conns = list(self.connections)
        for conn in conns:
            conn.session.send_text(text)
            conn.session.close("server shutting down")
        return len(conns)

    async def wait_closed(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until every connection has
        closed; True if they all did."""
        with trio.move_on_after(timeout):
            while self.connections:
                await trio.sleep(0.02)
        return not self.connections

    def _guest_error(self, record: GuestErrorRecord) -> None:
        """World code failed: the player who met it was told a reference;
        the wizards get the details (the one who met it, right after)."""
        oplog.event(oplog.GUEST_ERROR, self.tenant.name, ref=record.ref, object=record.object_id,
                    hook=record.hook, error=record.kind, message=record.message[:300],
                    blueprint=record.blueprint, version=record.version)  # fmt: skip
        details = (
            f"[error {record.ref}] {record.object_id} {record.hook}: {record.kind} "
            f"({' '.join(ln.strip() for ln in record.message.splitlines()[:2])})"  # the trap and its innermost frame
        )
        if record.blueprint and record.version:
            details += f" [{record.blueprint}@{record.version[:12]}]"  # which version failed
        line = "{yellow}" + ansi.escape(details) + "{/}\n"
        for player_id, link in list(self.links.items()):
            if not link.is_wizard or link.session is None:
                continue
            if player_id == record.actor:
                self.text(player_id, line)  # after the friendly word, with the event's output
            else:
                self.delivery.send_now(player_id, Text(line))

    # -- Console (for commands) ---------------------------------------------------------------

    def text(self, player_id: str, text: str) -> None:
        self.delivery.text(player_id, text)

    def is_wizard(self, player_id: str) -> bool:
        return self.presence.is_wizard(player_id)

    def is_admin(self, player_id: str) -> bool:
        return self.presence.is_admin(player_id)

    def online(self) -> list[tuple[str, float]]:
        return self.presence.online()

    def linkdead(self) -> list[str]:
        return self.presence.linkdead()

    def is_linkdead(self, player_id: str) -> bool:
        return self.presence.is_linkdead(player_id)

    def connected_for(self, player_id: str) -> float:
        link = self.links.get(player_id)
        if link is None or link.connected_at is None:
            return 0.0
        return max(0.0, self.clock() - link.connected_at)

    def vitals(self, player_id: str) -> dict[str, Any] | None:
        link = self.links.get(player_id)
        return link.vitals if link is not None else None

    def quit(self, player_id: str) -> None:
        self.leave(player_id, "quit")

    def leave(self, player_id: str, reason: str) -> None:
        """The character leaves the game (quit, kicked): the session is
        closed after what it was told, and the body stowed."""
        link = self.links.get(player_id)
        oplog.event(oplog.LOGOUT, self.tenant.name, name=link.name if link else player_id,
                    reason=reason)  # fmt: skip
        self.delivery.close(player_id, reason)
        if link is not None and link.session is None:
            self.links.pop(player_id, None)  # link-dead: no session to close
        self._stow(player_id)

    async def reload(self, blueprint: str) -> str:
        return await self._reload(blueprint)

    def spawn(self, job: Callable[[], Awaitable[None]]) -> None:
        if self.nursery is None:
            raise RuntimeError("Gateway.nursery must be set before commands run")
        self.nursery.start_soon(job)

    # -- entering and leaving the world -----------------------------------------------------

    def enter(self, conn: _Connection, event: LoggedIn) -> None:
        """Put a freshly logged-in character into the world."""
        self.admission.logged_in(conn.session)  # no longer pre-login: no timeout
        if event.created:
            oplog.event(oplog.ACCOUNT_CREATED, self.tenant.name, name=event.name,
                        address=conn.address)  # fmt: skip
        oplog.event(oplog.LOGIN, self.tenant.name, name=event.name, address=conn.address,
                    transport=conn.session.info.transport,
                    role="admin" if event.is_admin else "wizard" if event.is_wizard else "player",
                    )  # fmt: skip
        tenant = self.tenant
        player_id = ids.player_id(event.name)
        old = self.links.get(player_id)
        now = self.clock()
        if old is not None:
            # Reconnect: take over the old session; the body never left.
            if old.session is not None and old.session is not conn.session:
                old.session.send_text("{yellow}You have logged in from somewhere else.{/}\n")
                old.session.close("taken over")
            was_linkdead = old.linkdead_since is not None
            old.session = conn.session
            old.linkdead_since = None
            old.last_input = now
            old.connected_at = now
            old.is_wizard = event.is_wizard
            old.is_admin = event.is_admin
            conn.player_id = player_id

            async def resume() -> None:
                tenant.actor = player_id
                self.text(player_id, "{green}You take over your body again.{/}\n")
                body = tenant.graph.get(player_id)
                if was_linkdead and body is not None and body.env is not None:
                    for other in body.env.contents or ():
                        if other.is_player and other is not body:
                            self.text(other.id, f"{event.name} has reconnected.\n")
                self.delivery.gmcp(player_id, "Char.Name", {"name": event.name, "fullname": event.name})
                self.delivery.room_changed(player_id)
                self._prompt(player_id)

            tenant.enqueue_command(player_id, resume, always=True)
        else:
            self.links[player_id] = Link(
                player_id, event.name, event.is_wizard, conn.session, now, is_admin=event.is_admin
            )
            conn.player_id = player_id

            async def arrive() -> None:
                tenant.actor = player_id
                self.delivery.gmcp(player_id, "Char.Name", {"name": event.name, "fullname": event.name})
                player = tenant.add_player(player_id, {})
                player.set("name", event.name)
                player.set("short", event.name)
                if not player.text("long"):
                    player.set("long", f"{event.name}, an adventurer.")
                tenant.touch(player)
                start = player.text("last_room") or self.settings.start_room
                room = await tenant.find(start) or await tenant.find(self.settings.start_room)
                if event.created:  # the login screen has said welcome
                    self.text(player_id, "Type {bold}help{/} for commands.\n")
                if player.env is not None:
                    # Restored after a restart: the body is where it was.
                    self.delivery.room_changed(player_id)
                elif room is None:
                    self.text(player_id, "{red}The world has no start room yet.{/}\n")
                else:
                    for other in room.contents or ():
                        if other.is_player:
                            self.text(other.id, f"{event.name} arrives.\n")
                    tenant.move(player, room)
                self._prompt(player_id)

            tenant.enqueue_command(player_id, arrive, always=True)
        for line in event.pending:
            self.command(player_id, line)

    def restore_bodies(self) -> int:
        """After a restart: every player's body standing in a room is
        link-dead from now until its player logs in again. Returns how many."""
        bodies: list[tuple[str, str, bool]] = []
        for obj in self.tenant.graph.objects.values():
            if obj.is_player and obj.env is not None:
                account = self.accounts.get(obj.name)
                bodies.append((obj.id, obj.name, account is not None and account.is_wizard))
        self.presence.restored(bodies)
        return len(bodies)

    def _stow(self, player_id: str) -> None:
        """Take a leaving character's body out of the world, remembering where it was."""
        tenant = self.tenant

        async def leave() -> None:
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

        tenant.enqueue_command(player_id, leave, always=True)

    def disconnected(self, conn: _Connection) -> None:
        link = self.links.get(conn.player_id or "")
        if link is None or link.session is not conn.session:
            return
        link.session = None
        link.linkdead_since = self.clock()
        oplog.event(oplog.LINK_LOST, self.tenant.name, name=link.name, address=conn.address)
        tenant = self.tenant
        player = tenant.graph.get(link.player_id)
        if player is not None and player.env is not None:
            for other in player.env.contents or ():
                if other.is_player and other is not player:
                    self.text(other.id, f"{link.name} has lost their link.\n")

    def reap_linkdead(self) -> int:
        """Stow characters link-dead for longer than allowed. Returns how many."""
        doomed = self.presence.linkdead_longer_than(self.linkdead_seconds)
        for pid in doomed:
            link = self.links.pop(pid)
            oplog.event(oplog.LOGOUT, self.tenant.name, name=link.name, reason="link-dead")
            self._stow(pid)
        return len(doomed)

    async def reap_loop(self, every: float = 10.0) -> None:
        while True:
            await trio.sleep(every)
            self.reap_linkdead()

    # -- commands -------------------------------------------------------------------------

    def command(self, player_id: str, line: str) -> None:
        link = self.links.get(player_id)
        if link is None:
            return
        link.last_input = self.clock()
        tenant = self.tenant

        async def run() -> None:
            player = tenant.graph.get(player_id)
            if player is None:
                return
            tenant.actor = player_id
            await self.commands.handle(tenant, player, line)
            self._prompt(player_id)

        if not tenant.enqueue_command(player_id, run):
            self.text(player_id, "{red}You are typing faster than the world can keep up; slow down.{/}\n")
            return

    def _prompt(self, player_id: str) -> None:
        self.delivery.prompt(player_id, PROMPT)


class _AddressGates:
    """At most ``per_address`` holders at once per address; the rest queue
    in order. Entries exist only while someone holds or waits."""

    def __init__(self, per_address: int) -> None:
        self._per_address = max(1, per_address)
        self._gates: dict[str, tuple[trio.Semaphore, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, address: str) -> AsyncIterator[None]:
        gate = self._gates.get(address)
        if gate is None:
            gate = self._gates[address] = (trio.Semaphore(self._per_address), [0])
        semaphore, users = gate
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._gates[address]

    def __len__(self) -> int:
        return len(self._gates)


class _Connection:
    """One session's handler: the login screen, then the player's commands."""

    # One per connection, held for as long as the player stays: no __dict__.
    __slots__ = ("players", "session", "player_id", "address", "login", "closed", "_attempt")

    def __init__(self, players: Gateway, session: Session) -> None:
        self.players = players
        self.session = session
        self.player_id: str | None = None
        kwargs: dict[str, Any] = {}
        if players.kdf_params is not None:
            kwargs["params"] = players.kdf_params
        # Throttled by address, as the admission counts (not by host:port).
        self.address = address_key(
            peer_host(session.info.peer), players.admission.limits.ipv6_prefix
        )
        # Not a bound method of this connection: the login machine would then
        # hold the connection in a cycle, freed only by a full collection
        # (which the server makes rare), so a flood's closed connections
        # would stay in memory.
        moderation, address = players.moderation, self.address
        # The login screen, until the player is in the world: then dropped
        # (with its held-lines queue and its closure, about a kilobyte that
        # every idle session would otherwise keep).
        self.login: Login | None = Login(
            players.accounts, players.throttle, self.address, title=players.settings.title,
            refuse=lambda account: moderation.login_refusal(account, address), **kwargs,
        )  # fmt: skip
        self.closed = False
        # A one-line `connect`/`create` in progress: what the login screen
        # said since, for the client's GMCP Char.Login.Result (a login form
        # shows it on the form instead of leaving the player at a prompt).
        self._attempt: list[str] | None = None

    def start(self) -> None:
        refusal = self.players.moderation.address_refusal(self.address)
        if refusal is not None:  # a banned address: not even the login screen
            oplog.event(oplog.LOGIN_REFUSED, self.players.tenant.name, address=self.address,
                        ban="address")  # fmt: skip
            self.closed = True
            self.players.connections.discard(self)
            self.session.send_text(refusal)
            self.session.close("banned address")
            return
        self._act(self._login().start())

    def _login(self) -> Login:
        """The login screen, which only a connection not yet logged in has."""
        login = self.login
        if login is None:
            raise RuntimeError("the connection has logged in: there is no login screen")
        return login

    @property
    def at_login(self) -> bool:
        """Still at the login screen, not in the middle of checking a password."""
        login = self.login
        return self.player_id is None and not self.closed and login is not None and not login.busy

    def detach(self) -> None:
        """Let go of the session without closing it: it is going to another
        world's login screen (``world <name>``)."""
        self.closed = True
        self.players.connections.discard(self)

    def on_line(self, text: str) -> None:
        if self.closed:
            return
        if self.player_id is not None:
            self.players.command(self.player_id, text)
        else:
            login = self._login()
            words = text.split()
            if len(words) == 3 and words[0].lower() in ("connect", "create") and not login.busy:
                self._attempt = []
            self._act(login.on_line(text))

    def on_gmcp(self, package: str, data: Any) -> None:
        """Client GMCP beyond Core.* (which the transport answers): the live rooms'.

        A client that says it takes GMCP, before login, is also sent the name
        and password rules (Char.Login.Rules): a login form shows and checks
        the server's own rule, not a copy of it."""
        if self.player_id is None and package.lower() in ("core.supports.set", "core.supports.add"):
            self.session.send_gmcp("Char.Login.Rules", login_rules())
        events = self.players.client_events
        if events is not None and self.player_id is not None and not self.closed:
            events.gmcp(self.player_id, self.session, package, data)

    def on_event(self, name: str, payload: Any) -> None:
        """A named client event (``json.jitrealm``): the live rooms'."""
        if self.closed:
            return
        events = self.players.client_events
        if events is None or self.player_id is None:
            self.session.send_text("{dim}[Log in first.]{/}\n")
            return
        events.event(self.player_id, self.session, name, payload)

    def on_disconnect(self, reason: str) -> None:
        self.players.connections.discard(self)
        if self.closed:
            return
        self.closed = True
        if self.player_id is not None:
            self.players.disconnected(self)
            if self.players.client_events is not None:
                self.players.client_events.disconnected(self.player_id, self.session)

    def _act(self, actions: list[Action]) -> None:
        session = self.session
        attempt = self._attempt
        for action in actions:
            if isinstance(action, Show):
                session.send_text(action.text)
                if attempt is not None:
                    attempt.append(action.text.strip())
            elif isinstance(action, Prompt):
                session.send_prompt(action.text)
            elif isinstance(action, EchoOff):
                session.set_echo(False)
            elif isinstance(action, EchoOn):
                session.set_echo(True)
            elif isinstance(action, ShowWho):
                names = self.players.presence.names_online()
                session.send_text(f"{len(names)} online: {', '.join(names) or 'nobody yet'}\n")
            elif isinstance(action, HashPassword | VerifyPassword):
                self._spawn_kdf(action)
            elif isinstance(action, LoggedIn):
                if attempt is not None:
                    self._attempt = attempt = None
                    session.send_gmcp("Char.Login.Result", {"success": True})
                self.players.enter(self, action)
                self.login = None  # done with: see __init__
            elif isinstance(action, Disconnect):
                self._login_failed()
                self.closed = True
                session.close(action.reason)
        if attempt is not None and self.login is not None and self.login.stage is Stage.NAME:
            self._login_failed()  # refused: back at the name prompt

    def _login_failed(self) -> None:
        """The one-line login in progress was refused: say why, out of band."""
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            message = " ".join(text for text in attempt if text) or "Login failed."
            self.session.send_gmcp("Char.Login.Result", {"success": False, "message": ansi.strip(message)})

    def _spawn_kdf(self, action: HashPassword | VerifyPassword) -> None:
        nursery = self.players.nursery
        if nursery is None:
            raise RuntimeError("Gateway.nursery must be set before sessions connect")

        limiter = self.players.kdf_limiter
        throttle = self.players.throttle
        address = self.address
        login = self._login()  # the screen that asked: it waits for the answer

        async def work() -> None:
            async with self.players.kdf_gates.hold(address):
                if isinstance(action, HashPassword):
                    encoded = await trio.to_thread.run_sync(action.compute, limiter=limiter)
                    if not self.closed:
                        self._act(login.password_hashed(encoded))
                    return
                # Attempts decided while this one queued may have locked the
                # address out: then this guess is not run at all.
                wait = throttle.address_retry_after(address)
                if wait > 0:
                    if not self.closed:
                        self._act(login.password_throttled(wait))
                    return
                checked = await trio.to_thread.run_sync(action.compute, limiter=limiter)
                if not checked.ok:
                    oplog.event(oplog.LOGIN_FAILED, self.players.tenant.name,
                                name=login.name, address=address)  # fmt: skip
                if not self.closed:
                    self._act(login.password_checked(checked))

        nursery.start_soon(work)

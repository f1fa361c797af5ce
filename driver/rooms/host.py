"""The live room host: many declarative rooms, played by WebSocket clients.

Rooms here are the Colyseus-style half of the reference design: created on demand by
``{tenant, blueprint, version, config}`` (:meth:`RoomHost.create`), joined by logged-in
clients over the ``json.jitrealm`` subprotocol (messages in ``rooms.schema.json``), and
gone when the last client has been away for a while. Each runs a sans-IO
:class:`~driver.dsl.room.Room` compiled once per bundle version by the
:class:`~driver.runtimes.declarative.DeclarativeRuntime`, so a hosted room and a room of
the MUD run the very same code; a MUD room (an id starting with ``/``) is not hosted
here but in its tenant's world, and :meth:`RoomHost.event` forwards ``room.send`` to it
(and GMCP ``Realm.Room.Send`` from the browser page), so the browser and telnet players
of a MUD room share its one machine.

What the host adds to a room:

* **seats**: ``maxClients`` and the room's lock decide who may join; a full or locked
  room refuses (``room.error`` ``full``/``locked``);
* **validation**: a client message becomes a machine event only if its payload fits the
  bundle's schema; anything else gets a ``room.error`` and changes nothing;
* **rate**: a token bucket per client (``RoomHostLimits.client_rate``);
* **replication**: a full snapshot (``room.joined``) on join, then ``room.patch`` batches
  of RFC 6902 operations, at most one per ``patchMs`` (50 ms by default) and only when
  something changed, numbered (``seq``) so a client can tell one was lost;
* **reconnection**: a client whose connection drops keeps its seat (and so its score)
  for ``reconnectSeconds``; ``room.join`` with the token it got resumes it;
* **budget**: a room's steps are charged as fuel to its tenant (and to the room, as if it
  were an object); a room in fuel debt has its timers wait, as callouts do.

Everything runs on the trio loop without awaiting inside an event, so each client
message and each timer is processed whole, one at a time.
"""

from __future__ import annotations

import heapq
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import jsonschema
import trio

from driver.dsl.bundle import DEFAULT_PATCH_MS, DEFAULT_RECONNECT_SECONDS
from driver.dsl.room import Room, Step
from driver.net.ratelimit import TokenBucket
from driver.net.session import Session
from driver.runtimes import RuntimeKind
from driver.runtimes.declarative import FUEL_PER_STEP, DeclarativeRuntime
from driver.tenancy.tenant import Tenant
from sandbox.protocol import Hook

log = logging.getLogger(__name__)

SCHEMA_FILE = Path(__file__).with_name("rooms.schema.json")
GMCP_SEND = "realm.room.send"


@dataclass(frozen=True, slots=True)
class RoomHostLimits:
    # Room messages a second per client, sustained, and the burst above it: under the
    # WebSocket's own input limit, so a room's flood gets a room.error naming the room.
    client_rate: float = 8.0
    client_burst: int = 16
    max_rooms_per_tenant: int = 1000
    max_rooms_per_client: int = 8  # joined at once
    empty_room_seconds: float = 60.0  # an empty room (nobody seated) is closed after this
    tick: float = 0.01  # how often the host looks for due patches and timers


_UNSET: Any = object()
_UNENCODABLE: Any = object()


@dataclass(slots=True, eq=False)
class Client:
    """One logged-in session that speaks to rooms."""

    player_id: str
    session: Session
    name: str
    bucket: TokenBucket
    rooms: set[str] = field(default_factory=set)
    warned: bool = False

    def send(self, name: str, payload: Any) -> None:
        send = getattr(self.session, "send_event", None)
        if send is not None:
            send(name, payload)

    def send_shared(self, name: str, payload: Any, frames: dict[str, Any]) -> None:
        """Send what many clients get alike, encoding it once per wire format."""
        wire = getattr(self.session, "wire", None)
        send_frame = getattr(self.session, "send_frame", None)
        if wire is None or send_frame is None:
            self.send(name, payload)
            return
        frame = frames.get(wire.name, _UNSET)
        if frame is _UNSET:
            try:
                frame = wire.event(name, payload)
            except (ValueError, TypeError):
                frame = _UNENCODABLE
            frames[wire.name] = frame
        if frame is _UNENCODABLE:
            self.send(name, payload)  # which says why it is not sent
        elif frame is not None:
            send_frame(frame)


@dataclass(slots=True, eq=False)
class HostedRoom:
    id: str
    tenant: Tenant
    blueprint: str
    room: Room
    follows: bool  # created without a version: moves to each new one (hot reload)
    patch_s: float
    grace_s: float
    clients: dict[str, Client | None] = field(default_factory=dict)  # seat -> session (None: away)
    seq: int = 0
    due_flush: float | None = None
    empty_since: float | None = None

    @property
    def version(self) -> str:
        return self.room.bundle.version

    @property
    def budget_id(self) -> str:
        return f"room:{self.id}"


class RoomRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _plain_send(payload: Any) -> bool:
    """A room.send that the schema would take, for sure (see rooms.schema.json)."""
    if type(payload) is not dict or not 2 <= len(payload) <= 3:
        return False
    room, kind = payload.get("room"), payload.get("type")
    return (
        type(room) is str
        and 0 < len(room) <= 200
        and type(kind) is str
        and 0 < len(kind) <= 128
        and all(k in ("room", "type", "payload") for k in payload)
    )


@cache
def _validators() -> dict[str, Any]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return {
        name: cls({**sub, "$defs": schema["$defs"]})
        for name, sub in schema["$defs"]["client"].items()
    }


class RoomHost:
    """See module docstring."""

    def __init__(
        self,
        tenants: Mapping[str, Tenant],
        runtime: DeclarativeRuntime,
        *,
        limits: RoomHostLimits | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.tenants = tenants
        self.runtime = runtime
        self.limits = limits or RoomHostLimits()
        self.clock = clock
        self.rooms: dict[str, HostedRoom] = {}
        self.clients: dict[int, Client] = {}  # id(session) -> client
        self._timers: list[tuple[float, int, str]] = []  # (due, seq, room id)
        self._timer_seq = 0
        self._dirty: set[str] = set()
        self._wakeup = trio.Event()
        self._wake_at = 0.0  # when the loop means to wake next (sooner needs a wakeup)
        self.patches_sent = 0

    # -- the player's tenant ----------------------------------------------------------------

    def _tenant_of(self, player_id: str) -> Tenant:
        # One tenant serves players for now (driver.app); with several, the
        # player's tenant is the one whose world the player is in.
        for tenant in self.tenants.values():
            if tenant.graph.get(player_id) is not None:
                return tenant
        return next(iter(self.tenants.values()))

    # -- creating rooms -----------------------------------------------------------------------

    def create(
        self,
        tenant: Tenant,
        blueprint: str,
        version: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> HostedRoom:
        """A new hosted room of ``blueprint`` (its current version unless ``version``)."""
        bp = tenant.blueprints.get(blueprint)
        if bp is None or bp.kind is not RuntimeKind.DECLARATIVE or bp.version is None:
            raise RoomRefused("no-such-blueprint", f"{blueprint} is not a declarative room")
        chosen = bp.version
        if version is not None:
            matches = [v for v in bp.history if v.startswith(version)]
            if len(matches) != 1 or self.runtime.bundle(matches[0]) is None:
                raise RoomRefused(
                    "no-such-blueprint", f"{blueprint} has no version {version!r} loaded"
                )
            chosen = matches[0]
        bundle = self.runtime.bundle(chosen)
        assert bundle is not None
        if (
            sum(1 for r in self.rooms.values() if r.tenant is tenant)
            >= self.limits.max_rooms_per_tenant
        ):
            raise RoomRefused("too-many-rooms", "this world has as many rooms as it may")
        room_id = f"{blueprint.strip('/').replace('/', '-')}-{secrets.token_hex(4)}"
        now = self.clock()
        room = Room(bundle, room_id, config=config, now_ms=now * 1000)
        start = room.start()
        if not start.ok:
            raise RoomRefused("error", f"the room failed to start: {start.error}")
        tenant.blueprints.pin(chosen)
        config_all = room.config
        hosted = HostedRoom(
            room_id, tenant, blueprint, room, follows=version is None,
            patch_s=float(config_all.get("patchMs", DEFAULT_PATCH_MS)) / 1000,
            grace_s=float(config_all.get("reconnectSeconds", DEFAULT_RECONNECT_SECONDS)),
            empty_since=now,
        )  # fmt: skip
        self.rooms[room_id] = hosted
        self._charge(hosted, start)
        room.take_patch()
        room.take_outputs()
        self._arm(hosted)
        return hosted

    # -- ClientEvents (from the gateway) ----------------------------------------------------

    def event(self, player_id: str, session: Session, name: str, payload: Any) -> None:
        client = self._client(player_id, session)
        if not name.startswith("room."):
            client.send(
                "room.error",
                {"code": "unsupported", "message": f"no handler takes the event {name!r}"},
            )
            return
        if not client.bucket.take():
            if not client.warned:
                client.warned = True
                client.send(
                    "room.error",
                    {"code": "rate-limited", "message": "too many room messages; slow down"},
                )
            return
        client.warned = False
        if name == "room.send" and _plain_send(payload):
            # The message a game sends all the time: checked here in a few steps
            # (jsonschema costs tens of µs a message); anything odd goes the long way.
            self._guarded(client, name, payload)
            return
        validator = _validators().get(name)
        if validator is None:
            client.send(
                "room.error", {"code": "bad-request", "message": f"unknown room message {name!r}"}
            )
            return
        error = jsonschema.exceptions.best_match(validator.iter_errors(payload))
        if error is not None:
            client.send(
                "room.error",
                {
                    "code": "bad-request",
                    "message": f"{name}: {error.json_path}: {error.message[:200]}",
                },
            )
            return
        self._guarded(client, name, payload)

    def _guarded(self, client: Client, name: str, payload: Any) -> None:
        try:
            if name == "room.create":
                self._on_create(client, payload)
            elif name == "room.join":
                self._on_join(client, payload)
            elif name == "room.leave":
                self._on_leave(client, payload["room"])
            elif name == "room.send":
                self._on_send(client, payload["room"], payload["type"], payload.get("payload"))
        except RoomRefused as exc:
            reply: dict[str, Any] = {"code": exc.code, "message": str(exc)}
            if isinstance(payload, dict) and "room" in payload:
                reply["room"] = payload["room"]
            client.send("room.error", reply)

    def gmcp(self, player_id: str, session: Session, package: str, data: Any) -> bool:
        """GMCP ``Realm.Room.Send {room, type, payload}``: an event for the MUD room the
        player stands in (the browser page speaks GMCP)."""
        if package.lower() != GMCP_SEND:
            return False
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("type"), str)
            or not isinstance(data.get("room"), str)
        ):
            return True
        client = self._client(player_id, session)
        if not client.bucket.take():
            return True
        self._send_to_world(player_id, data["room"], data["type"], data.get("payload"))
        return True

    def disconnected(self, player_id: str, session: Session) -> None:
        client = self.clients.pop(id(session), None)
        if client is None:
            return
        now = self.clock()
        for room_id in list(client.rooms):
            hosted = self.rooms.get(room_id)
            if hosted is None or hosted.clients.get(player_id) is not client:
                continue
            hosted.clients[player_id] = None
            self._after(hosted, hosted.room.drop(player_id, now * 1000))

    def _client(self, player_id: str, session: Session) -> Client:
        client = self.clients.get(id(session))
        if client is None or client.session is not session:
            name = player_id.rsplit("/", 1)[-1].capitalize()
            tenant = self._tenant_of(player_id)
            player = tenant.graph.get(player_id)
            if player is not None and player.name:
                name = player.name
            client = Client(
                player_id,
                session,
                name,
                TokenBucket(self.limits.client_rate, self.limits.client_burst),
            )
            self.clients[id(session)] = client
        return client

    # -- client messages --------------------------------------------------------------------

    def _on_create(self, client: Client, payload: Mapping[str, Any]) -> None:
        tenant = self._tenant_of(client.player_id)
        hosted = self.create(
            tenant, payload["blueprint"], payload.get("version"), payload.get("config")
        )
        client.send(
            "room.created",
            {"room": hosted.id, "blueprint": hosted.blueprint, "version": hosted.version},
        )

    def _on_join(self, client: Client, payload: Mapping[str, Any]) -> None:
        if "blueprint" in payload:
            hosted = self._join_or_create(client, payload["blueprint"], payload.get("config"))
        else:
            room_id = payload["room"]
            found = self.rooms.get(room_id)
            if found is None:
                raise RoomRefused("no-such-room", f"no room {room_id!r}")
            hosted = found
        self._seat(client, hosted, payload.get("token"))

    def _join_or_create(self, client: Client, blueprint: str, config: Any) -> HostedRoom:
        tenant = self._tenant_of(client.player_id)
        for hosted in self.rooms.values():
            room = hosted.room
            if (
                hosted.tenant is tenant
                and hosted.blueprint == blueprint
                and not room.locked
                and (client.player_id in room.seats or room.seated() < room.max_clients)
            ):
                return hosted
        return self.create(tenant, blueprint, None, config)

    def _seat(self, client: Client, hosted: HostedRoom, token: str | None) -> None:
        room = hosted.room
        pid = client.player_id
        seat = room.seats.get(pid)
        if seat is not None:
            if token != seat.token:
                raise RoomRefused("seated", "you have a seat here already; rejoin with its token")
            self._flush(hosted)
            hosted.clients[pid] = client
            self._after(hosted, room.rejoin(pid))
        else:
            if len(client.rooms) >= self.limits.max_rooms_per_client:
                raise RoomRefused("too-many-rooms", "you are in as many rooms as you may be")
            self._flush(hosted)
            refusal = room.join(pid, client.name, secrets.token_urlsafe(16))
            if refusal is not None:
                code = refusal if refusal in ("full", "locked") else "error"
                raise RoomRefused(code, f"cannot join {hosted.id}: {refusal}")
            hosted.clients[pid] = None
            self._after(hosted, Step(steps=1))
            self._flush(hosted)  # the others see the newcomer arrive...
            hosted.clients[pid] = client
        client.rooms.add(hosted.id)
        hosted.empty_since = None
        view = room.view()
        view["blueprint"] = hosted.blueprint
        view["seat"] = pid
        view["token"] = room.seats[pid].token
        view["seq"] = hosted.seq
        client.send("room.joined", view)  # ...and the newcomer gets it all

    def _on_leave(self, client: Client, room_id: str) -> None:
        hosted = self.rooms.get(room_id)
        if hosted is None or client.player_id not in hosted.clients:
            raise RoomRefused("not-joined", f"you are not in {room_id!r}")
        self._remove(hosted, client.player_id, "left")

    def _on_send(self, client: Client, room_id: str, kind: str, payload: Any) -> None:
        if room_id.startswith("/"):
            self._send_to_world(client.player_id, room_id, kind, payload)
            return
        hosted = self.rooms.get(room_id)
        if hosted is None or hosted.clients.get(client.player_id) is not client:
            raise RoomRefused("not-joined", f"you are not in {room_id!r}")
        self._migrate(hosted)
        now = self.clock()
        self._run_timers(hosted, now)
        step = hosted.room.dispatch(client.player_id, kind, payload)
        if step.error is not None:
            code, message = step.error
            client.send("room.error", {"room": room_id, "code": code, "message": message})
            if code not in ("error", "limit", "too-many-steps"):
                return
        self._after(hosted, step)

    def _send_to_world(self, player_id: str, room_id: str, kind: str, payload: Any) -> None:
        """An event for a room of the MUD: run as the player's command (in order with
        what they type), as on-message(room.event) of the room they stand in."""
        tenant = self._tenant_of(player_id)
        message = cbor2.dumps({"type": kind, "payload": payload})

        async def run() -> None:
            player = tenant.graph.get(player_id)
            if player is None or player.env is None or player.env.id != room_id:
                return
            tenant.actor = player_id
            await tenant.run_hook(player.env, Hook.ON_MESSAGE, (player_id, "room.event", message))

        tenant.enqueue_command(player_id, run)

    # -- effects of events --------------------------------------------------------------------

    def _after(self, hosted: HostedRoom, step: Step) -> None:
        """An event ran: charge it, and have its patch and outputs sent at the next flush."""
        self._charge(hosted, step)
        self._arm(hosted)
        room = hosted.room
        if room.tracker.ops or room.outputs:
            if hosted.due_flush is None:
                hosted.due_flush = self.clock() + hosted.patch_s
                self._dirty.add(hosted.id)
                if hosted.due_flush < self._wake_at:
                    self._wakeup.set()

    def _charge(self, hosted: HostedRoom, step: Step) -> None:
        if step.steps:
            hosted.tenant.budgets.charge_fuel(hosted.budget_id, step.steps * FUEL_PER_STEP)

    def _arm(self, hosted: HostedRoom) -> None:
        due = hosted.room.next_due_ms()
        if due is not None:
            self._timer_seq += 1
            heapq.heappush(self._timers, (due / 1000, self._timer_seq, hosted.id))
            if due / 1000 < self._wake_at:
                self._wakeup.set()

    def _run_timers(self, hosted: HostedRoom, now: float) -> None:
        due = hosted.room.next_due_ms()
        if due is None or due > now * 1000:
            return
        if hosted.tenant.budgets.fuel_wait_ms(hosted.budget_id) > 0:
            return  # over its fuel budget: its timers wait, like callouts
        for step in hosted.room.advance_to(now * 1000):
            if step.error is not None:
                log.warning("room %s: timer event failed: %s", hosted.id, step.error[1])
            self._after(hosted, step)

    def _flush(self, hosted: HostedRoom) -> None:
        """Send the room's batched patch, then what it said, to its connected clients."""
        hosted.due_flush = None
        self._dirty.discard(hosted.id)
        room = hosted.room
        ops = room.take_patch()
        outputs = room.take_outputs()
        if room.reset_view:
            room.reset_view = False
            view = room.view()
            view["blueprint"] = hosted.blueprint
            for seat, client in hosted.clients.items():
                if client is not None:
                    client.send(
                        "room.joined",
                        {
                            **view,
                            "seat": seat,
                            "token": room.seats[seat].token if seat in room.seats else "",
                            "seq": hosted.seq,
                        },
                    )
            ops = []
        if ops:
            hosted.seq += 1
            patch = {"room": hosted.id, "seq": hosted.seq, "ops": ops}
            frames: dict[str, Any] = {}  # wire format -> the patch encoded once for it
            for client in hosted.clients.values():
                if client is not None:
                    client.send_shared("room.patch", patch, frames)
                    self.patches_sent += 1
        for output in outputs:
            if output[0] == "text":
                _, target, text = output
                msg = {"room": hosted.id, "text": text}
                name = "room.text"
            else:
                _, target, kind, payload = output
                msg = {"room": hosted.id, "name": kind, "payload": payload}
                name = "room.message"
            if target is None:  # to everyone: encoded once per wire format, as patches are
                frames = {}
                for client in hosted.clients.values():
                    if client is not None:
                        client.send_shared(name, msg, frames)
            else:
                client = hosted.clients.get(target)
                if client is not None:
                    client.send(name, msg)

    def _remove(self, hosted: HostedRoom, seat: str, reason: str) -> None:
        client = hosted.clients.pop(seat, None)
        if client is not None:
            client.rooms.discard(hosted.id)
            client.send("room.left", {"room": hosted.id, "reason": reason})
        self._after(hosted, hosted.room.leave(seat))
        if not hosted.clients:
            hosted.empty_since = self.clock()

    def _migrate(self, hosted: HostedRoom) -> None:
        """A room that follows its blueprint moves to a new version (hot reload): the
        new machine takes the old one's snapshot, state and config where it can."""
        if not hosted.follows:
            return
        bp = hosted.tenant.blueprints.get(hosted.blueprint)
        if bp is None or bp.version is None or bp.version == hosted.version:
            return
        bundle = self.runtime.bundle(bp.version)
        if bundle is None:
            return
        self._flush(hosted)
        old = hosted.version
        room = Room.load(bundle, hosted.room.dump())
        room.id = hosted.id
        room.reset_view = True
        hosted.room = room
        hosted.tenant.blueprints.pin(bundle.version)
        hosted.tenant.blueprints.unpin(old)
        self._arm(hosted)
        self._after(hosted, Step())
        if hosted.due_flush is None:
            hosted.due_flush = self.clock()
            self._dirty.add(hosted.id)

    def close(self, hosted: HostedRoom, reason: str = "closed") -> None:
        for seat in list(hosted.clients):
            client = hosted.clients.pop(seat)
            if client is not None:
                client.rooms.discard(hosted.id)
                client.send("room.left", {"room": hosted.id, "reason": reason})
        self.rooms.pop(hosted.id, None)
        self._dirty.discard(hosted.id)
        hosted.tenant.blueprints.unpin(hosted.version)
        hosted.tenant.budgets.forget(hosted.budget_id)

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Send due patches, fire due timers, end lapsed seats and empty rooms; forever."""
        last_sweep = self.clock()
        while True:
            now = self.clock()
            timers = self._timers
            while timers and timers[0][0] <= now:
                _, _, room_id = heapq.heappop(timers)
                hosted = self.rooms.get(room_id)
                if hosted is not None:
                    self._migrate(hosted)
                    self._run_timers(hosted, now)
            for room_id in list(self._dirty):
                hosted = self.rooms.get(room_id)
                if hosted is None:
                    self._dirty.discard(room_id)
                elif hosted.due_flush is not None and hosted.due_flush <= now:
                    self._flush(hosted)
            if now - last_sweep >= 1.0:
                last_sweep = now
                self._sweep(now)
            # Sleep until the next patch or timer is due, or something new is.
            wake = now + 1.0
            if self._timers:
                wake = min(wake, self._timers[0][0])
            for room_id in self._dirty:
                hosted = self.rooms.get(room_id)
                if hosted is not None and hosted.due_flush is not None:
                    wake = min(wake, hosted.due_flush)
            self._wakeup = trio.Event()
            self._wake_at = max(wake, now + self.limits.tick / 10)
            with trio.move_on_at(self._wake_at):
                await self._wakeup.wait()
            self._wake_at = 0.0

    def _sweep(self, now: float) -> None:
        for hosted in list(self.rooms.values()):
            for seat, client in list(hosted.clients.items()):
                info = hosted.room.seats.get(seat)
                if (
                    client is None
                    and info is not None
                    and info.dropped_at is not None
                    and now * 1000 - info.dropped_at >= hosted.grace_s * 1000
                ):
                    self._remove(hosted, seat, "reconnect time ran out")
            if (
                hosted.empty_since is not None
                and now - hosted.empty_since >= self.limits.empty_room_seconds
            ):
                self.close(hosted, "empty")


__all__ = ["Client", "HostedRoom", "RoomHost", "RoomHostLimits", "RoomRefused"]

"""The declarative runtime: bundles (statecharts + effects) behind the same protocol as wasm.

A bundle is a blueprint like any other: the tenant admits it (:meth:`admit` compiles and
checks it, see :mod:`driver.dsl.bundle`), runs its hooks through :meth:`invoke`, applies
the :class:`~sandbox.protocol.Outcome` all or nothing, persists it and hot-reloads it.
So a declarative room is a room of the telnet world:

* ``on-load`` starts the machine; the whole room (machine snapshot, replicated state,
  seats, context) lives in the object's state under one key, ``room`` (CBOR), so it
  survives restarts and reloads with no code of its own. ``short``, ``long``, ``exits``,
  ``details``, ``area`` and ``verbs`` are kept up to date from the bundle's ``mud``
  section, so the driver's ``look`` shows the room's state without calling us;
* ``on-enter``/``on-leave`` seat and unseat players (the bundle's lifecycle events);
* ``on-command`` maps the bundle's command table to machine events (the words become
  the payload's fields); ``on-message`` of kind ``room.event`` takes client events sent
  from a browser (GMCP ``Realm.Room.Send``, see :mod:`driver.rooms`);
* ``after`` timers become one pending ``ScheduleCallout`` for the earliest deadline;
  ``on-callout`` (and any hook) first fires the timers that are due;
* texts become ``Say``/``Tell``; broadcasts and replicated-state patches go to the
  players in the room as GMCP (``Realm.Room.Message``, ``Realm.Room.Patch``, the full
  ``Realm.Room.State`` on entering or after a reload), so they reach browsers and GMCP
  telnet clients alike, and only once the change behind them is durable (the tenant's
  output commit), like any text.

Steps are bounded per event (:class:`~driver.dsl.room.RoomLimits`) and charged as fuel
(``FUEL_PER_STEP`` each), so a busy room spends its tenant's fuel budget like guest code.

Speed: decoding the room from CBOR on every hook would cost more than running it, so the
live :class:`~driver.dsl.room.Room` of each object is kept between calls and reused as
long as the object's state still holds the exact bytes this runtime produced last; an
outcome the tenant refused (or any other change) shows up as different bytes, and the
room is then rebuilt from the state — the state stays the single source of truth.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cbor2
import trio

from driver.dsl.bundle import BundleError, CompiledBundle, compile_bundle
from driver.dsl.room import Room, RoomError, RoomLimits, Step
from driver.dsl.statechart import StatechartError
from driver.world import ids
from sandbox.protocol import (
    AdmissionError,
    CancelCallout,
    Effect,
    ErrorKind,
    Gmcp,
    GuestError,
    Hook,
    HostLimit,
    HostWorld,
    Limits,
    Outcome,
    Say,
    ScheduleCallout,
    Tell,
)

ROOM_KEY = "room"
TIMER_METHOD = "room.timer"
#: Fuel charged per step (an event, an action, an effect): about what 10 µs of guest
#: code costs, so a room is budgeted on the same scale as a component.
FUEL_PER_STEP = 10_000
GMCP_STATE = "Realm.Room.State"
GMCP_PATCH = "Realm.Room.Patch"
GMCP_MESSAGE = "Realm.Room.Message"
GMCP_ERROR = "Realm.Room.Error"
GMCP_LEFT = "Realm.Room.Left"


@dataclass(slots=True)
class _Live:
    room: Room
    data: bytes | None  # the state bytes this room corresponds to
    callout: tuple[int, float] | None  # (handle, due wall ms) of the pending timer callout
    described: dict[str, Any] = field(default_factory=dict)
    used: float = 0.0


class DeclarativeRuntime:
    """A :class:`~driver.runtimes.Runtime` for declarative bundles (see module docstring)."""

    def __init__(self, limits: RoomLimits | None = None) -> None:
        self.limits = limits or RoomLimits()
        self.bundles: dict[str, CompiledBundle] = {}
        self._refs: Counter[str] = Counter()
        self._live: dict[tuple[str, str], _Live] = {}

    # -- admission ------------------------------------------------------------------------

    async def admit(self, code: bytes) -> str:
        bundle = await trio.to_thread.run_sync(self.compile, code)
        return bundle.version

    def compile(self, code: bytes) -> CompiledBundle:
        """Check and compile ``code`` (or return the compiled bundle of that version);
        raises AdmissionError listing every problem with its JSON path."""
        try:
            bundle = compile_bundle(code)
        except BundleError as exc:
            raise AdmissionError(f"declarative bundle refused: {exc}") from None
        known = self.bundles.setdefault(bundle.version, bundle)
        self._refs[bundle.version] += 1
        return known

    def bundle(self, version: str) -> CompiledBundle | None:
        return self.bundles.get(version)

    def hold(self, version: str) -> None:
        """One more user of an admitted version (the live room host)."""
        if version in self.bundles:
            self._refs[version] += 1

    def release(self, version: str) -> None:
        self._refs[version] -= 1
        if self._refs[version] <= 0:
            del self._refs[version]
            self.bundles.pop(version, None)
            for key in [k for k, live in self._live.items() if live.room.bundle.version == version]:
                del self._live[key]

    def sweep(self, idle_seconds: float = 60.0) -> None:
        cutoff = time.monotonic() - idle_seconds
        for key in [k for k, live in self._live.items() if live.used < cutoff]:
            del self._live[key]

    # -- hooks ------------------------------------------------------------------------------

    async def invoke(
        self,
        version: str,
        self_id: str,
        hook: Hook,
        args: Sequence[Any],
        state: Mapping[str, bytes],
        limits: Limits,
        world: HostWorld,
        *,
        tenant: str,
    ) -> Outcome:
        started = time.perf_counter()
        outcome = self.run(version, self_id, hook, args, state, world, tenant=tenant)
        outcome.wall_ms = (time.perf_counter() - started) * 1000
        return outcome

    def run(
        self,
        version: str,
        self_id: str,
        hook: Hook,
        args: Sequence[Any],
        state: Mapping[str, bytes],
        world: HostWorld,
        *,
        tenant: str,
    ) -> Outcome:
        """:meth:`invoke`, synchronously (it never waits for anything)."""
        bundle = self.bundles.get(version)
        if bundle is None:
            return Outcome(GuestError(ErrorKind.INSTANTIATE, f"version {version[:12]} is not admitted"))
        key = (tenant, self_id)
        call = _Call(self, bundle, self_id, world)
        try:
            live = self._room(key, bundle, self_id, state.get(ROOM_KEY), world)
            call.live = live
            call.run(hook, args, state)
        except (RoomError, StatechartError, ValueError, cbor2.CBORError) as exc:
            self._live.pop(key, None)
            return Outcome(GuestError(ErrorKind.TRAP, f"{self_id}: {exc}"), fuel_used=call.fuel, logs=call.logs)
        except HostLimit as exc:
            self._live.pop(key, None)
            return Outcome(GuestError(ErrorKind.HOST_LIMIT, str(exc)), fuel_used=call.fuel, logs=call.logs)
        if call.failed is not None:
            # The event failed: the author's bug, reported like a trap; nothing applies.
            self._live.pop(key, None)
            code, message = call.failed
            kind = ErrorKind.HOST_LIMIT if code in ("limit", "too-many-steps") else ErrorKind.TRAP
            return Outcome(GuestError(kind, message), fuel_used=call.fuel, logs=call.logs)
        live.used = time.monotonic()
        return Outcome(None, result=call.result, effects=call.effects, state_changes=call.changes,
                       fuel_used=call.fuel, logs=call.logs)

    def _room(self, key: tuple[str, str], bundle: CompiledBundle, self_id: str, raw: bytes | None,
              world: HostWorld) -> _Live:
        live = self._live.get(key)
        if live is not None and live.data is not None and raw is not None and live.room.bundle is bundle \
                and (live.data is raw or live.data == raw):
            return live
        if raw is None:
            room = Room(bundle, self_id, now_ms=float(world.now_ms()), limits=self.limits)
            live = _Live(room, None, None)
            live.room.reset_view = True
            return self._fresh(key, live)
        saved = cbor2.loads(raw)
        if not isinstance(saved, dict) or not isinstance(saved.get("room"), dict):
            raise RoomError("bad-state", "the room's saved state is not a room")
        room = Room.load(bundle, saved["room"], limits=self.limits)
        room.id = self_id
        callout = saved.get("callout")
        pending = (int(callout[0]), float(callout[1])) if isinstance(callout, list) and len(callout) == 2 else None
        live = _Live(room, raw, pending)
        self._live[key] = live
        return live

    def _fresh(self, key: tuple[str, str], live: _Live) -> _Live:
        self._live[key] = live
        return live


class _Call:
    """One hook call: runs the room and turns what it did into an Outcome's parts."""

    def __init__(self, runtime: DeclarativeRuntime, bundle: CompiledBundle, self_id: str, world: HostWorld) -> None:
        self.runtime = runtime
        self.bundle = bundle
        self.self_id = self_id
        self.world = world
        self.live: _Live | None = None
        self.effects: list[Effect] = []
        self.changes: dict[str, bytes | None] = {}
        self.logs: list[tuple[str, str]] = []
        self.steps = 0
        self.changed = False
        self.result: Any = None
        self.failed: tuple[str, str] | None = None
        self.now = float(world.now_ms())
        self.newcomer: str | None = None  # gets the whole state, so no patch

    @property
    def fuel(self) -> int:
        return self.steps * FUEL_PER_STEP

    def step(self, step: Step, client: str | None = None, *, main: bool = True) -> Step:
        self.steps += step.steps
        if step.steps:
            self.changed = True
        if step.error is not None:
            code, message = step.error
            if code in ("error", "limit", "too-many-steps"):
                if main:
                    self.failed = (code, message)
                else:
                    self.logs.append(("error", f"{self.self_id}: {message}"))
            elif client is not None:
                self.refuse(client, code, message)
        return step

    def refuse(self, client: str, code: str, message: str) -> None:
        if ids.is_player(client):
            self.effects.append(Tell(client, message))
            self.effects.append(Gmcp(client, GMCP_ERROR, {"room": self.self_id, "code": code, "message": message}))

    def run(self, hook: Hook, args: Sequence[Any], state: Mapping[str, bytes]) -> None:
        live = self.live
        assert live is not None
        room = live.room
        if live.data is None:  # a new room: start the machine
            self.step(room.start())
            if self.failed:
                return
        for step in room.advance_to(self.now):
            self.step(step, main=False)
        if hook is Hook.ON_ENTER:
            who = str(args[0])
            if ids.is_player(who):
                self.enter(who)
        elif hook is Hook.ON_LEAVE:
            who = str(args[0])
            if ids.is_player(who):
                self.step(room.leave(who), main=False)
                self.effects.append(Gmcp(who, GMCP_LEFT, {"room": self.self_id}))
        elif hook is Hook.ON_COMMAND:
            actor, verb, words = str(args[0]), str(args[1]), str(args[2])
            outcome = room.command(actor, verb, words)
            if outcome is None:
                self.result = False
            else:
                self.result = True
                self.step(outcome, actor)
                if outcome.ok and not outcome.handled:
                    self.effects.append(Tell(actor, f"There is nothing to {verb} right now."))
        elif hook is Hook.ON_MESSAGE:
            sender, kind, payload = str(args[0]), str(args[1]), args[2]
            if kind == "room.event":
                self.client_event(sender, payload)
        elif hook is Hook.ON_CALLOUT and args and args[0] == TIMER_METHOD:
            if live.callout is not None:
                try:
                    handle = cbor2.loads(args[1])
                except cbor2.CBORError:
                    handle = None
                if handle == live.callout[0]:
                    live.callout = None
                    self.changed = True
        if self.failed:
            return
        self.finish(hook, state)

    def enter(self, who: str) -> None:
        room = self.live.room  # type: ignore[union-attr]
        raw = self.world.query(self.self_id, who, "name")
        try:
            name = cbor2.loads(raw) if raw is not None else None
        except cbor2.CBORError:
            name = None
        if not isinstance(name, str) or not name:
            name = who.rsplit("/", 1)[-1].capitalize()
        steps_before = self.steps
        refusal = room.join(who, name)
        self.steps += 1
        self.changed = True
        if refusal is not None and refusal.startswith("error: "):
            self.logs.append(("error", f"{self.self_id}: {name} could not join: {refusal[7:]}"))
        elif refusal is not None:
            self.effects.append(Tell(who, f"{self.bundle.name} is {refusal}: you can watch, but not play."))
        del steps_before
        self.newcomer = who

    def client_event(self, sender: str, payload: Any) -> None:
        room = self.live.room  # type: ignore[union-attr]
        try:
            message = cbor2.loads(payload) if isinstance(payload, bytes | bytearray) else payload
        except cbor2.CBORError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.refuse(sender, "bad-message", "a room event is {type, payload}")
            return
        step = room.dispatch(sender, message["type"], message.get("payload"))
        self.step(step, sender)

    def finish(self, hook: Hook, state: Mapping[str, bytes]) -> None:
        live = self.live
        assert live is not None
        room = live.room
        players = [p for p in self.world.contents(self.self_id) if ids.is_player(p)]
        for output in room.take_outputs():
            if output[0] == "text":
                _, target, text = output
                self.effects.append(Say(text) if target is None else Tell(target, text))
            else:
                _, target, name, payload = output
                data = {"room": self.self_id, "name": name, "payload": payload}
                for p in players if target is None else [target]:
                    self.effects.append(Gmcp(p, GMCP_MESSAGE, data))
        ops = room.take_patch()
        if room.reset_view or hook is Hook.ON_RELOAD:
            room.reset_view = False
            view = room.view()
            view["blueprint"] = self.self_id.split("#", 1)[0]
            for p in players:
                self.effects.append(Gmcp(p, GMCP_STATE, view))
        else:
            if ops:
                patch = {"room": self.self_id, "ops": ops}
                for p in players:
                    if p != self.newcomer:
                        self.effects.append(Gmcp(p, GMCP_PATCH, patch))
            if self.newcomer is not None:
                view = room.view()
                view["blueprint"] = self.self_id.split("#", 1)[0]
                self.effects.append(Gmcp(self.newcomer, GMCP_STATE, view))
        self.schedule(live)
        if not (self.changed or live.data is None or hook in (Hook.ON_LOAD, Hook.ON_RELOAD)):
            return
        self.describe(live, state, full=live.data is None or hook in (Hook.ON_LOAD, Hook.ON_RELOAD))
        encoded = cbor2.dumps({"room": room.dump(), "callout": list(live.callout) if live.callout else None})
        self.changes[ROOM_KEY] = encoded
        live.data = encoded

    def schedule(self, live: _Live) -> None:
        """One callout, for the earliest timer of the machine."""
        due = live.room.next_due_ms()
        pending = live.callout
        if pending is not None and (due is None or pending[1] != due):
            self.effects.append(CancelCallout(pending[0]))
            live.callout = None
            self.changed = True
        if due is not None and live.callout is None:
            handle = self.world.next_callout_handle()
            delay = max(0, math.ceil(due - self.now))
            self.effects.append(ScheduleCallout(handle, TIMER_METHOD, delay, cbor2.dumps(handle)))
            live.callout = (handle, due)
            self.changed = True

    def describe(self, live: _Live, state: Mapping[str, bytes], *, full: bool) -> None:
        """The conventional keys the driver reads (look, exits, GMCP Room.Info)."""
        bundle = self.bundle
        values: dict[str, Any] = dict(live.room.describe())
        if full:
            mud = bundle.mud
            values["exits"] = dict(mud.get("exits", {}))
            values["details"] = dict(mud.get("details", {}))
            if "area" in mud:
                values["area"] = mud["area"]
            values["verbs"] = sorted(bundle.commands)
            values["gettable"] = False
        for key, value in values.items():
            if not full and live.described.get(key) == value:
                continue
            live.described[key] = value
            encoded = cbor2.dumps(value)
            if state.get(key) != encoded:
                self.changes[key] = encoded

"""One declarative room, sans I/O: its machine, replicated state, seats and outputs.

A :class:`Room` is what both hosts run: the MUD (:mod:`driver.runtimes.declarative`, a
room object in a tenant's world, its snapshot kept in the object's state) and the live
room host for WebSocket clients (:mod:`driver.rooms`). Neither the clock nor the network
is in here: the host says what time it is (:meth:`Room.advance_to`), hands in what
clients did (:meth:`join`, :meth:`dispatch`, :meth:`command`...), and takes out what the
room said (:meth:`take_outputs`) and how its state changed (:meth:`take_patch`).

Every client action and every due timer is one *event* and a transaction: the machine
rolls its configuration back when a macrostep fails (:mod:`driver.dsl.statechart`), and
the room rolls back its state writes (:class:`~driver.dsl.state.Tracker`), seats, lock
and outputs, so an event that errors — a bad value, a missing key, a runaway machine, too
many steps — changes nothing and says nothing but its error. Steps (events, actions,
effects) are counted, capped per event, and reported so the host can charge them to the
tenant's budget.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from driver.dsl import jsonlogic
from driver.dsl.bundle import DEFAULT_MAX_CLIENTS, CompiledBundle
from driver.dsl.effects import EffectError
from driver.dsl.state import StateSchema, Tracker
from driver.dsl.statechart import Limits, Machine, StatechartError

__all__ = ["DUMP_FORMAT", "Room", "RoomError", "RoomLimits", "Seat", "Step"]

DUMP_FORMAT = "jitrealm.room/1"


class RoomError(Exception):
    """An event of the room failed; ``code`` says how (the event applied nothing)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class _TooManySteps(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RoomLimits:
    """Caps on one event's work. The machine's own caps bound its microsteps and queues."""

    max_steps: int = 5_000  # actions and effects run by one event
    machine: Limits = field(
        default_factory=lambda: Limits(
            max_microsteps=200,
            max_chained_macrosteps=100,
            max_timers=100,
            max_internal_queue=200,
            max_external_queue=200,
        )
    )


@dataclass(slots=True)
class Seat:
    client: str
    name: str
    token: str = ""
    connected: bool = True
    dropped_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "name": self.name,
            "token": self.token,
            "connected": self.connected,
            "dropped_at": self.dropped_at,
        }


@dataclass(slots=True)
class Step:
    """What one call into the room did: ``error`` (code, message) when its event failed."""

    steps: int = 0
    error: tuple[str, str] | None = None
    handled: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


# ("text", target or None for everyone, text) | ("message", target or None, name, payload)
Output = tuple[Any, ...]


class Room:
    """See module docstring."""

    def __init__(
        self,
        bundle: CompiledBundle,
        room_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        now_ms: float = 0.0,
        limits: RoomLimits | None = None,
        _restore: Mapping[str, Any] | None = None,
    ) -> None:
        self.bundle = bundle
        self._handlers = bundle.handlers
        self.id = room_id
        self.limits = limits or RoomLimits()
        self.schema: StateSchema = bundle.schema
        self.tracker = Tracker()
        self.outputs: list[Output] = []
        self.seats: dict[str, Seat] = {}
        self.steps = 0
        self._step_cap = 0
        self.reset_view = False  # the state was replaced (reload): clients need it whole
        if _restore is None:
            merged = {**bundle.config, **(config or {})}
            self.state: dict[str, Any] = self.schema.new()
            context = copy.deepcopy(bundle.context)
            context["config"] = merged
            self.locked = False
            self.max_clients = int(merged.get("maxClients", DEFAULT_MAX_CLIENTS))
            self.epoch = now_ms
        else:
            self.state = self.schema.migrate(_restore.get("state"))
            old_context = _restore.get("context")
            context = {
                **copy.deepcopy(bundle.context),
                **(old_context if isinstance(old_context, dict) else {}),
            }
            old_config = context.get("config")
            context["config"] = {
                **bundle.config,
                **(old_config if isinstance(old_config, dict) else {}),
            }
            self.locked = bool(_restore.get("locked", False))
            self.max_clients = int(_restore.get("maxClients", DEFAULT_MAX_CLIENTS))
            self.epoch = float(_restore.get("at", now_ms))
            for raw in _restore.get("seats", []):
                seat = Seat(
                    str(raw["client"]),
                    str(raw["name"]),
                    str(raw.get("token", "")),
                    bool(raw.get("connected", True)),
                    raw.get("dropped_at"),
                )
                self.seats[seat.client] = seat
            self.reset_view = _restore.get("version") != bundle.version
        self.machine = Machine(
            bundle.chart, action_handler=self._act, context=context,
            limits=self.limits.machine, host_state=self.state,
        )  # fmt: skip
        if _restore is not None and isinstance(_restore.get("machine"), Mapping):
            self.machine.restore(_restore["machine"])

    # -- construction --------------------------------------------------------------------

    @classmethod
    def load(
        cls, bundle: CompiledBundle, dump: Mapping[str, Any], *, limits: RoomLimits | None = None
    ) -> Room:
        """A room from :meth:`dump`, possibly of another version of its bundle (hot
        reload): state fields and context keys the new bundle still has are kept, the
        machine's configuration is restored as far as the new machine still has it."""
        if dump.get("format") != DUMP_FORMAT:
            raise RoomError("bad-dump", f"not a room dump ({DUMP_FORMAT})")
        return cls(bundle, str(dump.get("id", "")), limits=limits, _restore=dump)

    def start(self) -> Step:
        """Start the machine (its initial entry actions run, as one event)."""
        return self._event(self.machine.start)

    def dump(self) -> dict[str, Any]:
        """Plain data (CBOR/JSON-able) that :meth:`load` takes back."""
        return {
            "format": DUMP_FORMAT,
            "id": self.id,
            "version": self.bundle.version,
            "at": self.epoch + self.machine.now,
            "machine": self.machine.snapshot(),
            "context": self.machine.context,
            "state": self.state,
            "seats": [seat.to_json() for seat in self.seats.values()],
            "locked": self.locked,
            "maxClients": self.max_clients,
        }

    # -- what hosts read ------------------------------------------------------------------

    @property
    def context(self) -> Any:
        return self.machine.context

    @property
    def config(self) -> dict[str, Any]:
        config = (
            self.machine.context.get("config") if isinstance(self.machine.context, dict) else None
        )
        return config if isinstance(config, dict) else {}

    @property
    def phase(self) -> str:
        return ",".join(sorted(self.machine.configuration))

    def view(self) -> dict[str, Any]:
        """Everything a client needs to draw the room (the full snapshot on join)."""
        return {
            "room": self.id,
            "blueprint": self.bundle.metadata.get("blueprint"),
            "version": self.bundle.version,
            "view": self.bundle.metadata.get("view"),
            "name": self.bundle.name,
            "state": self.state,
            "seats": {c: {"name": s.name, "connected": s.connected} for c, s in self.seats.items()},
            "locked": self.locked,
            "maxClients": self.max_clients,
            "events": sorted(self.bundle.events),
        }

    def seated(self) -> int:
        return len(self.seats)

    def next_due_ms(self) -> float | None:
        """When the machine's next timer is due, on the host's clock."""
        deadline = self.machine.next_deadline()
        return None if deadline is None else self.epoch + deadline

    def take_patch(self) -> list[dict[str, Any]]:
        return self.tracker.take()

    def take_outputs(self) -> list[Output]:
        out, self.outputs = self.outputs, []
        return out

    def describe(self) -> dict[str, Any]:
        """The MUD's view (``short``, ``long``...), from the bundle's ``mud`` rules."""
        mud = self.bundle.mud
        data = {"state": self.state, "context": self.machine.context}
        out: dict[str, Any] = {}
        for key in ("short", "long"):
            rule: Callable[[Any], Any] | None = mud.get(key)
            if rule is None:
                continue
            try:
                value = rule(data)
            except jsonlogic.JsonLogicError:
                continue  # a description that fails to evaluate keeps its last text
            out[key] = (
                value if isinstance(value, str) else jsonlogic.evaluate({"cat": [value]}, None)
            )
        return out

    # -- what clients do -----------------------------------------------------------------

    def join(self, client: str, name: str, token: str = "") -> str | None:
        """Seat ``client``; None, or why not (``locked``, ``full``). A client already
        seated is seated still (a second join is a reconnect)."""
        seat = self.seats.get(client)
        if seat is not None:
            if not seat.connected:
                self.rejoin(client)
            return None
        if self.locked:
            return "locked"
        if len(self.seats) >= self.max_clients:
            return "full"
        self.seats[client] = Seat(client, name, token)
        event = self.bundle.lifecycle_event("join")
        if event is not None:
            step = self._send({"type": event, "client": client, "name": name})
            if not step.ok:
                del self.seats[client]
                assert step.error is not None
                return f"error: {step.error[1]}"
        return None

    def leave(self, client: str) -> Step:
        if self.seats.pop(client, None) is None:
            return Step(handled=False)
        event = self.bundle.lifecycle_event("leave")
        return self._send({"type": event, "client": client}) if event else Step()

    def drop(self, client: str, now_ms: float) -> Step:
        """The client's connection is gone; its seat waits for a reconnect."""
        seat = self.seats.get(client)
        if seat is None or not seat.connected:
            return Step(handled=False)
        seat.connected = False
        seat.dropped_at = now_ms
        event = self.bundle.lifecycle_event("disconnect")
        return self._send({"type": event, "client": client}) if event else Step()

    def rejoin(self, client: str) -> Step:
        seat = self.seats.get(client)
        if seat is None or seat.connected:
            return Step(handled=False)
        seat.connected = True
        seat.dropped_at = None
        event = self.bundle.lifecycle_event("reconnect")
        return self._send({"type": event, "client": client}) if event else Step()

    def dispatch(self, client: str, name: str, payload: Any) -> Step:
        """A client's message: checked against its event schema, then sent to the
        machine. A bad message is refused (code ``bad-event``) and changes nothing."""
        spec = self.bundle.events.get(name)
        if spec is None:
            return Step(
                error=("unknown-event", f"this room takes no event {name!r}"), handled=False
            )
        if client not in self.seats:
            return Step(error=("no-seat", "you have no seat in this room"), handled=False)
        problem = spec.problem(payload)
        if problem is not None:
            return Step(error=("bad-event", f"{name}: {problem}"), handled=False)
        event: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {}
        event["payload"] = payload
        event["client"] = client
        event["type"] = spec.type
        players = self.state.get("players")
        if type(players) is dict:
            # Rules reach the sender's own entry as event.player (a copy, as it was when
            # the event arrived) instead of computing "state.players.<client>" paths.
            mine = players.get(client)
            event["player"] = dict(mine) if type(mine) is dict else None
        return self._send(event)

    def command(self, client: str, verb: str, args: str) -> Step | None:
        """A MUD verb from the bundle's command table (None: not one of ours). The words
        after the verb fill the event's fields in order, typed by the event's schema."""
        command = self.bundle.commands.get(verb)
        if command is None:
            return None
        if command.text is not None:
            try:
                text = command.text(
                    {
                        "state": self.state,
                        "context": self.machine.context,
                        "event": {"client": client},
                    }
                )
            except jsonlogic.JsonLogicError as exc:
                return Step(error=("error", str(exc)))
            self.outputs.append(("text", client, text if isinstance(text, str) else str(text)))
            return Step(steps=1)
        assert command.event is not None
        try:
            words = shlex.split(args)
        except ValueError:
            words = args.split()
        spec = self.bundle.events[command.event]
        props = _properties(self.bundle.doc["events"][command.event].get("schema"))
        payload: dict[str, Any] = {}
        for name, word in zip(command.args, words, strict=False):
            payload[name] = _typed(word, props.get(name))
        if len(words) > len(command.args) and command.args:
            payload[command.args[-1]] = _typed(
                " ".join(words[len(command.args) - 1 :]), props.get(command.args[-1])
            )
        if spec.problem(payload) is not None:
            usage = " ".join(f"<{a}>" for a in command.args)
            return Step(
                error=("usage", command.help or f"Usage: {verb} {usage}".strip()), handled=True
            )
        return self.dispatch(client, command.event, payload)

    def advance_to(self, now_ms: float) -> list[Step]:
        """Fire the timers due by ``now_ms``, each instant as one event, in order."""
        results: list[Step] = []
        machine = self.machine
        target = now_ms - self.epoch
        while True:
            deadline = machine.next_deadline()
            if deadline is None or deadline > target:
                break
            results.append(self._event(machine.advance, max(0.0, deadline - machine.now)))
        if target > machine.now:
            machine.advance(target - machine.now)
        return results

    # -- the transaction -------------------------------------------------------------------

    def _send(self, event: dict[str, Any]) -> Step:
        return self._event(self.machine.send, event)

    def _event(self, run: Callable[..., object], *args: Any) -> Step:
        mark = self.tracker.mark()
        n_outputs = len(self.outputs)
        locked, max_clients = self.locked, self.max_clients
        self.steps = 1
        self._step_cap = self.limits.max_steps
        handled = True
        try:
            result = run(*args)
            if result is False:
                handled = False
        except (
            StatechartError,
            EffectError,
            jsonlogic.JsonLogicError,
            _TooManySteps,
            RecursionError,
        ) as exc:
            self.tracker.rollback(mark)
            del self.outputs[n_outputs:]
            self.locked, self.max_clients = locked, max_clients
            code = "too-many-steps" if isinstance(exc, _TooManySteps) else "error"
            if "more than" in str(exc):
                code = "limit"
            return Step(steps=self.steps, error=(code, str(exc)))
        self.tracker.commit()
        return Step(steps=self.steps, handled=handled)

    def _act(self, raw: Any, event: Mapping[str, Any]) -> None:
        """The machine's action handler: run the effects an action names."""
        effects = self._handlers[raw if isinstance(raw, str) else id(raw)]  # bundle.effects_of
        steps = self.steps = self.steps + len(effects) + 1
        if steps > self._step_cap:
            raise _TooManySteps(f"more than {self._step_cap} steps in one event")
        data = {"state": self.state, "context": self.machine.context, "event": event}
        for effect in effects:
            effect(self, data)

    # -- EffectHost ------------------------------------------------------------------------

    def assign(self, updates: Mapping[str, Any]) -> None:
        if "config" in updates:
            raise EffectError("assign: 'config' is the room's configuration, not to be assigned")
        self.machine.assign(updates)

    def emit_text(self, target: str | None, text: str) -> None:
        if text:
            self.outputs.append(("text", target, text))

    def emit_message(self, target: str | None, name: str, payload: Any) -> None:
        self.outputs.append(("message", target, name, payload))


def _properties(schema: Any) -> dict[str, Any]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else {}


def _typed(word: str, schema: Any) -> Any:
    """A typed word: integers and numbers for fields that want them, else the text."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind in ("integer", "number"):
        try:
            return int(word) if kind == "integer" else float(word)
        except ValueError:
            return word
    if kind == "boolean" and word.lower() in ("yes", "no", "true", "false", "on", "off"):
        return word.lower() in ("yes", "true", "on")
    return word

"""The compiled form of a machine: immutable-after-build records the interpreter walks.

Everything the interpreter needs per event is precomputed here (document order,
descendant ranges, per-atomic-state transition tables, static entry sets), so an event
costs a dict lookup, the guards, and the effects.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import StatechartError

# Node kinds (ints, not an Enum: compared on every microstep).
ATOMIC = 0
COMPOUND = 1
PARALLEL = 2
FINAL = 3
HISTORY = 4

KIND_NAMES = {
    "atomic": ATOMIC,
    "compound": COMPOUND,
    "parallel": PARALLEL,
    "final": FINAL,
    "history": HISTORY,
}

# Action kinds: CUSTOM goes to the host's handler; the others the interpreter runs itself.
CUSTOM = 0
RAISE = 1
SEND = 2
CANCEL = 3

Event = Mapping[str, Any]
GuardFn = Callable[[Mapping[str, Any]], Any]
GuardCompiler = Callable[[Any], GuardFn]
ActionHandler = Callable[[Any, Event], object]


@dataclass(slots=True, eq=False)
class Action:
    """One executable action. `raw` is the JSON exactly as written, for the host."""

    kind: int
    raw: Any
    path: str
    event: Event | None = None
    delay: float | None = None
    send_id: str | None = None


@dataclass(slots=True, eq=False)
class TimerSpec:
    """An `after` entry of a state: armed on entry, cancelled on exit."""

    delay: float
    event_type: str
    event: Event  # {"type": event_type}, built once


@dataclass(slots=True, eq=False)
class Node:
    """A state. `index` is its document order; descendants occupy (index, last]."""

    index: int
    key: str
    id: str
    kind: int
    path: str
    parent: Node | None
    depth: int
    atomic: bool  # atomic or final: what a configuration lists
    last: int = 0
    children: tuple[Node, ...] = ()  # not history nodes, in document order
    history_nodes: tuple[Node, ...] = ()
    ancestors: tuple[Node, ...] = ()  # proper ancestors, parent first
    initial: Node | None = None
    initial_actions: tuple[Action, ...] = ()
    deep: bool = False
    history_default: tuple[Node, ...] = ()
    entry: tuple[Action, ...] = ()
    exit: tuple[Action, ...] = ()
    on: dict[str, tuple[Transition, ...]] = field(default_factory=dict)
    wild: tuple[tuple[str, tuple[Transition, ...]], ...] = ()  # longest descriptor first
    always: tuple[Transition, ...] = ()
    timers: tuple[TimerSpec, ...] = ()
    done_event: str = ""
    # Atomic states only: the candidates along self + ancestors, flattened in order.
    table: dict[str, tuple[Transition, ...]] = field(default_factory=dict)
    always_flat: tuple[Transition, ...] = ()

    def contains(self, other: Node) -> bool:
        """True when `other` is a proper descendant."""
        return self.index < other.index <= self.last

    def __repr__(self) -> str:
        return f"<state {self.id}>"


@dataclass(slots=True, eq=False)
class Transition:
    source: Node
    event: str | None
    targets: tuple[Node, ...] | None  # None: targetless
    guard: GuardFn | None
    in_state: Node | None
    actions: tuple[Action, ...]
    reenter: bool
    path: str
    # Precomputed when no history state is involved, else None (computed per microstep).
    domain: Node | None = None
    enter: tuple[Node, ...] | None = None
    enter_set: frozenset[Node] = frozenset()  # the same states as `enter`
    default_entry: frozenset[Node] = frozenset()

    def __repr__(self) -> str:
        return f"<transition {self.path}>"


@dataclass(slots=True, eq=False)
class Chart:
    """A compiled machine definition, shareable between machines."""

    root: Node
    nodes: tuple[Node, ...]
    by_id: dict[str, Node]
    known_events: frozenset[str]
    has_wild: bool
    has_always: bool
    start_enter: tuple[Node, ...] | None
    start_default: frozenset[Node]
    context: dict[str, Any] | None  # the definition's own `context`, used when none is given


_LIMIT_NAMES = (
    "max_microsteps",
    "max_internal_queue",
    "max_external_queue",
    "max_timers",
    "max_chained_macrosteps",
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard caps. Exceeding one raises (LoopError or QueueOverflowError), never logs."""

    max_microsteps: int = 1000  # per macrostep
    max_internal_queue: int = 1000  # raised events waiting in one macrostep
    max_external_queue: int = 1000  # events sent to itself, waiting for their macrostep
    max_timers: int = 1000  # pending `after` timers and delayed sends
    max_chained_macrosteps: int = 1000  # per send()/start(), or per instant in advance()

    def __post_init__(self) -> None:
        for name in _LIMIT_NAMES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StatechartError(f"Limits.{name} must be a positive integer, not {value!r}")

    @classmethod
    def of(cls, limits: Limits | Mapping[str, int] | None) -> Limits:
        if limits is None:
            return cls()
        if isinstance(limits, Limits):
            return limits
        unknown = set(limits) - set(_LIMIT_NAMES)
        if unknown:
            raise StatechartError(f"unknown limits: {sorted(unknown)}")
        return cls(**dict(limits))


def truthy(value: object) -> bool:
    """JSONLogic truthiness: JS rules, except that an empty array is falsy."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    if isinstance(value, float):
        return not (value == 0.0 or value != value)
    if isinstance(value, int | str | list | tuple):
        return bool(value)
    # Objects (dicts included) are truthy in JS even when empty.
    return True


def as_event(event: object) -> Event:
    """A name or a mapping with a `type` -> the event mapping (not copied)."""
    if type(event) is dict:  # the usual case, without the Mapping ABC's isinstance
        name = event.get("type")
        if type(name) is str and name and name != "*":
            return event
    if isinstance(event, str):
        etype: object = event
        ev: Event = {"type": event}
    elif isinstance(event, Mapping):
        etype = event.get("type")
        ev = event
    else:
        raise StatechartError(f"an event is a name or a mapping with a 'type', not {event!r}")
    if not isinstance(etype, str) or not etype:
        raise StatechartError(f"an event needs a non-empty string 'type', not {etype!r}")
    if etype == "*":
        raise StatechartError("an event cannot have the wildcard type '*'")
    return ev


by_index = operator.attrgetter("index")  # document order, as a C-level sort key

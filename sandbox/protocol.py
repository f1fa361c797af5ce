"""The sandbox's public vocabulary: what a caller passes in and gets back.

Everything here is plain, picklable data so that the same API can later be
served from a worker process: an invocation goes in as (version, self id, hook,
args, state, limits) and comes back as an :class:`Outcome`. The only live
object crossing the boundary is the :class:`HostWorld` the caller provides for
the synchronous questions a hook may ask while it runs (where is X, what does
Y contain, may I move Z).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol


class Hook(enum.StrEnum):
    """The hooks a blueprint exports, in WIT order."""

    ON_LOAD = "on-load"
    ON_RELOAD = "on-reload"
    ON_ENTER = "on-enter"
    ON_LEAVE = "on-leave"
    HEARTBEAT = "heartbeat"
    RESET = "reset"
    ON_COMMAND = "on-command"
    ON_CALLOUT = "on-callout"
    ON_MESSAGE = "on-message"


class Param(enum.Enum):
    """The WIT type of a hook parameter; the value is its WIT spelling."""

    STRING = "string"
    OPTION_STRING = "option<string>"
    BYTES = "list<u8>"


@dataclass(frozen=True, slots=True)
class HookSpec:
    """One hook's signature: the single table that admission (type checks),
    the calling conventions (marshalling) and the tools (argument parsing)
    all read."""

    hook: Hook
    params: tuple[tuple[str, Param], ...]  # (WIT name, type), self-id first
    returns_bool: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)

    @property
    def wit_type(self) -> str:
        """The signature as :func:`sandbox.runtime.admission.describe` spells it."""
        args = ", ".join(kind.value for _, kind in self.params)
        return f"({args})" + (" -> bool" if self.returns_bool else "")


_S, _OS, _B = Param.STRING, Param.OPTION_STRING, Param.BYTES

#: Every hook's signature, in WIT order (``wit/realm.wit``).
HOOKS: dict[Hook, HookSpec] = {
    spec.hook: spec
    for spec in (
        HookSpec(Hook.ON_LOAD, (("self-id", _S),)),
        HookSpec(Hook.ON_RELOAD, (("self-id", _S), ("old-version", _S))),
        HookSpec(Hook.ON_ENTER, (("self-id", _S), ("who", _S), ("from", _OS))),
        HookSpec(Hook.ON_LEAVE, (("self-id", _S), ("who", _S), ("to", _OS))),
        HookSpec(Hook.HEARTBEAT, (("self-id", _S),)),
        HookSpec(Hook.RESET, (("self-id", _S),)),
        HookSpec(
            Hook.ON_COMMAND,
            (("self-id", _S), ("actor", _S), ("verb", _S), ("args", _S)),
            returns_bool=True,
        ),
        HookSpec(Hook.ON_CALLOUT, (("self-id", _S), ("method", _S), ("args", _B))),
        HookSpec(Hook.ON_MESSAGE, (("self-id", _S), ("sender", _S), ("kind", _S), ("payload", _B))),
    )
}


class ErrorKind(enum.StrEnum):
    """Why an invocation did not return normally."""

    FUEL = "fuel"  # ran out of its instruction budget
    DEADLINE = "deadline"  # ran past its wall-clock deadline
    MEMORY = "memory"  # tried to grow linear memory past its cap
    TRAP = "trap"  # any other trap (unreachable, stack overflow, bad memory access)
    BAD_GUEST_DATA = "bad-guest-data"  # invalid UTF-8, oversized strings, non-CBOR state
    HOST_LIMIT = "host-limit"  # too many tells / callouts / bytes in one call
    HOST_ERROR = "host-error"  # the host failed while serving the guest
    NO_SUCH_HOOK = "no-such-hook"  # the caller asked for a hook that does not exist
    INSTANTIATE = "instantiate"  # the component could not be instantiated
    SANDBOX_CRASH = "sandbox-crash"  # the worker process running the call died


class AdmissionError(Exception):
    """A component was refused: not a component, too big, wrong world, or a
    forbidden import. The message names the reason (and the import)."""


class CompileError(Exception):
    """A blueprint source did not compile. ``file`` and ``line`` locate the
    first error when the toolchain said where it was."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return where + str(self.args[0])


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-call limits. Exceeding any of them aborts the call with no effect."""

    fuel: int = 50_000_000
    deadline_ms: int = 200
    memory_bytes: int = 64 * 1024 * 1024
    memory_total_bytes: int = 512 * 1024 * 1024  # the tenant's live instances together
    max_tells: int = 256  # tell + say + emote
    max_bytes_sent: int = 256 * 1024  # total text in tell/say/emote
    max_callouts: int = 64
    max_state_bytes: int = 1024 * 1024  # total key+value bytes written
    max_string_bytes: int = 64 * 1024  # any single string the guest hands us
    max_value_bytes: int = 1024 * 1024  # a single state value, or a query's answer
    max_world_ops: int = 256  # clone + destruct + move


class _EffectRecord:
    """What every effect record has: its WIT-ish name and a JSON form."""

    __slots__ = ()
    op: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            out[f.name] = value.hex() if isinstance(value, bytes) else value
        return out


@dataclass(frozen=True, slots=True)
class Tell(_EffectRecord):
    op: ClassVar[str] = "tell"
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class Say(_EffectRecord):
    op: ClassVar[str] = "say"
    text: str


@dataclass(frozen=True, slots=True)
class Emote(_EffectRecord):
    op: ClassVar[str] = "emote"
    text: str


@dataclass(frozen=True, slots=True)
class Gmcp(_EffectRecord):
    op: ClassVar[str] = "gmcp"
    target: str
    package: str
    data: Any  # decoded JSON


@dataclass(frozen=True, slots=True)
class ScheduleCallout(_EffectRecord):
    op: ClassVar[str] = "callout"
    handle: int
    method: str
    delay_ms: int
    args: bytes


@dataclass(frozen=True, slots=True)
class CancelCallout(_EffectRecord):
    op: ClassVar[str] = "cancel-callout"
    handle: int


@dataclass(frozen=True, slots=True)
class SetHeartbeat(_EffectRecord):
    op: ClassVar[str] = "set-heartbeat"
    interval_ms: int


@dataclass(frozen=True, slots=True)
class Clone(_EffectRecord):
    op: ClassVar[str] = "clone"
    blueprint: str
    id: str


@dataclass(frozen=True, slots=True)
class Destruct(_EffectRecord):
    op: ClassVar[str] = "destruct"
    target: str


@dataclass(frozen=True, slots=True)
class Move(_EffectRecord):
    op: ClassVar[str] = "move"
    target: str
    destination: str


#: One thing a hook asked for, in the order it asked. The caller dispatches on
#: the record's type (``match``), never on a string.
Effect = Tell | Say | Emote | Gmcp | ScheduleCallout | CancelCallout | SetHeartbeat | Clone | Destruct | Move


@dataclass(frozen=True, slots=True)
class GuestError:
    kind: ErrorKind
    message: str


@dataclass(slots=True)
class Outcome:
    """The result of one invocation. When ``error`` is set, ``effects`` and
    ``state_changes`` are empty: nothing of the call may be applied."""

    error: GuestError | None
    result: Any = None  # the hook's return value (on-command: bool)
    effects: list[Effect] = field(default_factory=list)
    state_changes: dict[str, bytes | None] = field(default_factory=dict)  # None = deleted
    fuel_used: int = 0
    wall_ms: float = 0.0
    logs: list[tuple[str, str]] = field(default_factory=list)  # kept even on error

    @property
    def ok(self) -> bool:
        return self.error is None


class HostWorld(Protocol):
    """The world as a running hook sees it. The caller implements this; the
    sandbox calls it synchronously from inside a host import.

    World operations (clone, destruct, move) are *checked and reserved* here,
    not applied: the sandbox records them as effects and the caller applies
    them only if the whole call returns normally. Implementations should make
    later reads in the same call see earlier reserved operations.
    """

    def environment(self, target: str) -> str | None: ...
    def contents(self, target: str) -> list[str]: ...
    def query(self, asker: str, target: str, key: str) -> bytes | None: ...
    def clone(self, asker: str, blueprint: str) -> str:
        """Reserve a clone; return its id or raise :class:`WorldRefusal`."""
        ...
    def destruct(self, asker: str, target: str) -> None: ...
    def move(self, asker: str, target: str, destination: str) -> None: ...
    def now_ms(self) -> int: ...
    def next_callout_handle(self) -> int: ...
    def cancel_callout(self, asker: str, handle: int) -> bool: ...


class HostLimit(Exception):
    """Raised by a :class:`HostWorld` when serving a request would break a
    tenant quota (too many pending callouts, too many objects). The call is
    aborted with :attr:`ErrorKind.HOST_LIMIT`."""


class WorldRefusal(Exception):
    """Raised by a :class:`HostWorld` to refuse a clone/destruct/move; the
    guest receives the message as the `err` of its `result`."""


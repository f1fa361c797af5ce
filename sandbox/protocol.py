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
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The hooks a blueprint exports, in WIT order, with their parameter names.
HOOKS: dict[str, tuple[str, ...]] = {
    "on-load": ("self-id",),
    "on-reload": ("self-id", "old-version"),
    "on-enter": ("self-id", "who", "from"),
    "on-leave": ("self-id", "who", "to"),
    "heartbeat": ("self-id",),
    "reset": ("self-id",),
    "on-command": ("self-id", "actor", "verb", "args"),
    "on-callout": ("self-id", "method", "args"),
    "on-message": ("self-id", "sender", "kind", "payload"),
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
        return where + self.args[0]


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-call limits. Exceeding any of them aborts the call with no effect."""

    fuel: int = 50_000_000
    deadline_ms: int = 200
    memory_bytes: int = 64 * 1024 * 1024
    max_tells: int = 256  # tell + say + emote
    max_bytes_sent: int = 256 * 1024  # total text in tell/say/emote
    max_callouts: int = 64
    max_state_bytes: int = 1024 * 1024  # total key+value bytes written
    max_string_bytes: int = 64 * 1024  # any single string the guest hands us
    max_world_ops: int = 256  # clone + destruct + move


@dataclass(frozen=True, slots=True)
class Effect:
    """One thing a hook asked for, in the order it asked.

    ``op`` is one of: tell(target, text), say(text), emote(text),
    gmcp(target, package, data: decoded JSON),
    callout(handle, method, delay_ms, args), cancel-callout(handle),
    set-heartbeat(interval_ms), clone(blueprint, new_id), destruct(target),
    move(target, destination), log(level, text).
    """

    op: str
    args: tuple[Any, ...]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        for name, value in zip(EFFECT_FIELDS[self.op], self.args, strict=True):
            out[name] = value.hex() if isinstance(value, bytes) else value
        return out


EFFECT_FIELDS: dict[str, tuple[str, ...]] = {
    "tell": ("target", "text"),
    "say": ("text",),
    "emote": ("text",),
    "gmcp": ("target", "package", "data"),
    "callout": ("handle", "method", "delay_ms", "args"),
    "cancel-callout": ("handle",),
    "set-heartbeat": ("interval_ms",),
    "clone": ("blueprint", "id"),
    "destruct": ("target",),
    "move": ("target", "destination"),
    "log": ("level", "text"),
}


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


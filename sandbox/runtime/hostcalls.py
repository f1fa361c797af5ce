"""What each host import does, for one invocation.

A :class:`Call` is created for every hook invocation. The host imports the
guest makes during that invocation land here (through either calling
convention in :mod:`sandbox.runtime.fastcall`), are checked against the call's
limits, and are *recorded*: messages, callouts, world operations and state
writes become :class:`~sandbox.protocol.Effect` records and a state overlay. None
of it reaches the world unless the guest returns normally, which is what
makes every invocation all-or-nothing.

A limit breach or bad guest data raises :class:`GuestFault`; the calling
convention turns it into a wasm trap, which unwinds the guest, and the
sandbox reports the fault's kind instead of the trap's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Protocol

import cbor2

from sandbox.protocol import (
    CancelCallout,
    Clone,
    Destruct,
    Effect,
    Emote,
    ErrorKind,
    Gmcp,
    HostWorld,
    Limits,
    Move,
    Say,
    ScheduleCallout,
    SetHeartbeat,
    Tell,
    WorldRefusal,
)

LOG_LEVELS = ("debug", "info", "warn", "error")
_GMCP_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z][A-Za-z0-9_-]*){1,3}$")
MAX_KEY_BYTES = 256
MAX_LOGS_PER_CALL = 32
MAX_CONTENTS = 10_000  # object ids one `contents` may return
#: Data crossing the boundary costs fuel, so a hook that reads a big value in
#: a loop runs out of fuel as surely as one that loops in wasm. Charged per
#: batch of bytes, so the common small values add no fuel bookkeeping.
FUEL_PER_BYTE = 1
FUEL_BATCH_BYTES = 4096


class FuelMeter(Protocol):
    """The running store's fuel, as a host call sees it."""

    def fuel_left(self) -> int: ...
    def set_fuel(self, fuel: int) -> None: ...


class GuestFault(Exception):
    """The guest broke a rule of the host API; the call is aborted."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind


def _limit(message: str) -> GuestFault:
    return GuestFault(ErrorKind.HOST_LIMIT, message)


def _bad(message: str) -> GuestFault:
    return GuestFault(ErrorKind.BAD_GUEST_DATA, message)


class Call:
    """The host side of one hook invocation (see module docstring)."""

    __slots__ = (
        "self_id",
        "world",
        "limits",
        "base_state",
        "overlay",
        "effects",
        "logs",
        "fault",
        "tells",
        "bytes_sent",
        "callouts",
        "state_bytes",
        "world_ops",
        "own_callouts",
        "deadline_at",
        "meter",
        "moved",
    )

    def __init__(
        self, self_id: str, state: Mapping[str, bytes], limits: Limits, world: HostWorld
    ) -> None:
        self.self_id = self_id
        self.world = world
        self.limits = limits
        self.base_state = state
        self.overlay: dict[str, bytes | None] = {}
        self.effects: list[Effect] = []
        self.logs: list[tuple[str, str]] = []
        self.fault: BaseException | None = None
        self.tells = 0
        self.bytes_sent = 0
        self.callouts = 0
        self.state_bytes = 0
        self.world_ops = 0
        self.own_callouts: set[int] = set()
        # The deadline covers time spent in host calls too: epoch interruption
        # only stops wasm code, so every host call checks the clock.
        self.deadline_at = time.perf_counter() + limits.deadline_ms / 1000
        self.meter: FuelMeter | None = None  # set by the sandbox once the store is armed
        self.moved = 0  # bytes across the boundary not yet charged as fuel

    def spend(self, nbytes: int) -> None:
        """Account for one host call moving ``nbytes`` across the boundary:
        past the deadline it ends the call; bytes cost fuel (charged in
        batches, so small values cost no extra C calls)."""
        if time.perf_counter() > self.deadline_at:
            raise GuestFault(
                ErrorKind.DEADLINE,
                f"ran past its {self.limits.deadline_ms} ms deadline (time in host calls counts)",
            )
        moved = self.moved + nbytes
        if moved < FUEL_BATCH_BYTES:
            self.moved = moved
            return
        self.moved = 0
        meter = self.meter
        if meter is None:
            return
        fuel = moved * FUEL_PER_BYTE
        left = meter.fuel_left()
        if left <= fuel:
            meter.set_fuel(0)
            raise GuestFault(ErrorKind.FUEL, f"ran out of fuel moving {moved} bytes across the host boundary")
        meter.set_fuel(left - fuel)

    # -- guest data checks ----------------------------------------------------

    def text(self, raw: bytes, what: str) -> str:
        """Decode a string the guest handed us, enforcing the size cap."""
        self.spend(len(raw))
        if len(raw) > self.limits.max_string_bytes:
            raise _bad(f"{what} is {len(raw)} bytes, over the {self.limits.max_string_bytes}-byte cap")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # wasmtime validates, but be sure
            raise _bad(f"{what} is not valid UTF-8: {exc}") from None

    # -- messaging --------------------------------------------------------------

    def _message(self, text: str) -> None:
        self.tells += 1
        if self.tells > self.limits.max_tells:
            raise _limit(f"more than {self.limits.max_tells} messages in one call")
        self.bytes_sent += len(text)
        if self.bytes_sent > self.limits.max_bytes_sent:
            raise _limit(f"more than {self.limits.max_bytes_sent} bytes of messages in one call")

    def tell(self, target: str, text: str) -> None:
        self._message(text)
        self.effects.append(Tell(target, text))

    def say(self, text: str) -> None:
        self._message(text)
        self.effects.append(Say(text))

    def emote(self, text: str) -> None:
        self._message(text)
        self.effects.append(Emote(text))

    def gmcp(self, target: str, package: str, payload: str) -> None:
        if not _GMCP_PACKAGE.match(package) or package.lower().startswith("core."):
            raise _bad(f"{package[:64]!r} is not a GMCP package a world may send")
        self._message(payload)
        try:
            data = json.loads(payload) if payload else None
        except ValueError as exc:
            raise _bad(f"GMCP {package} payload is not JSON: {exc}") from None
        self.effects.append(Gmcp(target, package, data))

    # -- state ------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not key or len(key) > MAX_KEY_BYTES:
            raise _bad(f"state key must be 1..{MAX_KEY_BYTES} bytes, got {len(key)}")
        return key

    def state_get(self, key: str) -> bytes | None:
        value = self.overlay[key] if key in self.overlay else self.base_state.get(key)
        if value is not None:
            self._value_out(value, f"state value {key!r}")
        return value

    def _value_out(self, value: bytes, what: str) -> None:
        if len(value) > self.limits.max_value_bytes:
            raise _limit(f"{what} is {len(value)} bytes, over the {self.limits.max_value_bytes}-byte cap")
        self.spend(len(value))

    def charge_state(self, nbytes: int) -> None:
        """Count ``nbytes`` of state written; the fast path charges before it
        copies a value out of guest memory, so a giant value is never copied."""
        self.state_bytes += nbytes
        if self.state_bytes > self.limits.max_state_bytes:
            raise _limit(
                f"more than {self.limits.max_state_bytes} bytes of state written in one call"
            )

    def state_set(self, key: str, value: bytes, *, charged: bool = False) -> None:
        self._key(key)
        if len(value) > self.limits.max_value_bytes:
            raise _limit(
                f"state value {key!r} is {len(value)} bytes, over the {self.limits.max_value_bytes}-byte cap"
            )
        self.spend(len(value))
        if not charged:
            self.charge_state(len(key) + len(value))
        try:
            cbor2.loads(value)
        except Exception as exc:
            raise _bad(f"state value for {key!r} is not CBOR: {exc}") from None
        self.overlay[key] = bytes(value)

    def state_delete(self, key: str) -> None:
        self._key(key)
        self.overlay[key] = None

    # -- scheduling -------------------------------------------------------------

    def callout(self, method: str, delay_ms: int, args: bytes) -> int:
        self.callouts += 1
        if self.callouts > self.limits.max_callouts:
            raise _limit(f"more than {self.limits.max_callouts} callouts in one call")
        if not method or len(method) > MAX_KEY_BYTES:
            raise _bad("callout method name must be 1..256 bytes")
        handle = self.world.next_callout_handle()
        self.own_callouts.add(handle)
        self.effects.append(ScheduleCallout(handle, method, delay_ms, bytes(args)))
        return handle

    def cancel_callout(self, handle: int) -> bool:
        if handle in self.own_callouts:
            self.own_callouts.discard(handle)
            found = True
        else:
            found = self.world.cancel_callout(self.self_id, handle)
        if found:
            self.effects.append(CancelCallout(handle))
        return found

    def set_heartbeat(self, interval_ms: int) -> None:
        self.effects.append(SetHeartbeat(interval_ms))

    # -- world ------------------------------------------------------------------

    def _world_op(self) -> None:
        self.world_ops += 1
        if self.world_ops > self.limits.max_world_ops:
            raise _limit(f"more than {self.limits.max_world_ops} clone/move/destruct in one call")

    def clone(self, blueprint: str) -> tuple[bool, str]:
        self._world_op()
        try:
            new_id = self.world.clone(self.self_id, blueprint)
        except WorldRefusal as exc:
            return False, str(exc)
        self.effects.append(Clone(blueprint, new_id))
        return True, new_id

    def destruct(self, target: str) -> str | None:
        self._world_op()
        try:
            self.world.destruct(self.self_id, target)
        except WorldRefusal as exc:
            return str(exc)
        self.effects.append(Destruct(target))
        return None

    def move(self, target: str, destination: str) -> str | None:
        self._world_op()
        try:
            self.world.move(self.self_id, target, destination)
        except WorldRefusal as exc:
            return str(exc)
        self.effects.append(Move(target, destination))
        return None

    def environment(self, target: str) -> str | None:
        where = self.world.environment(target)
        self.spend(len(where) if where else 0)
        return where

    def contents(self, target: str) -> list[str]:
        found = list(self.world.contents(target))
        if len(found) > MAX_CONTENTS:
            raise _limit(f"{target} holds {len(found)} objects, over the {MAX_CONTENTS} a call may list")
        self.spend(sum(map(len, found)))
        return found

    def query(self, target: str, key: str) -> bytes | None:
        if target == self.self_id:
            return self.state_get(key)
        value = self.world.query(self.self_id, target, key)
        if value is not None:
            self._value_out(value, f"{target}'s {key!r}")
        return value

    def now_ms(self) -> int:
        return int(self.world.now_ms())

    def log(self, level: str, text: str) -> None:
        if len(self.logs) < MAX_LOGS_PER_CALL:
            self.logs.append((level, text[:1024]))

    # -- results ----------------------------------------------------------------

    def state_changes(self) -> dict[str, bytes | None]:
        return self.overlay

    def fail(self, exc: BaseException) -> None:
        """Remember the first host-side failure; it explains the trap that follows."""
        if self.fault is None:
            self.fault = exc

"""The channel between the driver and its sandbox worker processes.

In worker mode the driver never maps wasmtime: every hook call, admission and
compile happens in a worker process at the other end of a socketpair. This
module is what both ends say to each other, as plain Python and CBOR (cbor2),
so the driver can import it without loading the engine.

**Frames.** A frame is a 4-byte big-endian length followed by that many bytes
of CBOR: one array of messages. Several messages share a frame so that
invocations of different tenants, due together, cross the channel in one
write and one read (that is what makes light guests cheap out of process).
A frame over the cap (:data:`MAX_FRAME_BYTES` unless the two ends agree on
another) is refused with :class:`FrameTooLarge` before anything is buffered
or decoded. Each message is encoded on its own (:func:`encode`) and a frame
is the messages' bytes inside an indefinite-length CBOR array
(:func:`frame`), so one oversized message can be refused alone and a batch
is cut into frames without encoding anything twice.

**Messages** are short CBOR arrays whose first item is the kind (a small int);
arrays rather than maps or tagged objects because they are the cheapest to
build, encode and take apart on the per-invocation path.

Driver to worker::

    [LOAD, version, code]         make an admitted version runnable there
    [ADMIT, id, code]             admission checks and a trial instantiation
    [INVOKE, id, version, tenant, self_id, hook, args, state, limits]
    [ANSWER, id, status, value]   the answer to a world query of call id
    [RELEASE, version]            forget a version (no answer)
    [SWEEP, idle_seconds]         drop instances idle that long, and every
                                  object's state kept (no answer)
    [FORGET]                      drop every object's state kept (no answer)

**Objects' state stays in the worker between calls.** An INVOKE's
``state`` is either the object's whole state, which the worker keeps for
(tenant, self_id) before it runs the call, or null: "the state you keep for
this object". After a call that succeeded the worker applies its state
changes to what it keeps; after one that failed (or that it could not
answer with an OUTCOME) it keeps what it had. The driver mirrors that
bookkeeping exactly, from the answers, and sends null only when the
object's state it is about to pass is equal to what the worker keeps, with
no call of that object in flight; anything else (the driver changed the
state, a canary ran on a copy, a new worker) ships the whole state again.

Worker to driver::

    [HELLO, pid, protocol]        hardened and ready
    [OUTCOME, id, outcome]        how invocation id ended
    [QUERY, id, method, args]     call id asks the world (and waits)
    [ADMITTED, id, version]       admission id succeeded
    [REFUSED, id, message]        admission id was refused: why
    [LOADED, version, error]      a LOAD finished (error: null, or why not)
    [ERROR, id, message]          a message it could not handle (id: the
                                  message's id, a LOAD's version, or null)
    [RETIRING, reason]            CPU budget nearly spent: replace me
    [MEMORY, {tenant: bytes}]     after a SWEEP: what each tenant's live
                                  instances are charged there (usage reports)

Every LOAD, ADMIT and INVOKE gets exactly one answer, in the order sent (a
worker handles one message at a time), which is what lets the driver time
each one from the moment the previous one was answered.

An outcome is ``[error, result, effects, state_changes, fuel_used, wall_ms,
logs]`` with ``error`` null or ``[kind, message]`` and each effect
``[code, field...]`` in the field order of its record in
:mod:`sandbox.protocol`. Limits are their fields in declaration order.
A world query names a :class:`~sandbox.protocol.HostWorld` method by its
index in :data:`WORLD_METHODS`; its answer's status says whether the method
returned, refused (:class:`~sandbox.protocol.WorldRefusal`), broke a quota
(:class:`~sandbox.protocol.HostLimit`) or failed some other way, so the
worker can raise the same exception the in-process sandbox would have seen.
"""

from __future__ import annotations

import hashlib
import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, Final

import cbor2

from sandbox.protocol import (
    CancelCallout,
    Clone,
    Destruct,
    Effect,
    Emote,
    ErrorKind,
    Gmcp,
    GuestError,
    HostLimit,
    HostWorld,
    Limits,
    Move,
    Outcome,
    Say,
    ScheduleCallout,
    SetHeartbeat,
    Tell,
    WorldRefusal,
)

#: Bumped whenever a message's layout changes; a worker of another protocol
#: is refused at HELLO instead of misreading invocations.
PROTOCOL: Final = 2

#: Largest frame either end accepts: above the largest component admission
#: accepts (64 MiB), with room for a batch of invocations.
MAX_FRAME_BYTES: Final = 256 * 1024 * 1024

# Driver -> worker.
LOAD: Final = 0
ADMIT: Final = 1
INVOKE: Final = 2
ANSWER: Final = 3
RELEASE: Final = 4
SWEEP: Final = 5
FORGET: Final = 6
# Worker -> driver.
HELLO: Final = 16
OUTCOME: Final = 17
QUERY: Final = 18
ADMITTED: Final = 19
REFUSED: Final = 20
LOADED: Final = 21
ERROR: Final = 22
RETIRING: Final = 23
MEMORY: Final = 24

# ANSWER statuses.
ANSWER_OK: Final = 0
ANSWER_REFUSED: Final = 1  # value: the WorldRefusal's message
ANSWER_LIMIT: Final = 2  # value: the HostLimit's message
ANSWER_FAILED: Final = 3  # value: [exception type name, message]

#: The HostWorld methods a running hook may call, by wire index.
WORLD_METHODS: Final = (
    "environment",
    "contents",
    "query",
    "clone",
    "destruct",
    "move",
    "now_ms",
    "next_callout_handle",
    "cancel_callout",
)
(
    W_ENVIRONMENT,
    W_CONTENTS,
    W_QUERY,
    W_CLONE,
    W_DESTRUCT,
    W_MOVE,
    W_NOW_MS,
    W_NEXT_HANDLE,
    W_CANCEL,
) = range(9)

_HEADER = struct.Struct(">I")
_OPEN, _CLOSE = b"\x9f", b"\xff"  # an indefinite-length CBOR array


class WireError(Exception):
    """The channel carried something that is not a frame of messages."""


class FrameTooLarge(WireError):
    """A frame (or a single message) is over the agreed size cap."""


def content_hash(code: bytes) -> str:
    """A component's version id: the hex SHA-256 of its bytes (the same as
    :func:`sandbox.runtime.engine.content_hash`, which the worker checks)."""
    return hashlib.sha256(code).hexdigest()


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------


def encode(message: Sequence[Any], max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """One message as CBOR, refused if it could never fit in a frame."""
    data = cbor2.dumps(message)
    if len(data) + 6 > max_bytes:
        raise FrameTooLarge(f"message of {len(data)} bytes is over the {max_bytes}-byte frame cap")
    return data


def frame(encoded: Sequence[bytes]) -> bytes:
    """The frame (header included) that carries already-encoded messages.

    The caller keeps the total under the cap."""
    body = b"".join((_OPEN, *encoded, _CLOSE))
    return _HEADER.pack(len(body)) + body


def frame_parts(encoded: Sequence[bytes]) -> list[bytes]:
    """The same frame as buffers to write in order (``sendmsg``): a big
    message (a component) is not copied again to be framed."""
    size = sum(len(m) for m in encoded) + 2
    return [_HEADER.pack(size) + _OPEN, *encoded, _CLOSE]


class FrameDecoder:
    """Turns a byte stream into frames, each a list of messages (sans-IO:
    feed it whatever the socket returned)."""

    __slots__ = ("_buf", "max_bytes")

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self.max_bytes = max_bytes

    def feed(self, data: bytes | memoryview) -> list[list[Any]]:
        """Every complete frame in what has arrived so far."""
        buf = self._buf
        if not buf and len(data) >= 4:
            # The common case: the read holds exactly one whole frame.
            (size,) = _HEADER.unpack_from(data)
            if size + 4 == len(data) and size <= self.max_bytes:
                return [self._decode(data[4:])]
        buf += data
        frames: list[list[Any]] = []
        at = 0
        while len(buf) - at >= 4:
            (size,) = _HEADER.unpack_from(buf, at)
            if size > self.max_bytes:
                raise FrameTooLarge(
                    f"peer sent a frame of {size} bytes, over the {self.max_bytes}-byte cap"
                )
            if len(buf) - at - 4 < size:
                break
            with memoryview(buf) as view:  # released before buf is resized
                frames.append(self._decode(view[at + 4 : at + 4 + size]))
            at += 4 + size
        if at:
            del buf[:at]
        return frames

    @staticmethod
    def _decode(body: bytes | memoryview) -> list[Any]:
        try:
            messages = cbor2.loads(body)
        except Exception as exc:
            raise WireError(f"frame is not CBOR: {exc}") from None
        if type(messages) is not list:
            raise WireError("frame is not an array of messages")
        for m in messages:  # a loop: a generator in all() costs more than a frame's messages
            if type(m) is not list or not m or type(m[0]) is not int:
                raise WireError("frame is not an array of messages")
        return messages

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buf)


# --------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------

_LIMIT_FIELDS: Final = tuple(f.name for f in fields(Limits))
_limits_tuple: Callable[[Limits], tuple[int, ...]] = operator.attrgetter(*_LIMIT_FIELDS)
_limits_seen: dict[tuple[int, ...], Limits] = {}


def limits_to_wire(limits: Limits) -> tuple[int, ...]:
    return _limits_tuple(limits)


def limits_from_wire(values: Sequence[int]) -> Limits:
    # A world uses a handful of distinct limits; building the frozen
    # dataclass each call would cost more than the lookup.
    key = tuple(values)
    limits = _limits_seen.get(key)
    if limits is None:
        if len(key) != len(_LIMIT_FIELDS) or not all(type(v) is int for v in key):
            raise WireError(f"limits must be {len(_LIMIT_FIELDS)} integers")
        limits = Limits(*key)
        if len(_limits_seen) < 1024:
            _limits_seen[key] = limits
    return limits


# --------------------------------------------------------------------------
# Invocations
# --------------------------------------------------------------------------

#: The CBOR head of an INVOKE: an array of nine items, the first INVOKE.
_INVOKE_HEAD: Final = bytes((0x89, INVOKE))
#: A tenant's calls repeat the version, the tenant and the limits: their
#: CBOR is made once (bounded: a handful per tenant).
_invoke_prefixes: dict[tuple[str, str], bytes] = {}
_limits_cbor: dict[Limits, bytes] = {}
_CACHE_MAX: Final = 4096


_U32: Final = struct.Struct(">BI")


def _uint(value: int) -> bytes:
    """An unsigned integer's CBOR, as cbor2 makes it (the shortest form)."""
    if 0 <= value < 24:
        return bytes((value,))
    if 0 <= value < 1 << 32:
        if value < 256:
            return bytes((0x18, value))
        if value < 65536:
            return bytes((0x19, value >> 8, value & 0xFF))
        return _U32.pack(0x1A, value)
    return cbor2.dumps(value)


def encode_invoke(
    call_id: int,
    version: str,
    tenant: str,
    self_id: str,
    hook: str,
    args: Sequence[Any],
    state: dict[str, bytes] | None,
    limits: Limits,
    max_bytes: int = MAX_FRAME_BYTES,
) -> bytes:
    """``[INVOKE, id, version, tenant, self_id, hook, args, state, limits]``,
    byte for byte what :func:`encode` makes of it, but with the parts a
    tenant's calls repeat encoded once."""
    prefix = _invoke_prefixes.get((version, tenant))
    if prefix is None:
        prefix = cbor2.dumps([version, tenant])[1:]  # the two items, without their array's head
        if len(_invoke_prefixes) >= _CACHE_MAX:
            _invoke_prefixes.clear()
        _invoke_prefixes[(version, tenant)] = prefix
    tail = _limits_cbor.get(limits)
    if tail is None:
        tail = cbor2.dumps(list(_limits_tuple(limits)))
        if len(_limits_cbor) >= _CACHE_MAX:
            _limits_cbor.clear()
        _limits_cbor[limits] = tail
    # The four items that change, as one array (header 0x84) minus its head.
    middle = cbor2.dumps([self_id, hook, args, state])
    data = b"".join((_INVOKE_HEAD, _uint(call_id), prefix, memoryview(middle)[1:], tail))
    if len(data) + 6 > max_bytes:
        raise FrameTooLarge(f"message of {len(data)} bytes is over the {max_bytes}-byte frame cap")
    return data


# --------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------

#: Effect record classes by wire code; the code is the index.
EFFECTS: Final[tuple[type[Effect], ...]] = (
    Tell,
    Say,
    Emote,
    Gmcp,
    ScheduleCallout,
    CancelCallout,
    SetHeartbeat,
    Clone,
    Destruct,
    Move,
)


# Lists, not tuples, throughout: cbor2 encodes a list markedly faster.


def _effect_encoder(code: int, cls: type[Effect]) -> Callable[[Any], list[Any]]:
    names = [f.name for f in fields(cls)]
    get = operator.attrgetter(*names)
    if len(names) == 1:
        return lambda e: [code, get(e)]
    return lambda e: [code, *get(e)]


_EFFECT_ENCODERS: Final[dict[type, Callable[[Any], list[Any]]]] = {
    cls: _effect_encoder(code, cls) for code, cls in enumerate(EFFECTS)
}
_ERROR_KINDS: Final = {kind.value: kind for kind in ErrorKind}
_SCALARS: Final[dict[str, type]] = {"str": str, "int": int, "bytes": bytes}
#: Per effect code, the exact type of each field (None: any decoded JSON).
_EFFECT_FIELD_TYPES: Final = tuple(
    tuple(_SCALARS.get(str(f.type)) for f in fields(cls)) for cls in EFFECTS
)


def _effect_from_wire(item: Sequence[Any]) -> Effect:
    code, *values = item
    expected = _EFFECT_FIELD_TYPES[code]
    if len(values) != len(expected) or not all(
        t is None or type(v) is t for v, t in zip(values, expected, strict=True)
    ):
        raise WireError(f"malformed {EFFECTS[code].op} effect")
    effect: Effect = EFFECTS[code](*values)
    return effect


def error_to_wire(error: GuestError | None) -> list[str] | None:
    return None if error is None else [error.kind.value, error.message]


def error_from_wire(value: Sequence[str] | None) -> GuestError | None:
    if value is None:
        return None
    kind, message = value
    return GuestError(_ERROR_KINDS[kind], str(message))


def outcome_to_wire(outcome: Outcome) -> list[Any]:
    encoders = _EFFECT_ENCODERS
    return [
        error_to_wire(outcome.error),
        outcome.result,
        [encoders[type(e)](e) for e in outcome.effects],
        outcome.state_changes,
        outcome.fuel_used,
        outcome.wall_ms,
        outcome.logs,
    ]


_OUTCOME_HEAD: Final = bytes((0x83, OUTCOME))


def encode_outcome(call_id: int, outcome: Outcome, max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """``[OUTCOME, id, outcome]``, byte for byte what :func:`encode` makes of
    it, with less building on the way (a worker sends one per call)."""
    error = outcome.error
    effects = outcome.effects
    body = cbor2.dumps([
        None if error is None else [error.kind.value, error.message],
        outcome.result,
        [_EFFECT_ENCODERS[type(e)](e) for e in effects] if effects else [],
        outcome.state_changes,
        outcome.fuel_used,
        outcome.wall_ms,
        outcome.logs,
    ])  # fmt: skip
    data = b"".join((_OUTCOME_HEAD, _uint(call_id), body))
    if len(data) + 6 > max_bytes:
        raise FrameTooLarge(f"message of {len(data)} bytes is over the {max_bytes}-byte frame cap")
    return data


def outcome_from_wire(value: Sequence[Any]) -> Outcome:
    """The outcome a worker sent. A worker runs untrusted code, so the
    shape is checked (cheaply: the types of what the driver stores or
    applies); anything else raises and the caller stops believing that
    worker."""
    error, result, effects, changes, fuel_used, wall_ms, logs = value
    if type(changes) is not dict:
        raise WireError("state changes must map text to bytes or null")
    for k, v in changes.items():  # a loop: cheaper than a generator for a few keys
        if type(k) is not str or (v is not None and type(v) is not bytes):
            raise WireError("state changes must map text to bytes or null")
    if result is not None and type(result) is not bool:
        raise WireError(f"a hook result is a bool or null, not {type(result).__name__}")
    return Outcome(
        None if error is None else error_from_wire(error),
        result,
        [] if effects == [] else [_effect_from_wire(e) for e in effects],
        changes,
        int(fuel_used),
        float(wall_ms),
        [] if logs == [] else [(str(level), str(text)) for level, text in logs],
    )


# --------------------------------------------------------------------------
# World queries
# --------------------------------------------------------------------------

_remote_errors: dict[str, type[Exception]] = {}


def remote_exception(type_name: str, message: str) -> Exception:
    """An exception that reads like the one the driver's world raised: its
    class has the same name and ``str()`` gives the same text, so the
    worker's sandbox reports ``host function failed: RuntimeError: ...``
    exactly as the in-process sandbox would."""
    cls = _remote_errors.get(type_name)
    if cls is None:
        cls = type(type_name, (Exception,), {"__module__": "driver"})
        if len(_remote_errors) < 256:
            _remote_errors[type_name] = cls
    return cls(message)


def answer_query(world: HostWorld, call_id: int, method: int, args: Sequence[Any]) -> list[Any]:
    """Run one world query on the driver's side and build its ANSWER."""
    try:
        value = getattr(world, WORLD_METHODS[method])(*args)
    except WorldRefusal as exc:
        return [ANSWER, call_id, ANSWER_REFUSED, str(exc)]
    except HostLimit as exc:
        return [ANSWER, call_id, ANSWER_LIMIT, str(exc)]
    except Exception as exc:
        return [ANSWER, call_id, ANSWER_FAILED, [type(exc).__name__, str(exc)]]
    return [ANSWER, call_id, ANSWER_OK, value]


def answer_value(status: int, value: Any) -> Any:
    """The worker's side of an ANSWER: the value, or the exception raised."""
    if status == ANSWER_OK:
        return value
    if status == ANSWER_REFUSED:
        raise WorldRefusal(value)
    if status == ANSWER_LIMIT:
        raise HostLimit(value)
    if status == ANSWER_FAILED:
        name, message = value
        raise remote_exception(str(name), str(message))
    raise WireError(f"unknown answer status {status!r}")

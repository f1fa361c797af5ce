"""The two calling conventions, import by import: the hand-written fast path
(raw C callbacks, records packed with ``struct``) must do exactly what the
stock wasmtime-py path does.

One guest, ``tests/guests/import_probe.c``, runs a small script (see that
file): every step calls one host import with the arguments the script gives
(raw bytes, so they may be empty, multi-byte, oversized or not UTF-8 at all)
and records what the import returned; the record lands in state ``out``.
Every case below runs the same hook with the same arguments, state, limits
and world on a ``Sandbox(call_path="fast")`` and a ``Sandbox(call_path="stock")``,
each time on a fresh instance, and asserts the outcomes are the same in
every respect but wall time: the error (kind and message), the hook's
result, the effects, the state changes (the report included, so every value
an import returned), the logs, the fuel used, and every question the host
asked the world. Each case also checks what it claims (the returned value,
the error kind), so a case cannot silently stop testing what its name says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cbor2
import pytest

from sandbox.protocol import HOOKS, ErrorKind, HostLimit, Limits, Outcome, WorldRefusal
from sandbox.runtime.host import Sandbox

from ..guests import build_guest

# --------------------------------------------------------------------------
# A fixed world
# --------------------------------------------------------------------------

SELF = "/obj/probe#000001"
ACTOR = "/player/ann"
HALL = "/rooms/hall"
EMPTY = "/rooms/empty"
CAFE = "/rooms/café"
SWORD = "/obj/sword#000002"
COIN = "/obj/coin#000003"
BAG = "/obj/bag#000004"
GEM = "/obj/gem#000005"
UNI = "/obj/ünï#000006"
NPC = "/npc/zoë🐉"
BROKEN = "/obj/broken#000009"  # asking the world about it raises
MISSING = "/obj/nothing#999999"

NOW_MS = 1_700_000_000_123
FIRST_HANDLE = 1000
#: Callouts of self's that the world holds (cancel-callout finds them).
PENDING = (41, 2**63 + 5)
#: Blueprints that exist; cloning QUOTA breaks a tenant quota.
QUOTA = "/obj/quota"
BLUEPRINTS = frozenset({"/obj/sword", "/obj/coin", "/obj/ünï", QUOTA})
ALWAYS_PUBLIC = frozenset({"name", "short", "long", "ids", "exits"})


def _cbor_state(**values: Any) -> dict[str, bytes]:
    return {key: cbor2.dumps(value) for key, value in values.items()}


def _objects() -> dict[str, tuple[str | None, dict[str, bytes]]]:
    """id -> (environment, state), in the order things arrived."""
    return {
        HALL: (None, _cbor_state(name="hall", short="the great hall", exits={"east": CAFE},
                                 area="Thornwick", secret="under the floor", public=["area"])),
        EMPTY: (None, _cbor_state(name="empty", short="an empty room")),
        CAFE: (None, _cbor_state(name="café", short="a café ☕", area="Zürich 🇨🇭", public=["area"])),
        SELF: (HALL, {}),
        ACTOR: (HALL, _cbor_state(name="Ann", hp=12)),
        SWORD: (HALL, _cbor_state(name="sword", short="a sword", edge=7, secret="cursed",
                                  public=["edge", "missing"])),
        COIN: (HALL, _cbor_state(name="coin", value=b"\x00\xff")),
        NPC: (HALL, _cbor_state(name="Zoë 🐉", long="A dragon-keeper. " * 40, ids=["zoë", "keeper"])),
        BAG: (ACTOR, _cbor_state(name="bag", container=True)),
        # `hollow` holds zero bytes: some(empty), not none (the world does not check CBOR).
        GEM: (BAG, {**_cbor_state(name="gem", public=["glow", "hollow"], glow=b""), "hollow": b""}),
        UNI: (CAFE, _cbor_state(name="ünï")),
        BROKEN: (None, {}),
    }


class FixedWorld:
    """A small deterministic world (a :class:`~sandbox.protocol.HostWorld`).

    Rooms with contents, public keys, a fixed clock and predictable callout
    handles; reserved world operations are applied at once, so later
    questions in the same call see them. Every question is recorded in
    :attr:`calls`, so the test can check that both conventions asked the
    world the same things with the same arguments.
    """

    def __init__(self, now_ms: int = NOW_MS, first_handle: int = FIRST_HANDLE) -> None:
        self.objects = _objects()
        self.clock = now_ms
        self.handle = first_handle
        self.clones = 99
        self.pending: set[int] = set(PENDING)
        self.calls: list[tuple[Any, ...]] = []

    def _env(self, target: str) -> str | None:
        entry = self.objects.get(target)
        return entry[0] if entry else None

    def _broken(self, target: str) -> None:
        if target == BROKEN:
            raise RuntimeError(f"the world lost {target}")

    def environment(self, target: str) -> str | None:
        self.calls.append(("environment", target))
        self._broken(target)
        return self._env(target)

    def contents(self, target: str) -> list[str]:
        self.calls.append(("contents", target))
        self._broken(target)
        return [obj for obj, (env, _) in self.objects.items() if env == target]

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        self.calls.append(("query", asker, target, key))
        self._broken(target)
        entry = self.objects.get(target)
        if entry is None:
            return None
        state = entry[1]
        public = set(cbor2.loads(state["public"])) if "public" in state else set()
        return state.get(key) if key in ALWAYS_PUBLIC | public else None

    def clone(self, asker: str, blueprint: str) -> str:
        self.calls.append(("clone", asker, blueprint))
        if blueprint == QUOTA:
            raise HostLimit("this tenant has too many objects")
        if blueprint not in BLUEPRINTS:
            raise WorldRefusal(f"no such blueprint: {blueprint}")
        self.clones += 1
        new_id = f"{blueprint}#{self.clones:06d}"
        self.objects[new_id] = (None, {})
        return new_id

    def destruct(self, asker: str, target: str) -> None:
        self.calls.append(("destruct", asker, target))
        self._broken(target)
        if target not in self.objects:
            raise WorldRefusal(f"no such object: {target}")
        if target.startswith("/player/"):
            raise WorldRefusal(f"{target} is a player; players are not destroyed")
        env, _ = self.objects.pop(target)
        for obj, (where, state) in list(self.objects.items()):
            if where == target:
                self.objects[obj] = (env, state)

    def move(self, asker: str, target: str, destination: str) -> None:
        self.calls.append(("move", asker, target, destination))
        self._broken(target)
        if target not in self.objects:
            raise WorldRefusal(f"no such object: {target}")
        if destination not in self.objects:
            raise WorldRefusal(f"no such destination: {destination}")
        where: str | None = destination
        while where is not None:
            if where == target:
                raise WorldRefusal(f"cannot move {target} into itself")
            where = self._env(where)
        self.objects[target] = (destination, self.objects.pop(target)[1])

    def now_ms(self) -> int:
        self.calls.append(("now_ms",))
        return self.clock

    def next_callout_handle(self) -> int:
        self.calls.append(("next_callout_handle",))
        self.handle += 1
        return self.handle - 1

    def cancel_callout(self, asker: str, handle: int) -> bool:
        self.calls.append(("cancel_callout", asker, handle))
        if asker == SELF and handle in self.pending:
            self.pending.discard(handle)
            return True
        return False


# --------------------------------------------------------------------------
# Scripts for import_probe
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rep:
    """One byte, ``count`` times (a data argument the script spells ``r<count>:<hex>``)."""

    count: int
    byte: int = 0x61


@dataclass(frozen=True, slots=True)
class Cat:
    """Data arguments laid end to end."""

    parts: tuple[str | bytes | Rep, ...]


class _Last:
    """The handle the script's last `callout` step returned (spelled ``@``)."""


LAST = _Last()

#: A step argument: data (str as UTF-8, bytes, Rep, Cat) or a number.
Arg = str | bytes | Rep | Cat | int | _Last


def _token(arg: Arg) -> str:
    if isinstance(arg, bool):
        raise TypeError("spell booleans as numbers")
    if isinstance(arg, int):
        return str(arg)
    if isinstance(arg, _Last):
        return "@"
    if isinstance(arg, str):
        return "x" + arg.encode("utf-8").hex()
    if isinstance(arg, bytes):
        return "x" + arg.hex()
    if isinstance(arg, Rep):
        return f"r{arg.count}:{arg.byte:02x}"
    return "+".join(_token(p) for p in arg.parts)


def step(op: str, *args: Arg) -> str:
    """One step of a script: an import (or script word) and its arguments."""
    return " ".join([op, *map(_token, args)])


def repeat(times: int, op: str, *args: Arg) -> str:
    """One step run ``times`` times."""
    return f"repeat {times} {step(op, *args)}"


def script(*steps: str) -> str:
    return " ; ".join(steps)


def on_command(*steps: str, actor: str = ACTOR) -> tuple[str, tuple[Any, ...]]:
    """on-command running ``steps``: the verb is the first step's import."""
    verb, _, args = script(*steps).partition(" ")
    return "on-command", (actor, verb, args)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------

#: The default limits, but a deadline no busy machine reaches: time is not
#: what these tests compare, and the stock path converts big lists slowly.
DEFAULT = Limits(deadline_ms=30_000)

#: Where the step results start in the report of a hook that runs a script
#: (on-command's is [hook, self, actor, verb, args, step results...]).
STEPS_AT = {"on-command": 5, "on-callout": 4, "on-message": 5}
_UNSET: Any = object()


@dataclass(frozen=True)
class Case:
    """One call, made the same way on both conventions, and what it claims."""

    id: str
    hook: str
    args: tuple[Any, ...]
    #: "ok", the ErrorKind the call must end with, or None: only compared.
    expect: str | None = "ok"
    #: What the steps returned (checked when the call returns).
    steps: Any = _UNSET
    #: A substring of the error message, or of the whole report.
    message: str | None = None
    #: For a failing call with `trace`: the step that tripped.
    tripped_at: int | None = None
    limits: Limits = field(default_factory=lambda: DEFAULT)
    state: dict[str, bytes] = field(default_factory=dict)
    world: Callable[[], FixedWorld] = FixedWorld
    self_id: str = SELF
    check: Callable[[Outcome, FixedWorld], None] | None = None
    #: Stopped by the wall clock: how much fuel it used is not comparable.
    timed: bool = False


#: Values of every CBOR type (and edges of the integers).
CBOR_VALUES: list[Any] = [None, True, -1, 2**64 - 1, -(2**64), 1.5, "", "héllo 🐉", b"", b"\x00" * 10, [],
                          {"a": [{}]}]
BASE_STATE = _cbor_state(name="probe", hp=7, blob=bytes(range(256)), motto="héllo wörld 🐉")
#: For cases whose script itself is long (hundreds of KiB to parse).
ROOMY = replace(DEFAULT, fuel=2_000_000_000)
CAP = DEFAULT.max_string_bytes
#: Small limits, one at a time, so that a case can trip each at a known step.
FEW_TELLS = replace(DEFAULT, max_tells=3)
FEW_BYTES_SENT = replace(DEFAULT, max_bytes_sent=40)
FEW_CALLOUTS = replace(DEFAULT, max_callouts=2)
FEW_WORLD_OPS = replace(DEFAULT, max_world_ops=3)
FEW_STATE_BYTES = replace(DEFAULT, max_state_bytes=64)
SHORT_STRINGS = replace(DEFAULT, max_string_bytes=12)

UNICODE = "héllo wörld — ✓ 中文 🐉👩‍👩‍👧"
DRAGON = "🐉"  # four bytes in UTF-8
#: Byte strings that are not UTF-8: a stray continuation byte, a truncated
#: sequence, an overlong encoding, an encoded surrogate, a byte never used.
NOT_UTF8 = {
    "ff-fe": b"\xff\xfe",
    "lone-continuation": b"ok\x80",
    "truncated": "€".encode()[:2],
    "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80",
    "after-valid": UNICODE.encode() + b"\xf8",
}


def cmd(id: str, *steps: str, **kw: Any) -> Case:
    hook, args = on_command(*steps, actor=kw.pop("actor", ACTOR))
    return Case(id, hook, args, **kw)


#: Every host import with arguments that work, and which of them are strings.
NORMAL_ARGS: dict[str, tuple[tuple[str, Arg], ...]] = {
    "tell": (("target", ACTOR), ("text", "hi")),
    "say": (("text", "hi"),),
    "emote": (("text", "waves."),),
    "gmcp": (("target", ACTOR), ("package", "Char.Vitals"), ("json", '{"hp": 7}')),
    "state-get": (("key", "hp"),),
    "state-set": (("key", "hp"), ("value", cbor2.dumps(8))),
    "state-delete": (("key", "hp"),),
    "callout": (("method", "tick"), ("delay-ms", 10), ("args", cbor2.dumps([1]))),
    "cancel-callout": (("handle", PENDING[0]),),
    "set-heartbeat": (("interval-ms", 500),),
    "clone": (("blueprint", "/obj/coin"),),
    "destruct": (("target", COIN),),
    "move": (("target", SWORD), ("destination", EMPTY)),
    "environment": (("target", SWORD),),
    "contents": (("target", HALL),),
    "query": (("target", SWORD), ("key", "edge")),
    "now-ms": (),
    "log": (("level", 1), ("text", "hi")),
}


def _string_params() -> list[Case]:
    """Every string parameter of every import: normal, empty, non-ASCII,
    at the cap, one byte over it, and not UTF-8 in several ways."""
    cases: list[Case] = []
    for name, params in NORMAL_ARGS.items():
        normal = [value for _, value in params]
        cases.append(cmd(f"{name}-normal", step(name, *normal), state=BASE_STATE))
        for i, (param, value) in enumerate(params):
            if not isinstance(value, str):
                continue

            def with_(arg: Arg, i: int = i, normal: list[Arg] = normal) -> list[Arg]:
                return [*normal[:i], arg, *normal[i + 1:]]

            at = f"{name}-{param}"
            cases += [
                cmd(f"{at}-empty", step(name, *with_("")), state=BASE_STATE, expect=None),
                cmd(f"{at}-unicode", step(name, *with_(UNICODE)), state=BASE_STATE, expect=None),
                cmd(f"{at}-multibyte-at-cap", step(name, *with_(DRAGON * (CAP // 4))), expect=None),
                cmd(f"{at}-at-cap", step(name, *with_(Rep(CAP))), expect=None),
                cmd(f"{at}-over-cap", step(name, *with_(Rep(CAP + 1))), expect="bad-guest-data",
                    message="over the 65536-byte cap"),
                cmd(f"{at}-multibyte-over-cap", step(name, *with_(Cat((DRAGON * (CAP // 4), "!")))),
                    expect="bad-guest-data"),
            ]
            cases += [cmd(f"{at}-not-utf8-{kind}", step(name, *with_(raw)), expect="bad-guest-data")
                      for kind, raw in NOT_UTF8.items()]
    return cases


def _messages() -> list[Case]:
    return [
        cmd("tell-values", step("tell", ACTOR, "hello"), step("tell", "", ""), step("tell", NPC, UNICODE),
            steps=[None] * 3,
            check=lambda o, _w: _assert([e.to_json() for e in o.effects] == [
                {"op": "tell", "target": ACTOR, "text": "hello"}, {"op": "tell", "target": "", "text": ""},
                {"op": "tell", "target": NPC, "text": UNICODE}], o.effects)),
        cmd("tell-small-cap", step("tell", ACTOR[:12], "x" * 12), step("tell", ACTOR, "y" * 13),
            limits=SHORT_STRINGS, expect="bad-guest-data"),
        cmd("say-values", step("say", "Ding!"), step("say", ""), step("say", UNICODE), steps=[None] * 3),
        cmd("say-out-of-bounds", step("say-oob"), expect="trap", message="out of bounds"),
        cmd("emote-values", step("emote", "waves."), step("emote", ""), step("emote", "winkt 😉 — ça va?")),
        cmd("messages-in-order", step("say", "one"), step("emote", "two"), step("tell", NPC, "three"),
            step("say", "four"), step("gmcp", NPC, "Char.Five", "5"), steps=[None] * 5),
    ]


def _gmcp() -> list[Case]:
    def gmcp(id: str, package: str | bytes, payload: Arg, **kw: Any) -> Case:
        return cmd(id, step("gmcp", ACTOR, package, payload), **kw)

    return [
        gmcp("gmcp-object", "Char.Vitals", '{"hp": 7, "maxhp": 10, "ok": true, "x": null}', steps=[None]),
        gmcp("gmcp-nested-unicode", "Room.Info", json.dumps({"name": CAFE, "exits": {"ö": [1, 2.5]}},
                                                              ensure_ascii=False), steps=[None]),
        gmcp("gmcp-escaped-unicode", "Room.Info", '{"name": "caf\\u00e9 \\ud83d\\udc09"}'),
        gmcp("gmcp-scalar", "Char.Name", '"Ann"'),
        gmcp("gmcp-array", "Comm.List", "[1, -2, 3e5, \"x\"]"),
        gmcp("gmcp-empty-payload", "Char.Ping", "", steps=[None]),
        gmcp("gmcp-whitespace-payload", "Char.Ping", "  ", expect="bad-guest-data"),
        gmcp("gmcp-invalid-json", "Char.Vitals", "{hp: 7}", expect="bad-guest-data", message="not JSON"),
        gmcp("gmcp-truncated-json", "Char.Vitals", '{"hp": ', expect="bad-guest-data"),
        gmcp("gmcp-trailing-garbage", "Char.Vitals", "{} {}", expect="bad-guest-data"),
        gmcp("gmcp-nan", "Char.Vitals", '{"hp": NaN}'),
        gmcp("gmcp-core-package", "Core.Hello", "{}", expect="bad-guest-data"),
        gmcp("gmcp-package-without-dot", "Vitals", "{}", expect="bad-guest-data"),
        gmcp("gmcp-package-empty-refused", "", "{}", expect="bad-guest-data"),
        gmcp("gmcp-package-non-ascii-refused", "Chär.Vitals", "{}", expect="bad-guest-data"),
        gmcp("gmcp-payload-at-cap", "Char.Blob", Cat(('"', Rep(CAP - 2), '"'))),
        gmcp("gmcp-payload-over-cap", "Char.Blob", Cat(('"', Rep(CAP - 1), '"')), expect="bad-guest-data"),
        cmd("gmcp-empty-target", step("gmcp", "", "Char.Vitals", "{}"), steps=[None]),
    ]


def _state() -> list[Case]:
    big = cbor2.dumps(bytes(range(256)) * 800)  # a 200 KiB CBOR byte string
    return [
        cmd("state-get-present", step("state-get", "hp"), step("state-get", "blob"),
            step("state-get", "motto"), state=BASE_STATE,
            steps=[BASE_STATE["hp"], BASE_STATE["blob"], BASE_STATE["motto"]]),
        cmd("state-get-absent", step("state-get", "nothing"), state=BASE_STATE, steps=[None]),
        cmd("state-get-zero-bytes", step("state-get", "hollow"), step("state-get", "nothing"),
            state={"hollow": b""}, steps=[b"", None]),
        cmd("state-get-empty-key", step("state-get", ""), state=BASE_STATE, steps=[None]),
        cmd("state-get-unicode-key", step("state-get", "clé 🔑"), state={"clé 🔑": cbor2.dumps([1, "ü"])},
            steps=[cbor2.dumps([1, "ü"])]),
        cmd("state-get-sees-writes", step("state-set", "hp", cbor2.dumps(8)), step("state-get", "hp"),
            step("state-delete", "motto"), step("state-get", "motto"), state=BASE_STATE,
            steps=[None, cbor2.dumps(8), None, None]),
        cmd("state-set", step("state-set", "count", cbor2.dumps(42)), steps=[None]),
        cmd("state-set-many-types", *(step("state-set", f"k{i}", cbor2.dumps(v)) for i, v in enumerate(
            CBOR_VALUES))),
        cmd("state-set-large-cbor", step("state-set", "big", big), step("state-get", "big"),
            limits=ROOMY, steps=[None, big]),
        cmd("state-set-empty-value", step("state-set", "k", b""), expect="bad-guest-data", message="not CBOR"),
        cmd("state-set-not-cbor", step("state-set", "k", b"\xff"), expect="bad-guest-data"),
        cmd("state-set-trailing-bytes", step("state-set", "k", cbor2.dumps(1) + b"\x01")),
        cmd("state-set-empty-key", step("state-set", "", cbor2.dumps(1)), expect="bad-guest-data"),
        cmd("state-set-key-256", step("state-set", "k" * 256, cbor2.dumps(1))),
        cmd("state-set-key-257", step("state-set", "k" * 257, cbor2.dumps(1)), expect="bad-guest-data"),
        cmd("state-set-key-256-multibyte", step("state-set", DRAGON * 256, cbor2.dumps(1))),
        cmd("state-set-value-over-string-cap", step("state-set", "k", cbor2.dumps(b"v" * (CAP + 10)))),
        cmd("state-set-bad-key-over-budget", step("state-set", "", cbor2.dumps(b"v" * 100)),
            limits=FEW_STATE_BYTES, expect=None),
        cmd("state-set-long-key-over-budget", step("state-set", "k" * 300, cbor2.dumps(1)),
            limits=replace(DEFAULT, max_state_bytes=200), expect=None),
        cmd("state-delete", step("state-delete", "hp"), step("state-delete", "nothing"), state=BASE_STATE,
            steps=[None, None]),
        cmd("state-delete-empty-key", step("state-delete", ""), expect="bad-guest-data"),
        cmd("state-delete-unicode-key", step("state-delete", "clé 🔑")),
        cmd("state-delete-then-set", step("state-delete", "hp"), step("state-set", "hp", cbor2.dumps(1)),
            step("state-delete", "hp"), state=BASE_STATE),
    ]


def _scheduling() -> list[Case]:
    return [
        cmd("callout", step("callout", "tick", 250, cbor2.dumps({"n": 1})), steps=[FIRST_HANDLE]),
        cmd("callout-handles-in-sequence", step("callout", "a", 0, b""), step("callout", "b", 1, b"\x00"),
            step("callout", "ünï", 2, cbor2.dumps(UNICODE)), steps=[1000, 1001, 1002]),
        cmd("callout-handle-beyond-2-63", step("callout", "tick", 0, b"\xf6"),
            world=lambda: FixedWorld(first_handle=2**64 - 1), steps=[2**64 - 1]),
        cmd("callout-handle-zero", step("callout", "tick", 0, b"\xf6"),
            world=lambda: FixedWorld(first_handle=0), steps=[0]),
        cmd("callout-delay-max", step("callout", "tick", 2**32 - 1, b"")),
        cmd("callout-delay-negative", step("callout", "tick", -1, b"")),
        cmd("callout-large-args", step("callout", "tick", 5, Rep(40_000, 0xAB))),
        cmd("callout-args-at-cap", step("callout", "tick", 5, Rep(CAP, 0xAB))),
        cmd("callout-args-over-cap", step("callout", "tick", 5, Rep(CAP + 1, 0xAB)), expect=None),
        cmd("callout-empty-method", step("callout", "", 0, b""), expect="bad-guest-data"),
        cmd("callout-method-257", step("callout", "m" * 257, 0, b""), expect="bad-guest-data"),
        cmd("cancel-own-callout", step("callout", "tick", 10, b""), step("cancel-callout", LAST),
            step("cancel-callout", LAST), steps=[FIRST_HANDLE, True, False]),
        cmd("cancel-pending-in-world", step("cancel-callout", PENDING[0]), step("cancel-callout", PENDING[1]),
            step("cancel-callout", PENDING[1]), steps=[True, True, False]),
        cmd("cancel-unknown", step("cancel-callout", 7), step("cancel-callout", 0),
            step("cancel-callout", 2**64 - 1), step("cancel-callout", -2), steps=[False] * 4),
        cmd("set-heartbeat", step("set-heartbeat", 1000), steps=[None]),
        cmd("set-heartbeat-zero", step("set-heartbeat", 0)),
        cmd("set-heartbeat-negative", step("set-heartbeat", -1), step("set-heartbeat", -(2**31))),
        cmd("set-heartbeat-wraps", step("set-heartbeat", 2**32 + 5)),
    ]


def _world() -> list[Case]:
    return [
        cmd("clone", step("clone", "/obj/sword"), steps=[{"ok": "/obj/sword#000100"}]),
        cmd("clone-unicode", step("clone", "/obj/ünï"), step("environment", "/obj/ünï#000100"),
            steps=[{"ok": "/obj/ünï#000100"}, None]),
        cmd("clone-missing-blueprint", step("clone", "/obj/nothing"),
            steps=[{"err": "no such blueprint: /obj/nothing"}]),
        cmd("clone-empty", step("clone", ""), steps=[{"err": "no such blueprint: "}]),
        cmd("clone-over-quota", step("clone", QUOTA), expect="host-limit", message="too many objects"),
        cmd("destruct", step("destruct", COIN), step("contents", HALL),
            steps=[{"ok": None}, [SELF, ACTOR, SWORD, NPC]]),
        cmd("destruct-contents-fall-out", step("destruct", BAG), step("contents", ACTOR),
            steps=[{"ok": None}, [GEM]]),
        cmd("destruct-player", step("destruct", ACTOR),
            steps=[{"err": f"{ACTOR} is a player; players are not destroyed"}]),
        cmd("destruct-missing", step("destruct", MISSING), steps=[{"err": f"no such object: {MISSING}"}]),
        cmd("destruct-self", step("destruct", SELF), steps=[{"ok": None}]),
        cmd("destruct-empty", step("destruct", ""), steps=[{"err": "no such object: "}]),
        cmd("destruct-unicode", step("destruct", UNI), steps=[{"ok": None}]),
        cmd("destruct-raises", step("destruct", BROKEN), expect="host-error", message="lost"),
        cmd("move", step("move", SWORD, ACTOR), step("environment", SWORD), step("contents", ACTOR),
            steps=[{"ok": None}, ACTOR, [BAG, SWORD]]),
        cmd("move-into-itself", step("move", BAG, BAG), step("environment", BAG),
            steps=[{"err": f"cannot move {BAG} into itself"}, ACTOR]),
        cmd("move-into-own-contents", step("move", BAG, GEM),
            steps=[{"err": f"cannot move {BAG} into itself"}]),
        cmd("move-missing-target", step("move", MISSING, HALL), steps=[{"err": f"no such object: {MISSING}"}]),
        cmd("move-missing-destination", step("move", SWORD, MISSING),
            steps=[{"err": f"no such destination: {MISSING}"}]),
        cmd("move-unicode", step("move", NPC, CAFE), step("contents", CAFE),
            steps=[{"ok": None}, [UNI, NPC]]),
        cmd("clone-then-move", step("clone", "/obj/coin"), step("move", "/obj/coin#000100", EMPTY),
            step("contents", EMPTY), steps=[{"ok": "/obj/coin#000100"}, {"ok": None}, ["/obj/coin#000100"]]),
        cmd("environment", step("environment", SELF), step("environment", GEM), step("environment", UNI),
            steps=[HALL, BAG, CAFE]),
        cmd("environment-none", step("environment", HALL), steps=[None]),
        cmd("environment-missing", step("environment", MISSING), step("environment", ""),
            steps=[None, None]),
        cmd("environment-raises", step("environment", BROKEN), expect="host-error"),
        cmd("contents-several", step("contents", HALL), steps=[[SELF, ACTOR, SWORD, COIN, NPC]]),
        cmd("contents-empty-room", step("contents", EMPTY), step("contents", SWORD), steps=[[], []]),
        cmd("contents-nested", step("contents", ACTOR), step("contents", BAG), steps=[[BAG], [GEM]]),
        cmd("contents-missing", step("contents", MISSING), step("contents", ""), steps=[[], []]),
        cmd("contents-unicode", step("contents", CAFE), steps=[[UNI]]),
        cmd("contents-many", *[step("clone", "/obj/coin") for _ in range(40)],
            *[step("move", f"/obj/coin#{100 + i:06d}", EMPTY) for i in range(40)], step("contents", EMPTY),
            limits=replace(DEFAULT, max_world_ops=100)),
        cmd("contents-raises", step("contents", BROKEN), expect="host-error"),
        cmd("query-public", step("query", SWORD, "edge"), step("query", HALL, "area"),
            step("query", GEM, "glow"), steps=[cbor2.dumps(7), cbor2.dumps("Thornwick"), cbor2.dumps(b"")]),
        cmd("query-always-public", step("query", NPC, "name"), step("query", NPC, "long"),
            step("query", CAFE, "short"),
            steps=[cbor2.dumps("Zoë 🐉"), cbor2.dumps("A dragon-keeper. " * 40), cbor2.dumps("a café ☕")]),
        cmd("query-not-public", step("query", SWORD, "secret"), step("query", HALL, "secret"),
            steps=[None, None]),
        cmd("query-public-but-absent", step("query", SWORD, "missing"), steps=[None]),
        cmd("query-zero-bytes", step("query", GEM, "hollow"), step("query", GEM, "nothing"),
            steps=[b"", None]),
        cmd("query-missing-object", step("query", MISSING, "name"), step("query", "", ""),
            steps=[None, None]),
        cmd("query-self-reads-own-state", step("query", SELF, "blob"), step("state-set", "x", b"\x01"),
            step("query", SELF, "x"), state=BASE_STATE, steps=[BASE_STATE["blob"], None, b"\x01"]),
        cmd("query-raises", step("query", BROKEN, "name"), expect="host-error",
            message="host function failed: RuntimeError: the world lost"),
    ]


def _clock_and_log() -> list[Case]:
    levels = ["debug", "info", "warn", "error"]
    return [
        cmd("now-ms", step("now-ms"), steps=[NOW_MS]),
        cmd("now-ms-zero", step("now-ms"), world=lambda: FixedWorld(now_ms=0), steps=[0]),
        cmd("now-ms-max", step("now-ms"), step("now-ms"), world=lambda: FixedWorld(now_ms=2**64 - 1),
            steps=[2**64 - 1] * 2),
        cmd("log-every-level", *(step("log", i, f"at {name} ✓") for i, name in enumerate(levels)),
            check=lambda o, _w: _assert(o.logs == [(n, f"at {n} ✓") for n in levels], o.logs)),
        cmd("log-empty", step("log", 1, "")),
        cmd("log-long-line-cut", step("log", 2, DRAGON * 1500)),
        cmd("log-bad-level", step("log", 4, "?"), expect="trap", message="discriminant"),
        cmd("log-negative-level", step("log", -1, "?"), expect="trap", message="discriminant"),
        cmd("log-lines-capped", repeat(40, "log", 1, "again"),
            check=lambda o, _w: _assert(len(o.logs) == 32, o.logs)),
        cmd("logs-kept-on-error", step("log", 2, "before"), step("say", b"\xff"), expect="bad-guest-data",
            check=lambda o, _w: _assert(o.logs == [("warn", "before")], o.logs)),
    ]


def _limits() -> list[Case]:
    """Each per-call limit trips at the same step, with the same error."""
    half = DEFAULT.max_state_bytes // 2 - 6  # key (1 byte) + CBOR head (5) + half: two fill the budget

    def blob(n: int) -> Cat:
        return Cat((b"\x5a" + n.to_bytes(4, "big"), Rep(n, 0)))

    return [
        cmd("max-tells", step("trace"), step("tell", ACTOR, "1"), step("say", "2"), step("emote", "3"),
            step("tell", ACTOR, "4"), limits=FEW_TELLS, expect="host-limit", tripped_at=4,
            message="more than 3 messages"),
        cmd("max-tells-exactly", step("tell", ACTOR, "1"), step("say", "2"), step("emote", "3"),
            limits=FEW_TELLS),
        cmd("max-tells-default", repeat(DEFAULT.max_tells, "say", "."), step("log", 1, "all sent"),
            step("tell", ACTOR, "one too many"), expect="host-limit",
            message=f"more than {DEFAULT.max_tells} messages",
            check=lambda o, _w: _assert(o.logs == [("info", "all sent")], o.logs)),
        cmd("max-bytes-sent", step("trace"), step("say", "a" * 30), step("say", "b" * 10),
            step("say", "c"), limits=FEW_BYTES_SENT, expect="host-limit", tripped_at=3,
            message="more than 40 bytes of messages"),
        cmd("max-bytes-sent-exactly", step("say", "a" * 30), step("tell", ACTOR, "b" * 10),
            limits=FEW_BYTES_SENT),
        cmd("gmcp-counts-as-message", step("trace"), step("say", "1"), step("say", "2"),
            step("gmcp", ACTOR, "Char.Vitals", "{}"), step("gmcp", ACTOR, "Char.Vitals", "{}"),
            limits=FEW_TELLS, expect="host-limit", tripped_at=4),
        cmd("max-callouts", step("trace"), step("callout", "a", 0, b""), step("callout", "b", 0, b""),
            step("callout", "c", 0, b""), limits=FEW_CALLOUTS, expect="host-limit", tripped_at=3,
            message="more than 2 callouts"),
        cmd("max-callouts-exactly", step("callout", "a", 0, b""), step("callout", "b", 0, b""),
            limits=FEW_CALLOUTS, steps=[FIRST_HANDLE, FIRST_HANDLE + 1]),
        cmd("max-callouts-default", repeat(DEFAULT.max_callouts + 1, "callout", "t", 0, b""),
            expect="host-limit"),
        cmd("max-callouts-cancel-does-not-refund", step("trace"), step("callout", "a", 0, b""),
            step("cancel-callout", LAST), step("callout", "b", 0, b""), step("callout", "c", 0, b""),
            limits=FEW_CALLOUTS, expect="host-limit", tripped_at=4),
        cmd("max-world-ops", step("trace"), step("clone", "/obj/coin"), step("move", COIN, EMPTY),
            step("destruct", SWORD), step("clone", "/obj/coin"), limits=FEW_WORLD_OPS, expect="host-limit",
            tripped_at=4, message="more than 3 clone/move/destruct"),
        cmd("max-world-ops-refusals-count", step("trace"), step("clone", "/obj/nothing"),
            step("move", MISSING, HALL), step("destruct", ACTOR), step("destruct", MISSING),
            limits=FEW_WORLD_OPS, expect="host-limit", tripped_at=4),
        cmd("max-world-ops-default", repeat(DEFAULT.max_world_ops + 1, "clone", "/obj/nothing"),
            expect="host-limit"),
        cmd("max-state-bytes", step("trace"), step("state-set", "a", cbor2.dumps("x" * 20)),
            step("state-set", "b", cbor2.dumps("y" * 20)), step("state-set", "c", cbor2.dumps("z" * 20)),
            limits=FEW_STATE_BYTES, expect="host-limit", tripped_at=3, message="more than 64 bytes of state"),
        cmd("max-state-bytes-rewrites-count", step("trace"),
            *[step("state-set", "k", cbor2.dumps(i)) for i in range(40)],
            limits=FEW_STATE_BYTES, expect="host-limit", tripped_at=30),
        cmd("max-state-bytes-default", step("trace"), step("state-set", "a", blob(half)),
            step("state-set", "b", blob(half)), step("state-set", "c", b"\xf6"), expect="host-limit",
            tripped_at=3),
        cmd("max-string-bytes-small", step("say", "a" * 12), step("say", "b" * 13), limits=SHORT_STRINGS,
            expect="bad-guest-data", message="over the 12-byte cap"),
        cmd("fuel", step("log", 1, "spinning"), step("spin", 2**63), limits=replace(DEFAULT, fuel=2_000_000),
            expect="fuel", check=lambda o, _w: _assert(o.logs == [("info", "spinning")], o.logs)),
        # How far a deadline lets the guest get depends on the machine: fuel is not compared.
        cmd("deadline", step("log", 1, "spinning"), step("spin", 2**63),
            limits=replace(DEFAULT, fuel=2**62, deadline_ms=50), expect="deadline", timed=True),
        cmd("memory", step("say", Rep(20 * 1024 * 1024)), limits=replace(DEFAULT, memory_bytes=16 * 1024 * 1024),
            expect="memory"),
    ]


def _hooks() -> list[Case]:
    """Hook arguments going in (the export side of the fast path)."""
    run = script(step("say", "from a script"), step("now-ms"))
    return [
        Case("on-load", "on-load", (),
             check=lambda o, _w: _assert(_report(o) == ["on-load", SELF], _report(o))),
        Case("on-load-unicode-self", "on-load", (), self_id=NPC),
        Case("on-load-empty-self", "on-load", (), self_id=""),
        Case("on-reload", "on-reload", ("0" * 64,)),
        Case("on-reload-unicode", "on-reload", (UNICODE,)),
        Case("on-enter-from-none", "on-enter", (ACTOR, None),
             check=lambda o, _w: _assert(_report(o) == ["on-enter", SELF, ACTOR, None], _report(o))),
        Case("on-enter-from-empty", "on-enter", (ACTOR, ""),
             check=lambda o, _w: _assert(_report(o) == ["on-enter", SELF, ACTOR, ""], _report(o))),
        Case("on-enter-from-unicode", "on-enter", (NPC, CAFE)),
        Case("on-leave-to-none", "on-leave", (ACTOR, None)),
        Case("on-leave-to-some", "on-leave", ("", HALL)),
        Case("on-leave-to-long", "on-leave", (ACTOR, DRAGON * 20_000)),
        Case("heartbeat", "heartbeat", ()),
        Case("reset", "reset", ()),
        cmd("on-command-unicode-actor", step("tell", NPC, "hi"), actor=NPC),
        cmd("on-command-unhandled", step("unhandled"),
            check=lambda o, _w: _assert(o.result is False, o.result)),
        Case("on-command-empty", "on-command", ("", "", ""), steps=[]),
        Case("on-callout", "on-callout", ("tick", cbor2.dumps({"n": 1}))),
        Case("on-callout-empty-args", "on-callout", ("tick", b"")),
        Case("on-callout-large-args", "on-callout", ("tick", bytes(range(256)) * 1200)),
        Case("on-callout-runs-script", "on-callout", ("run", run.encode()), steps=[None, NOW_MS]),
        Case("on-message", "on-message", (NPC, "tell", cbor2.dumps(UNICODE))),
        Case("on-message-empty-payload", "on-message", ("", "", b"")),
        Case("on-message-runs-script", "on-message", (ACTOR, "run", run.encode()), steps=[None, NOW_MS]),
        Case("on-message-script-not-utf8", "on-message",
             (ACTOR, "run", step("say", "ok").encode() + b" ; " + step("say", b"\xff").encode()),
             expect="bad-guest-data"),
    ]


def _assert(condition: bool, shown: Any) -> None:
    assert condition, shown


CASES: list[Case] = [*_string_params(), *_messages(), *_gmcp(), *_state(), *_scheduling(), *_world(), *_clock_and_log(),
                     *_limits(), *_hooks()]

#: Every host import in wit/realm.wit, as the guest calls them.
IMPORTS = ("tell", "say", "emote", "gmcp", "state-get", "state-set", "state-delete", "callout",
           "cancel-callout", "set-heartbeat", "clone", "destruct", "move", "environment", "contents",
           "query", "now-ms", "log")


# --------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------


@dataclass
class Run:
    outcome: Outcome
    world: FixedWorld


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_guest("import_probe", tmp_path_factory.getbasetemp() / "guests").read_bytes()


@pytest.fixture(scope="module")
def sandboxes(probe: bytes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Sandbox, str]]:
    fast = Sandbox(call_path="fast", cache_dir=tmp_path_factory.getbasetemp() / "wasm-cache-conventions")
    stock = Sandbox(call_path="stock", engine=fast.shared)
    return {s.call_path: (s, s.admit(probe)) for s in (fast, stock)}


def run_case(sandbox: Sandbox, version: str, case: Case) -> Run:
    world = case.world()
    sandbox.discard(version, "demo")  # a fresh instance: fuel then depends on this call alone
    outcome = sandbox.invoke(version, case.self_id, case.hook, case.args, dict(case.state), case.limits, world)
    return Run(outcome, world)


def _report(outcome: Outcome) -> list[Any]:
    """What the guest saw and got back (state ``out``)."""
    raw = outcome.state_changes["out"]
    assert raw is not None
    return list(cbor2.loads(raw))


def comparable(run: Run) -> dict[str, Any]:
    """Everything about a call but its wall time."""
    o = run.outcome
    return {
        "error": None if o.error is None else (ErrorKind(o.error.kind).value, o.error.message),
        "result": o.result,
        "effects": [e.to_json() for e in o.effects],
        "effect_values": list(o.effects),
        "state_changes": dict(o.state_changes),
        "report": _report(o) if "out" in o.state_changes else None,
        "logs": list(o.logs),
        "fuel_used": o.fuel_used,
        "world_calls": run.world.calls,
        "world_after": run.world.objects,
    }


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class ConventionsDisagree(AssertionError):
    """The fast and stock paths gave different outcomes for the same call."""


def assert_same(fast: dict[str, Any], stock: dict[str, Any]) -> None:
    """Equal, and equal in their reprs (so True is not 1 and str is not bytes)."""
    diffs = [f"{key}:\n  fast:  {_short(fast[key])}\n  stock: {_short(stock[key])}"
             for key in fast if fast[key] != stock[key] or repr(fast[key]) != repr(stock[key])]
    if diffs:
        raise ConventionsDisagree("the conventions disagree on\n" + "\n".join(diffs))


def check_claims(case: Case, run: Run) -> None:
    """The case tests what it says: the expected error or returned values."""
    o = run.outcome
    if case.expect is None:
        pass
    elif case.expect == "ok":
        assert o.error is None, o.error
        report = _report(o)
        assert report[:2] == [case.hook, case.self_id]
        if case.steps is not _UNSET:
            assert report[STEPS_AT[case.hook]:] == case.steps
    else:
        assert o.error is not None and o.error.kind == case.expect, o.error
        assert o.effects == [] and o.state_changes == {}
    if case.message is not None:
        assert case.message in (o.error.message if o.error else repr(_report(o))), o.error
    if case.tripped_at is not None:
        traced = [text for level, text in o.logs if level == "debug" and text.startswith("step ")]
        assert traced and traced[-1] == f"step {case.tripped_at}", traced
    if case.check is not None:
        case.check(o, run.world)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fast_and_stock_agree(case: Case, sandboxes: dict[str, tuple[Sandbox, str]]) -> None:
    runs = {path: run_case(sandbox, version, case) for path, (sandbox, version) in sandboxes.items()}
    fast, stock = comparable(runs["fast"]), comparable(runs["stock"])
    if case.timed:
        del fast["fuel_used"], stock["fuel_used"]
    assert_same(fast, stock)
    check_claims(case, runs["fast"])


def _ops(case: Case) -> list[str]:
    """The imports (and script words) a case's script calls."""
    if case.hook == "on-command":
        text = f"{case.args[1]} {case.args[2]}"
    elif case.hook in ("on-callout", "on-message") and case.args[-2] == "run":
        text = case.args[-1].decode("utf-8", "replace")
    else:
        return []
    ops: list[str] = []
    for part in text.split(";"):
        words = part.split()
        if words[:1] == ["repeat"]:
            words = words[2:]
        ops += words[:1]
    return ops


def test_every_import_and_hook_is_covered() -> None:
    """Each import of wit/realm.wit is called by several cases, and each hook runs."""
    wit = (Path(__file__).resolve().parents[2] / "wit" / "realm.wit").read_text()
    host = wit[wit.index("interface host"):wit.index("interface object")]
    declared = {line.split(":")[0].strip() for line in host.splitlines() if ": func(" in line}
    assert declared == set(IMPORTS)
    for name in IMPORTS:
        hits = [c.id for c in CASES if name in _ops(c)]
        assert len(hits) >= 3, (name, hits)
    assert {c.hook for c in CASES} == {str(hook) for hook in HOOKS}
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"

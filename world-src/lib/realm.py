"""The JitRealm SDK for blueprints written in Python.

A blueprint is one file that subclasses :class:`Blueprint` and writes only the
hooks it needs::

    import realm

    class Bell(realm.Blueprint):
        def on_load(self):
            self.state["name"] = "bell"
            self.state["short"] = "a brass bell"

        def on_command(self, actor, verb, args):
            if verb != "ring":
                return False
            self.state["rung"] = self.state.get("rung", 0) + 1
            realm.say("The bell rings.")
            return True

Three rules follow from how the driver runs blueprints:

* **Everything that must last goes in ``self.state``.** One wasm instance
  serves every object made from the blueprint and may be thrown away at any
  moment, so a fresh ``Blueprint`` object is made for every hook call and
  module globals are only a cache. ``self.state`` reads and writes the
  driver's state map of the object being run (``self.id``); values are plain
  Python data (None, bool, int, float, str, bytes, lists, dicts), stored as
  CBOR. Mutating a value you read (``self.state["items"].append(x)``) is
  saved too.
* **A hook is a transaction.** Messages, state writes, moves, clones and
  callouts take effect only if the hook returns normally. An exception undoes
  them all; its traceback goes to the tenant's log.
* **No ambient authority.** There is no file, network, environment, clock or
  randomness source from the operating system; the functions below are the
  whole world. ``print()`` writes to the tenant's log, ``now_ms()`` is the
  world clock, ``random`` works (reseeded from the world clock). Import
  modules at the top of the file: the file runs once, at build time, and a
  running blueprint has no files to import anything new from.
"""

from __future__ import annotations

import json
from typing import Any

import realm_cbor
from componentize_py_types import Err
from wit_world.imports import host

__all__ = [
    "Blueprint",
    "Refused",
    "State",
    "callout",
    "cancel_callout",
    "clone",
    "contents",
    "destruct",
    "emote",
    "environment",
    "gmcp",
    "log",
    "move",
    "now_ms",
    "query",
    "say",
    "set_heartbeat",
    "tell",
]


class Refused(Exception):
    """The world refused a clone, destruct or move; the message says why.

    Left uncaught it fails the hook, which undoes everything the hook did.
    """


# -- state ------------------------------------------------------------------

_MISSING: Any = object()


class State:
    """The state map of the object a hook runs for, as plain values.

    Behaves like a dict without iteration (the driver offers no listing):
    ``state[key]``, ``state.get(key, default)``, ``key in state``,
    ``state[key] = value``, ``del state[key]``, ``setdefault``, ``pop``.

    Values read are remembered for the rest of the call, so that a list or
    dict changed in place is written back when the hook returns.
    """

    def __init__(self) -> None:
        # key -> (CBOR last read or written, value handed out); both are
        # _MISSING for an absent key.
        self._seen: dict[str, tuple[Any, Any]] = {}

    def _load(self, key: str) -> Any:
        if not isinstance(key, str):
            raise TypeError(f"state keys are str, not {type(key).__name__}")
        seen = self._seen.get(key)
        if seen is None:
            raw = host.state_get(key)
            seen = (_MISSING, _MISSING) if raw is None else (raw, realm_cbor.loads(raw))
            self._seen[key] = seen
        return seen[1]

    def __getitem__(self, key: str) -> Any:
        value = self._load(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._load(key)
        return default if value is _MISSING else value

    def __contains__(self, key: str) -> bool:
        return self._load(key) is not _MISSING

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"state keys are str, not {type(key).__name__}")
        raw = realm_cbor.dumps(value)
        host.state_set(key, raw)
        self._seen[key] = (raw, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.pop(key)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        value = self._load(key)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        host.state_delete(key)
        self._seen[key] = (_MISSING, _MISSING)
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = self._load(key)
        if value is _MISSING:
            self[key] = value = default
        return value

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self[key] = value

    def _write_back(self) -> None:
        """Save values that were changed in place since they were read."""
        for key, (raw, value) in self._seen.items():
            if isinstance(value, (list, dict, bytearray)):
                new = realm_cbor.dumps(value)
                if new != raw:
                    host.state_set(key, new)
                    self._seen[key] = (new, value)

    def __repr__(self) -> str:
        known = {k: v for k, (_, v) in self._seen.items() if v is not _MISSING}
        return f"<State, seen so far: {known!r}>"


# -- the base class ---------------------------------------------------------


class Blueprint:
    """Subclass this once per blueprint file and override the hooks you need.

    Every hook has a do-nothing default. ``self.id`` is the id of the object
    the hook runs for (``/rooms/meadow`` or ``/obj/sword#000042``) and
    ``self.state`` its :class:`State`. A new instance is made for every hook
    call: keep nothing on ``self`` that must outlive the call.
    """

    def __init__(self, id: str) -> None:
        self.id = id
        self.state = State()

    def describe(self) -> None:
        """Set the state the driver reads without calling you: ``name``,
        ``short``, ``long``, ``ids``, ``details``, ``verbs``... It runs first
        in :meth:`on_load` and first in :meth:`on_reload` (like the C SDK's
        ``realm_describe``), so a verb or a description added in a new
        version reaches every object when the blueprint is reloaded. Call it
        yourself when what it shows changes (a lamp being lit)."""

    def on_load(self) -> None:
        """The object was just created (master object loaded or clone made)."""

    def on_reload(self, old_version: str) -> None:
        """The blueprint was recompiled; runs once, before the next hook."""

    def on_enter(self, who: str, origin: str | None) -> None:
        """``who`` arrived in this object from ``origin`` (None: new or logging in)."""

    def on_leave(self, who: str, destination: str | None) -> None:
        """``who`` left for ``destination`` (None: destroyed or logging out)."""

    def heartbeat(self) -> None:
        """Runs every interval set with :func:`set_heartbeat`."""

    def reset(self) -> None:
        """The periodic room reset: respawn things, close doors."""

    def on_command(self, actor: str, verb: str, args: str) -> bool:
        """A player's command; return True if this object handled it."""
        return False

    def on_callout(self, method: str, args: Any) -> None:
        """A :func:`callout` is due. By default it calls the method named
        ``method`` on this object, with ``args`` unless it is None."""
        handler = getattr(self, method, None) if not method.startswith("_") else None
        if not callable(handler):
            log(f"callout {method!r}: {type(self).__name__} has no such method", "warn")
            return
        if args is None:
            handler()
        else:
            handler(args)

    def on_message(self, sender: str, kind: str, payload: Any) -> None:
        """Another object sent a message; a ``tell`` arrives as kind "tell"
        with its text as ``payload``."""


# -- the world --------------------------------------------------------------


def tell(target: str, text: str) -> None:
    """Send ``text`` to one object (a player sees it; an object gets on_message)."""
    host.tell(target, text)


def gmcp(target: str, package: str, data: Any = None) -> None:
    """Send GMCP ``package`` (e.g. "Char.Vitals") with ``data`` (plain JSON
    values) to a player's client."""
    host.gmcp(target, package, json.dumps(data))


def say(text: str) -> None:
    """Say ``text`` to everyone else in this object's environment."""
    host.say(text)


def emote(text: str) -> None:
    """Act out ``text`` ("waves."): others see "<name> waves."."""
    host.emote(text)


def callout(method: str, delay_ms: int, args: Any = None) -> int:
    """Call ``method`` on this object after ``delay_ms`` milliseconds, passing
    ``args`` (any state value). Returns a handle for :func:`cancel_callout`."""
    return host.callout(method, delay_ms, realm_cbor.dumps(args))


def cancel_callout(handle: int) -> bool:
    """Cancel a pending callout; True if it had not run yet."""
    return host.cancel_callout(handle)


def set_heartbeat(interval_ms: int) -> None:
    """Run :meth:`Blueprint.heartbeat` every ``interval_ms``; 0 stops it."""
    host.set_heartbeat(interval_ms)


def clone(blueprint: str) -> str:
    """Make a clone of ``blueprint`` ("/obj/sword") and return its id.

    Raises :class:`Refused` if the world says no (unknown blueprint, quota)."""
    try:
        return host.clone(blueprint)
    except Err as err:
        raise Refused(err.value) from None


def destruct(target: str) -> None:
    """Destroy an object; its contents fall into its environment."""
    try:
        host.destruct(target)
    except Err as err:
        raise Refused(err.value) from None


def move(target: str, destination: str) -> None:
    """Move ``target`` into ``destination``."""
    try:
        host.move(target, destination)
    except Err as err:
        raise Refused(err.value) from None


def environment(target: str) -> str | None:
    """The object that contains ``target``, if any."""
    return host.environment(target)


def contents(target: str) -> list[str]:
    """The objects inside ``target``, oldest arrival first."""
    return host.contents(target)


def query(target: str, key: str, default: Any = None) -> Any:
    """Read a public state value of another object (``name``, ``short``,
    ``long``, ``ids``, ``exits``, or a key it lists in ``public``)."""
    raw = host.query(target, key)
    return default if raw is None else realm_cbor.loads(raw)


def now_ms() -> int:
    """Milliseconds since the Unix epoch, by the world clock."""
    return host.now_ms()


_LEVELS = {
    "debug": host.Level.DEBUG,
    "info": host.Level.INFO,
    "warn": host.Level.WARN,
    "error": host.Level.ERROR,
}


def log(text: str, level: str = "info") -> None:
    """Write a line to the tenant's log; level is debug, info, warn or error."""
    try:
        wit_level = _LEVELS[level]
    except KeyError:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}") from None
    host.log(wit_level, str(text))

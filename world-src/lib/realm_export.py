"""The bridge between componentize-py and an author's :class:`realm.Blueprint`.

componentize-py wants an app module with a class ``Object`` that implements
the WIT ``object`` interface: nine hooks, each taking the object id first.
Authors should not have to write that, so the build generates a three-line
app module that hands the author's source to :func:`export`, which runs it
and returns such a class. Every hook call then

1. makes a fresh instance of the author's class for ``self-id``,
2. converts the WIT arguments to plain Python (CBOR payloads decoded),
3. calls the author's hook, then writes back state values changed in place,
4. on an exception, logs the traceback to the tenant's log and re-raises, so
   that the call traps and the driver discards all of its effects.

The source is compiled under the author's own file name and registered with
``linecache`` so that tracebacks in the tenant's log show the author's file,
line and code. ``print()`` and ``sys.stderr`` go to the tenant's log as well:
Python blueprints are built without WASI, so there is no stdout to write to.

componentize-py runs all of this once, at build time, and snapshots the
interpreter; an instance starts from that snapshot. Two consequences are
handled here: a module first imported inside a hook would have to be read
from a filesystem the guest does not have, so such an import raises a clear
ImportError instead of trapping; and ``random``, seeded at build time, is
reseeded from the world clock on an instance's first hook call so that
instances do not all replay the same numbers.
"""

from __future__ import annotations

import _imp
import linecache
import random
import sys
import traceback
import types
from typing import Any

import realm
import realm_cbor
from wit_world import exports

#: The name the author's source runs under (``__name__`` in that file).
MODULE_NAME = "blueprint"


#: Author files by the name their code objects carry: the guest has no disk
#: to read them back from.
_SOURCES: dict[str, list[str]] = {}


class BuildError(Exception):
    """The author's file ran but does not define a usable blueprint."""


class _LogStream:
    """A write-only text stream that sends each complete line to the log."""

    def __init__(self, level: str) -> None:
        self.level = level
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            realm.log(line, self.level)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            realm.log(line, self.level)

    def isatty(self) -> bool:
        return False


def load(source: str, filename: str, code: types.CodeType | None = None) -> type[realm.Blueprint]:
    """Run the author's source as module ``blueprint`` (``code``: the
    source compiled already); return its class.

    The file must define exactly one subclass of :class:`realm.Blueprint`
    (any name) that no other class in it derives from; importing others
    from a library is fine.
    """
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = filename
    lines = source.splitlines(True)
    _SOURCES[filename] = lines
    linecache.cache[filename] = (len(source), None, lines, filename)
    sys.modules[MODULE_NAME] = module
    if code is None:
        code = compile(source, filename, "exec", dont_inherit=True)
    exec(code, module.__dict__)
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, realm.Blueprint)
        and value.__module__ == MODULE_NAME
    ]
    # A file may build its class on a base of its own: take the most derived.
    leaves = [c for c in defined if not any(o is not c and issubclass(o, c) for o in defined)]
    if len(leaves) != 1:
        names = ", ".join(cls.__name__ for cls in leaves) or "none"
        raise BuildError(
            "a blueprint file defines exactly one class derived from realm.Blueprint "
            f"(found: {names})"
        )
    return leaves[0]


def format_exception(exc: BaseException) -> str:
    """A traceback for the tenant's log, without reading any file.

    ``traceback.format_exc()`` would look up every frame's source line on
    disk, and a guest has no disk: that would trap. Only the author's file has
    its lines, kept by :func:`load`; the bridge's own frames are left out.
    """
    lines = ["Traceback (most recent call last):"]
    frames = traceback.StackSummary.extract(
        traceback.walk_tb(exc.__traceback__), lookup_lines=False
    )
    for frame in frames:
        if frame.filename == __file__:
            continue
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
        source = _SOURCES.get(frame.filename)
        if source and frame.lineno and 0 < frame.lineno <= len(source):
            lines.append("    " + source[frame.lineno - 1].strip())
    lines.extend(line.rstrip("\n") for line in traceback.format_exception_only(exc))
    return "\n".join(lines)


class _NoImportsAtRunTime:
    """A meta-path finder for after the snapshot: modules that need a file
    cannot be imported any more (builtin and frozen ones still can)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name in sys.builtin_module_names or _imp.is_frozen(name):
            return None
        raise ImportError(
            f"cannot import {name!r}: a running blueprint has no files to load modules "
            "from; it may import the SDK, the library modules beside it and the standard "
            "library modules the runtime preloads (realm_runtime.PRELOADED)",
            name=name,
        )


def _already_logged(*exc_info: Any) -> None:
    pass


def _decode(payload: bytes) -> Any:
    """CBOR payload to a value; bytes that are not CBOR are handed over as is."""
    try:
        return realm_cbor.loads(payload)
    except realm_cbor.CBORError:
        return payload


#: Hooks that describe the object first, as the C SDK does with
#: ``realm_describe``: an edited description reaches every object when the
#: blueprint is reloaded.
_DESCRIBED_HOOKS = ("on_load", "on_reload")

_installed = [False]


def install() -> None:
    """Route ``print()`` and ``sys.stderr`` to the log, keep tracebacks from
    being printed twice, and refuse imports that would need a file. Runs at
    build time, before the snapshot, so every instance starts this way."""
    if _installed[0]:
        return
    _installed[0] = True
    sys.stdout, sys.stderr = _LogStream("info"), _LogStream("error")
    # A hook's exception is logged by run() before it propagates; what
    # componentize-py does with it next (print it, then trap) must not print
    # it again, nor read source files to do so.
    sys.excepthook = _already_logged
    sys.meta_path.insert(0, _NoImportsAtRunTime)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


_fresh = [True]  # true in the snapshot, so in every new instance


def run(author_class: type[realm.Blueprint], self_id: str, hook: str, *args: Any) -> Any:
    """One hook call: a fresh author object, its hook (after ``describe``
    for on-load and on-reload), state written back, an exception logged
    with its traceback and re-raised (the call traps)."""
    if _fresh[0]:
        _fresh[0] = False
        random.seed(realm.now_ms())
    try:
        instance = author_class(self_id)
        if hook in _DESCRIBED_HOOKS:
            instance.describe()
        result = getattr(instance, hook)(*args)
        instance.state._write_back()
        return result
    except BaseException as exc:
        sys.stdout.flush()
        realm.log(format_exception(exc), "error")
        raise
    finally:
        _flush()


def object_class(get_class: Any) -> type:
    """The ``Object`` class componentize-py exports: each hook runs
    ``get_class()``'s hook through :func:`run`."""

    class Object(exports.Object):
        def on_load(self, self_id: str) -> None:
            run(get_class(), self_id, "on_load")

        def on_reload(self, self_id: str, old_version: str) -> None:
            run(get_class(), self_id, "on_reload", old_version)

        def on_enter(self, self_id: str, who: str, from_: str | None) -> None:
            run(get_class(), self_id, "on_enter", who, from_)

        def on_leave(self, self_id: str, who: str, to: str | None) -> None:
            run(get_class(), self_id, "on_leave", who, to)

        def heartbeat(self, self_id: str) -> None:
            run(get_class(), self_id, "heartbeat")

        def reset(self, self_id: str) -> None:
            run(get_class(), self_id, "reset")

        def on_command(self, self_id: str, actor: str, verb: str, args: str) -> bool:
            return bool(run(get_class(), self_id, "on_command", actor, verb, args))

        def on_callout(self, self_id: str, method: str, args: bytes) -> None:
            run(get_class(), self_id, "on_callout", method, _decode(args))

        def on_message(self, self_id: str, sender: str, kind: str, payload: bytes) -> None:
            run(get_class(), self_id, "on_message", sender, kind, _decode(payload))

    return Object


def export(source: str, filename: str) -> type:
    """Build the ``Object`` class componentize-py exports for one blueprint
    (a component of its own; the shared runtime is :mod:`realm_runtime`)."""
    author_class = load(source, filename)
    install()
    return object_class(lambda: author_class)

"""The shared Python runtime: one component that runs any Python blueprint.

A Python blueprint's version is its source. ``jitrealm build`` makes this
module into one component with componentize-py, once per release of the SDK
(this directory, the WIT and componentize-py's version), and every Python
blueprint of every tenant runs in an instance of it. The host hands an
instance its blueprint's source once, through ``python-source.load`` (see
wit/python.wit), before any hook; the hooks then run the author's class
exactly as a component built from the file alone would (:mod:`realm_export`
does both).

componentize-py imports this module at build time and snapshots the
interpreter, so everything imported here is there, already initialised, in
every instance: the SDK, every library module of this directory, and the
standard library modules a blueprint may import (``PRELOADED``). A running
instance has no files, so an ``import`` of anything else fails with a clear
ImportError, at load: the driver refuses such a version when it is admitted.
"""

from __future__ import annotations

import binascii
import importlib
import marshal
import os
import types

import realm
import realm_export
from componentize_py_types import Err
from wit_world import exports

#: Standard library modules a blueprint may import (besides those the SDK
#: itself loads). Plain computation only: the guest has no files, clock,
#: network or randomness from the system to offer anything else.
PRELOADED = (
    "abc", "base64", "binascii", "bisect", "calendar", "collections", "collections.abc",
    "colorsys", "copy", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
    "functools", "hashlib", "heapq", "itertools", "json", "keyword", "math", "numbers",
    "operator", "pprint", "random", "re", "statistics", "string", "struct", "textwrap",
    "types", "typing", "unicodedata", "zlib",
)  # fmt: skip

#: Modules of the SDK directory that are not libraries for blueprints.
_NOT_LIBRARIES = {"realm_runtime", "wit_world", "componentize_py_types"}


def _preload() -> None:
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # not in this CPython build: a blueprint importing it is told at load
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sorted(os.listdir(here)):
        name, ext = os.path.splitext(entry)
        if ext == ".py" and name.isidentifier() and name not in _NOT_LIBRARIES:
            importlib.import_module(name)


_preload()
realm_export.install()

#: The blueprint class of this instance, once ``load`` has run.
_loaded: list[type[realm.Blueprint]] = []


def _blueprint_class() -> type[realm.Blueprint]:
    if not _loaded:
        raise RuntimeError("no blueprint loaded in this instance (the host calls load first)")
    return _loaded[0]


Object = realm_export.object_class(_blueprint_class)


class PythonSource(exports.PythonSource):
    def load(self, filename: str, source: str, code: str) -> str:
        if _loaded:
            raise Err(f"a blueprint ({_loaded[0].__name__}) is already loaded in this instance")
        compiled = None
        if code:
            try:
                compiled = marshal.loads(binascii.a2b_base64(code))
            except (EOFError, ValueError, TypeError, binascii.Error):
                compiled = None
            if not isinstance(compiled, types.CodeType) or compiled.co_filename != filename:
                compiled = None
        try:
            made = compiled is None
            if made:
                compiled = compile(source, filename, "exec", dont_inherit=True)
            _loaded.append(realm_export.load(source, filename, compiled))
        except BaseException as exc:
            text = realm_export.format_exception(exc)
            realm.log(text, "error")
            lines = text.splitlines()
            where = next(
                (
                    ln.strip()
                    for ln in reversed(lines)
                    if ln.strip().startswith(f'File "{filename}"')
                ),
                "",
            )
            raise Err(
                (lines[-1] if lines else type(exc).__name__) + (f" ({where})" if where else "")
            ) from None
        finally:
            realm_export._flush()
        return binascii.b2a_base64(marshal.dumps(compiled), newline=False).decode() if made else ""

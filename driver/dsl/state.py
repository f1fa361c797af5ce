"""A declarative room's replicated state: its schema, its values, and the patches that change it.

The bundle's ``state`` section declares classes of fields (``string``, ``number``,
``integer``, ``boolean``, ``any``, ``{"map": T}``, ``{"ref": Class}``, ``{"array": T}``)
and their defaults, as in the reference design. A room's state is then plain JSON data
(dicts, lists, scalars) shaped by the root class: it is what clients see, what guards
read as ``state``, and what a snapshot stores, so it needs no conversion anywhere.

Changes are recorded as they are made rather than found by diffing afterwards: every
write through :class:`Tracker` appends its RFC 6902 operation (``add``, ``replace``,
``remove``) and an undo record. That makes the patch of an event cost O(what changed)
instead of O(the state), and makes an event that fails cheap to take back (replay the
undo records) — the all-or-nothing rule. So we do not use the ``jsonpatch`` package:
its value is diffing two documents, which is exactly the work this design avoids; the
clients apply patches with a dozen lines of their own.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "ClassDef",
    "FieldType",
    "SchemaError",
    "StateError",
    "StateSchema",
    "Tracker",
    "pointer",
]

PRIMITIVES: Final = frozenset({"string", "number", "integer", "boolean", "any"})
_MISSING: Final = object()


class SchemaError(ValueError):
    """The bundle's ``state`` section is wrong; ``path`` is a JSON path into the bundle."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class StateError(ValueError):
    """An effect tried to write something the schema does not allow (at run time)."""


@dataclass(slots=True, eq=False)
class FieldType:
    """One field's type. ``of`` is the element type of a map or array; ``cls`` the class
    of a ref (or of a map's/array's elements when those are objects)."""

    kind: str  # a primitive, "map", "array" or "ref"
    of: FieldType | None = None
    cls: ClassDef | None = None

    def describe(self) -> str:
        if self.kind == "ref":
            assert self.cls is not None
            return self.cls.name
        if self.kind in ("map", "array"):
            assert self.of is not None
            return f"{self.kind} of {self.of.describe()}"
        return self.kind


@dataclass(slots=True, eq=False)
class ClassDef:
    name: str
    fields: dict[str, FieldType] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


def pointer(segments: tuple[str, ...] | list[str]) -> str:
    """A JSON pointer (RFC 6901) for a path of keys."""
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


class StateSchema:
    """The compiled ``state`` section: build default values, check paths and values."""

    def __init__(self, section: Mapping[str, Any] | None, base: str = "$.state") -> None:
        section = section or {
            "root": "State",
            "classes": {"State": {"phase": "string", "stepIndex": "number"}},
        }
        classes = section.get("classes")
        root = section.get("root", "State")
        if not isinstance(classes, Mapping) or not classes:
            raise SchemaError(f"{base}.classes", "declare at least one class")
        self.classes: dict[str, ClassDef] = {name: ClassDef(name) for name in classes}
        if root not in self.classes:
            raise SchemaError(f"{base}.root", f"the root class {root!r} is not declared")
        for name, fields in classes.items():
            where = f"{base}.classes.{name}"
            if not isinstance(fields, Mapping):
                raise SchemaError(where, "a class is an object of field -> type")
            for fname, spec in fields.items():
                self.classes[name].fields[fname] = self._type(spec, f"{where}.{fname}")
        defaults = section.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            raise SchemaError(f"{base}.defaults", "defaults is an object of class -> values")
        for name, values in defaults.items():
            where = f"{base}.defaults.{name}"
            cls = self.classes.get(name)
            if cls is None:
                raise SchemaError(where, f"no class {name!r} to give defaults to")
            if not isinstance(values, Mapping):
                raise SchemaError(where, "defaults of a class are an object of field -> value")
            for fname, value in values.items():
                ftype = cls.fields.get(fname)
                if ftype is None:
                    raise SchemaError(f"{where}.{fname}", f"{name} has no field {fname!r}")
                try:
                    cls.defaults[fname] = self.coerce(ftype, value, fname)
                except StateError as exc:
                    raise SchemaError(f"{where}.{fname}", str(exc)) from None
        self.root = self.classes[root]
        self._check_cycles()

    def _type(self, spec: Any, where: str) -> FieldType:
        if isinstance(spec, str):
            if spec in PRIMITIVES:
                return FieldType(spec)
            if spec in self.classes:  # a bare class name is a ref
                return FieldType("ref", cls=self.classes[spec])
            raise SchemaError(where, f"unknown type {spec!r} (a primitive or a declared class)")
        if isinstance(spec, Mapping) and len(spec) == 1:
            ((kind, inner),) = spec.items()
            if kind == "ref":
                if inner not in self.classes:
                    raise SchemaError(f"{where}.ref", f"no class {inner!r}")
                return FieldType("ref", cls=self.classes[inner])
            if kind in ("map", "array"):
                of = self._type(inner, f"{where}.{kind}")
                return FieldType(kind, of=of, cls=of.cls)
        raise SchemaError(
            where, f"a field type is a primitive, a class, or {{map|array|ref: ...}}, not {spec!r}"
        )

    def _check_cycles(self) -> None:
        # A ref is instantiated with its defaults, so a class that refs itself
        # (directly or not) would be infinitely deep. Maps and arrays start empty.
        def visit(cls: ClassDef, stack: tuple[str, ...]) -> None:
            if cls.name in stack:
                raise SchemaError(
                    "$.state.classes", f"refs form a cycle: {' -> '.join((*stack, cls.name))}"
                )
            for ftype in cls.fields.values():
                if ftype.kind == "ref":
                    assert ftype.cls is not None
                    visit(ftype.cls, (*stack, cls.name))

        for cls in self.classes.values():
            visit(cls, ())

    # -- values -------------------------------------------------------------------------

    def new(self, cls: ClassDef | None = None) -> dict[str, Any]:
        """A fresh object of ``cls`` (the root by default) with its defaults."""
        cls = cls or self.root
        out: dict[str, Any] = {}
        for name, ftype in cls.fields.items():
            if name in cls.defaults:
                out[name] = copy.deepcopy(cls.defaults[name])
            else:
                out[name] = self.zero(ftype)
        return out

    def zero(self, ftype: FieldType) -> Any:
        kind = ftype.kind
        if kind == "ref":
            assert ftype.cls is not None
            return self.new(ftype.cls)
        return _ZEROS[kind]() if kind in _ZEROS else None

    def coerce(self, ftype: FieldType, value: Any, where: str) -> Any:
        """``value`` checked against ``ftype``; a fresh copy (objects get their defaults).
        Raises :class:`StateError` naming ``where``."""
        kind = ftype.kind
        if kind == "string":
            if isinstance(value, str):
                return value
        elif kind == "number":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if isinstance(value, float) and not math.isfinite(value):
                    raise StateError(f"{where}: {value!r} is not a finite number")
                return value
        elif kind == "integer":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif kind == "boolean":
            if isinstance(value, bool):
                return value
        elif kind == "any":
            return json_copy(value, where)
        elif kind == "ref":
            if isinstance(value, Mapping):
                assert ftype.cls is not None
                return self.coerce_object(ftype.cls, value, where)
        elif kind == "map":
            if isinstance(value, Mapping):
                assert ftype.of is not None
                return {str(k): self.coerce(ftype.of, v, f"{where}.{k}") for k, v in value.items()}
        elif kind == "array":
            if isinstance(value, (list, tuple)):
                assert ftype.of is not None
                return [self.coerce(ftype.of, v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise StateError(f"{where}: expected {ftype.describe()}, got {_js_type(value)}")

    def coercer(self, ftype: FieldType) -> Callable[[Any, str], Any]:
        """``coerce`` for one type, as a function: the plain values of a primitive type
        (what effects write all the time) are checked in a step or two, anything else
        goes through :meth:`coerce` (which gives the same value or raises)."""
        kind = ftype.kind
        coerce = self.coerce
        if kind == "number":

            def number(value: Any, where: str) -> Any:
                t = type(value)
                if t is int or (t is float and math.isfinite(value)):
                    return value
                return coerce(ftype, value, where)

            return number
        if kind in ("string", "integer", "boolean"):
            plain = {"string": str, "integer": int, "boolean": bool}[kind]

            def primitive(value: Any, where: str) -> Any:
                return value if type(value) is plain else coerce(ftype, value, where)

            return primitive
        of = ftype.of
        if kind == "array" and of is not None and of.kind in ("string", "integer", "boolean"):
            item = {"string": str, "integer": int, "boolean": bool}[of.kind]

            def array(value: Any, where: str) -> Any:
                # A fresh copy of a list of plain items; anything else: the long way.
                if type(value) is list and all(type(v) is item for v in value):
                    return value[:]
                return coerce(ftype, value, where)

            return array
        return lambda value, where: coerce(ftype, value, where)

    def coerce_object(self, cls: ClassDef, value: Mapping[str, Any], where: str) -> dict[str, Any]:
        out = self.new(cls)
        for name, v in value.items():
            ftype = cls.fields.get(name)
            if ftype is None:
                raise StateError(f"{where}: {cls.name} has no field {name!r}")
            out[name] = self.coerce(ftype, v, f"{where}.{name}")
        return out

    def migrate(self, old: Any) -> dict[str, Any]:
        """Keep what an old state still fits in this schema (hot reload): fields that
        exist with a value of the right type; everything else gets its default."""
        return self._migrate_object(self.root, old)

    def _migrate_object(self, cls: ClassDef, old: Any) -> dict[str, Any]:
        out = self.new(cls)
        if not isinstance(old, Mapping):
            return out
        for name, ftype in cls.fields.items():
            if name not in old:
                continue
            value = old[name]
            if ftype.kind == "ref" and isinstance(value, Mapping):
                assert ftype.cls is not None
                out[name] = self._migrate_object(ftype.cls, value)
                continue
            if (
                ftype.kind == "map"
                and isinstance(value, Mapping)
                and ftype.of
                and ftype.of.kind == "ref"
            ):
                assert ftype.of.cls is not None
                out[name] = {
                    str(k): self._migrate_object(ftype.of.cls, v) for k, v in value.items()
                }
                continue
            try:
                out[name] = self.coerce(ftype, value, name)
            except StateError:
                pass  # the type changed: the default stands
        return out

    # -- paths --------------------------------------------------------------------------

    def resolve(self, segments: list[str | None], where: str) -> FieldType:
        """The type at a path of static keys (None: a key computed at run time, which only
        a map may take). Raises SchemaError (with ``where``) for a path the state lacks."""
        current = FieldType("ref", cls=self.root)
        shown: list[str] = []
        for seg in segments:
            if current.kind == "ref":
                assert current.cls is not None
                if seg is None:
                    raise SchemaError(
                        where,
                        f"{'.'.join(shown) or 'the state'} is a {current.cls.name}: "
                        "its fields are named, not computed",
                    )
                nxt = current.cls.fields.get(seg)
                if nxt is None:
                    raise SchemaError(
                        where,
                        f"{'.'.join(shown) or 'the state'} ({current.cls.name}) "
                        f"has no field {seg!r}",
                    )
                current = nxt
            elif current.kind == "map":
                assert current.of is not None
                current = current.of
            else:
                raise SchemaError(
                    where, f"{'.'.join(shown)} is {current.describe()}: nothing is inside it"
                )
            shown.append(seg if seg is not None else "*")
        return current


_ZEROS: dict[str, Any] = {
    "string": lambda: "",
    "number": lambda: 0,
    "integer": lambda: 0,
    "boolean": lambda: False,
    "any": lambda: None,
    "map": dict,
    "array": list,
}


def json_copy(value: Any, where: str = "value", depth: int = 0) -> Any:
    """A copy of JSON data (dicts with string keys, lists, scalars); anything else, or
    nesting deeper than 64, raises StateError. Cheaper than deepcopy: no memo."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if not math.isfinite(value):
            raise StateError(f"{where}: {value!r} is not a finite number")
        return value
    if depth > 64:
        raise StateError(f"{where}: nested too deeply")
    if t is list or t is tuple:
        return [json_copy(v, where, depth + 1) for v in value]
    if t is dict:
        return {str(k): json_copy(v, where, depth + 1) for k, v in value.items()}
    raise StateError(f"{where}: {t.__name__} is not JSON")


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class Tracker:
    """Writes to a room's state, each recorded as a patch operation and an undo record.

    ``ops`` is the patch since the last :meth:`take`; :meth:`mark` and :meth:`rollback`
    bracket an event so that a failing one leaves neither a change nor an operation.
    Consecutive replaces of one path (a timer ticking) are folded into one while no
    structural operation came in between, so a batch carries each value once.
    """

    __slots__ = ("ops", "_undo", "_last_replace", "_structural", "_floor")

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self._undo: list[tuple[dict[str, Any], str, Any]] = []
        self._last_replace: dict[str, int] = {}
        self._structural = False
        self._floor = 0  # ops before this belong to earlier events: never folded into

    def mark(self) -> tuple[int, int, bool]:
        self._floor = len(self.ops)
        self._structural = False
        return len(self.ops), len(self._undo), False

    def commit(self) -> None:
        """The event succeeded: its undo records are no longer needed."""
        self._undo.clear()

    def rollback(self, mark: tuple[int, int, bool]) -> None:
        n_ops, n_undo, structural = mark
        undo = self._undo
        while len(undo) > n_undo:
            container, key, old = undo.pop()
            if old is _MISSING:
                container.pop(key, None)
            else:
                container[key] = old
        if len(self.ops) != n_ops:
            del self.ops[n_ops:]
            self._last_replace = {p: i for p, i in self._last_replace.items() if i < n_ops}
        self._structural = structural

    def take(self) -> list[dict[str, Any]]:
        ops, self.ops = self.ops, []
        self._last_replace = {}
        self._structural = False
        self._floor = 0
        return ops

    def set(self, container: dict[str, Any], key: str, value: Any, path: str) -> None:
        old = container.get(key, _MISSING)
        if (
            old is not _MISSING
            and type(old) is type(value)
            and type(value) not in (dict, list)
            and old == value
        ):
            return  # nothing changes, nothing to send
        self._undo.append((container, key, old))
        container[key] = value
        # The op shares the value with the state: values written are always fresh
        # objects (see StateSchema.coerce), and a later write inside them is an op of
        # its own, so applying the ops in order still ends where the state is.
        out = value
        if old is _MISSING:
            self.ops.append({"op": "add", "path": path, "value": out})
            self._structural = True
            return
        index = self._last_replace.get(path)
        if index is not None and index >= self._floor and not self._structural:
            self.ops[index]["value"] = out
            return
        self._last_replace[path] = len(self.ops)
        self.ops.append({"op": "replace", "path": path, "value": out})

    def delete(self, container: dict[str, Any], key: str, path: str) -> bool:
        if key not in container:
            return False
        self._undo.append((container, key, container[key]))
        del container[key]
        self.ops.append({"op": "remove", "path": path})
        self._structural = True
        return True


def apply_patch(doc: Any, ops: list[Mapping[str, Any]]) -> Any:
    """Apply the operations this module produces (add/replace/remove on object keys) to
    ``doc`` in place; returns ``doc``. For tests and the Python client stub."""
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        target = doc
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            target[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del target[last]
        else:
            raise ValueError(f"unsupported op {op['op']!r}")
    return doc

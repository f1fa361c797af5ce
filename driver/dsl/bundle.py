"""Declarative room bundles: the format, its validation, and the compiled form rooms run.

A bundle is one JSON document (``world-src/rooms/quiz.json``) holding a room's whole
logic as data: an XState ``machine`` whose guards are JSONLogic, named ``actions`` made
of whitelisted effects (:mod:`driver.dsl.effects`), the replicated ``state`` schema
(:mod:`driver.dsl.state`), the ``events`` clients may send (a JSON Schema each), MUD
``commands`` that send those events, ``lifecycle`` events, ``config`` defaults and
``metadata``. Its shape is the JSON Schema shipped next to this module
(``bundle.schema.json``).

:func:`compile_bundle` checks a bundle in two passes and reports *every* problem it finds
with the JSON path where it is: first the schema (jsonschema), then what a schema cannot
say — the machine compiles, every JSONLogic rule compiles within its limits, every action
the machine names exists and every effect's state path exists in the state schema with
the right type, commands name declared events. A bundle that compiles cannot fail later
for a structural reason; what remains are run-time errors of one event (a missing map
key, a value of the wrong type, a runaway machine), which that event pays for alone.

A compiled bundle is immutable and shared by every room of its version (the version is
the SHA-256 of its bytes, as for components).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from driver.dsl import jsonlogic
from driver.dsl.effects import RULE_LIMITS, EffectFn, compile_effects
from driver.dsl.fastrules import compile_rule
from driver.dsl.state import SchemaError, StateSchema
from driver.dsl.statechart import Chart, DefinitionError, compile_chart
from driver.dsl.statechart.model import CUSTOM, Action

__all__ = [
    "BundleError",
    "CompiledBundle",
    "Command",
    "EventSpec",
    "SCHEMA_FILE",
    "compile_bundle",
    "version_of",
]

SCHEMA_FILE = Path(__file__).with_name("bundle.schema.json")
MAX_BUNDLE_BYTES = 1024 * 1024
DEFAULT_PATCH_MS = 50
DEFAULT_MAX_CLIENTS = 16
DEFAULT_RECONNECT_SECONDS = 30.0


class BundleError(ValueError):
    """A bundle was refused. ``problems`` lists (JSON path, what is wrong), every one found."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        shown = "; ".join(f"{path}: {message}" for path, message in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(shown + more)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """A message clients may send: its payload schema and the machine event it becomes."""

    name: str
    type: str
    validator: Any  # a jsonschema validator, or None when any payload goes
    fast: Callable[[Any], bool] | None = None  # True: valid for sure (see _fast_check)

    def problem(self, payload: Any) -> str | None:
        """What is wrong with ``payload`` (None: nothing)."""
        if self.validator is None:
            return None
        fast = self.fast
        if fast is not None and fast(payload):
            return None
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(payload))
        if error is None:
            return None
        where = error.json_path
        return f"{where}: {error.message[:200]}" if where != "$" else error.message[:200]


@dataclass(frozen=True, slots=True)
class Command:
    """A MUD verb: an event with its words as the payload's fields, or a text to show."""

    verb: str
    event: str | None
    args: tuple[str, ...]
    text: Any  # a compiled rule (callable) or None
    help: str


@dataclass(slots=True, eq=False)
class CompiledBundle:
    version: str
    doc: dict[str, Any]
    schema: StateSchema
    chart: Chart
    handlers: dict[object, tuple[EffectFn, ...]]
    events: dict[str, EventSpec]
    commands: dict[str, Command]
    lifecycle: dict[str, str]
    config: dict[str, Any]
    metadata: dict[str, Any]
    mud: dict[str, Any]  # "short"/"long": compiled rules; "exits"/"details"/"area": data
    context: dict[str, Any]
    known_events: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "a room")

    def effects_of(self, raw: object) -> tuple[EffectFn, ...]:
        return self.handlers[raw if isinstance(raw, str) else id(raw)]

    def lifecycle_event(self, what: str) -> str | None:
        """The machine event for ``what`` (join, leave...), if the machine handles it."""
        name = self.lifecycle.get(what)
        return name if name is not None and name in self.known_events else None


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def _validator() -> Any:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _loads(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError([("$", f"a bundle is at most {MAX_BUNDLE_BYTES} bytes, this is {len(data)}")])
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError([("$", f"not UTF-8: {exc.reason}")]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BundleError([("$", f"not JSON: {exc}")]) from None
    if not isinstance(doc, dict):
        raise BundleError([("$", "a bundle is a JSON object")])
    return doc


def compile_bundle(source: bytes | Mapping[str, Any]) -> CompiledBundle:
    """Validate and compile a bundle (bytes, or an already parsed document). Raises
    :class:`BundleError` listing every problem with its JSON path."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        doc = _loads(data)
    else:
        doc = json.loads(json.dumps(source))  # a private copy, and only JSON in it
        data = json.dumps(doc, sort_keys=True).encode()
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise BundleError([(e.json_path, e.message[:300]) for e in errors[:50]])
    return _Compiler(doc, version_of(data)).run()


class _Compiler:
    def __init__(self, doc: dict[str, Any], version: str) -> None:
        self.doc = doc
        self.version = version
        self.problems: list[tuple[str, str]] = []

    def problem(self, path: str, message: str) -> None:
        if (path, message) not in self.problems:  # an action the machine names is met twice
            self.problems.append((path, message))

    def rule(self, spec: Any, where: str) -> Any:
        try:
            return jsonlogic.compile(spec, RULE_LIMITS).evaluate
        except jsonlogic.RuleError as exc:
            self.problem(f"{where}{exc.path[1:]}", exc.reason)
            return None

    def run(self) -> CompiledBundle:
        doc = self.doc
        try:
            schema = StateSchema(doc.get("state"))
        except SchemaError as exc:
            raise BundleError([(exc.path, exc.reason)]) from None
        actions: dict[str, Any] = doc.get("actions", {})
        for name, spec in actions.items():
            try:
                compile_effects(spec, f"$.actions.{name}", schema, actions)
            except SchemaError as exc:
                self.problem(exc.path, exc.reason)
        guards = doc.get("guards") or {}
        for name, rule in guards.items():
            self.rule(rule, f"$.guards.{name}")
        chart: Chart | None = None
        try:
            chart = compile_chart(
                doc["machine"],
                guard_compiler=lambda rule: compile_rule(rule, RULE_LIMITS),
                guards=guards,
            )
        except DefinitionError as exc:
            self.problem("$.machine" + exc.path[1:], exc.reason)
        handlers: dict[object, tuple[EffectFn, ...]] = {}
        if chart is not None:
            for action in _custom_actions(chart):
                key = action.raw if isinstance(action.raw, str) else id(action.raw)
                if key in handlers:
                    continue
                try:
                    handlers[key] = compile_effects(action.raw, "$.machine" + action.path[1:], schema, actions)
                except SchemaError as exc:
                    self.problem(exc.path, exc.reason)
        events = self.events()
        commands = self.commands(events)
        mud = self.mud()
        lifecycle = dict(doc.get("lifecycle", {}))
        config = dict(doc.get("config", {}))
        context = dict(doc["machine"].get("context") or {})
        if self.problems or chart is None:
            raise BundleError(self.problems)
        return CompiledBundle(
            version=self.version, doc=doc, schema=schema, chart=chart, handlers=handlers,
            events=events, commands=commands, lifecycle=lifecycle, config=config,
            metadata=dict(doc.get("metadata", {})), mud=mud, context=context,
            known_events=chart.known_events,
        )  # fmt: skip

    def events(self) -> dict[str, EventSpec]:
        out: dict[str, EventSpec] = {}
        for name, spec in (self.doc.get("events") or {}).items():
            where = f"$.events.{name}.schema"
            validator = None
            schema = spec.get("schema")
            if schema is not None and schema is not True:
                try:
                    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
                    cls.check_schema(schema)
                    validator = cls(schema)
                except jsonschema.SchemaError as exc:
                    self.problem(where + exc.json_path[1:], f"not a JSON Schema: {exc.message[:200]}")
            fast = _fast_check(schema) if validator is not None else None
            out[name] = EventSpec(name, spec.get("event", name), validator, fast)
        return out

    def commands(self, events: Mapping[str, EventSpec]) -> dict[str, Command]:
        out: dict[str, Command] = {}
        for verb, spec in (self.doc.get("commands") or {}).items():
            where = f"$.commands.{verb}"
            event = spec.get("event")
            args = tuple(spec.get("args", ()))
            if event is not None:
                if event not in events:
                    self.problem(f"{where}.event", f"no event {event!r} in $.events")
                else:
                    props = (self.doc["events"][event].get("schema") or {})
                    known = props.get("properties") if isinstance(props, dict) else None
                    for i, arg in enumerate(args):
                        if isinstance(known, dict) and arg not in known:
                            self.problem(f"{where}.args[{i}]", f"event {event!r} has no field {arg!r}")
            text = self.rule(spec["text"], f"{where}.text") if "text" in spec else None
            out[verb] = Command(verb, event, args, text, str(spec.get("help", "")))
        return out

    def mud(self) -> dict[str, Any]:
        spec = self.doc.get("mud") or {}
        out: dict[str, Any] = {k: spec[k] for k in ("exits", "details", "area") if k in spec}
        for key in ("short", "long"):
            if key in spec:
                out[key] = self.rule(spec[key], f"$.mud.{key}")
        return out


_TYPES: dict[str, Callable[[Any], bool]] = {
    "integer": lambda v: (type(v) is int) or (type(v) is float and v.is_integer()),
    "number": lambda v: type(v) is int or type(v) is float,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}
_SIMPLE_KEYS = {"type", "minimum", "maximum", "enum", "minLength", "maxLength", "description", "title"}


def _fast_check(schema: Any) -> Callable[[Any], bool] | None:
    """A quick yes for the payload schemas events usually have (an object of typed,
    bounded scalars), since jsonschema costs tens of microseconds a message and a
    message should cost a few. A no, or a schema outside that subset, falls back to
    jsonschema, which also words the error. None: no shortcut for this schema."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return None
    if set(schema) - {"type", "properties", "required", "additionalProperties", "description", "title", "$schema"}:
        return None
    props = schema.get("properties", {})
    required = tuple(schema.get("required", ()))
    closed = schema.get("additionalProperties", True) is False
    if not isinstance(props, dict) or schema.get("additionalProperties", True) not in (True, False):
        return None
    checks: dict[str, Callable[[Any], bool]] = {}
    for name, sub in props.items():
        if not isinstance(sub, dict) or set(sub) - _SIMPLE_KEYS or sub.get("type") not in _TYPES:
            return None
        checks[name] = _scalar_check(sub)

    def check(payload: Any) -> bool:
        if type(payload) is not dict:
            return False
        for name in required:
            if name not in payload:
                return False
        for name, value in payload.items():
            fn = checks.get(name)
            if fn is None:
                if closed:
                    return False
            elif not fn(value):
                return False
        return True

    return check


def _scalar_check(sub: dict[str, Any]) -> Callable[[Any], bool]:
    is_type = _TYPES[sub["type"]]
    lo, hi = sub.get("minimum"), sub.get("maximum")
    enum = sub.get("enum")
    min_len, max_len = sub.get("minLength"), sub.get("maxLength")

    def check(value: Any) -> bool:
        if not is_type(value):
            return False
        if lo is not None and value < lo or hi is not None and value > hi:
            return False
        if enum is not None and value not in enum:
            return False
        if min_len is not None and len(value) < min_len or max_len is not None and len(value) > max_len:
            return False
        return True

    return check


def _custom_actions(chart: Chart) -> list[Action]:
    """Every host action the machine can run, in document order."""
    out: list[Action] = []
    seen: set[int] = set()

    def add(actions: tuple[Action, ...]) -> None:
        for a in actions:
            if a.kind == CUSTOM and id(a) not in seen:
                seen.add(id(a))
                out.append(a)

    for node in chart.nodes:
        add(node.entry)
        add(node.exit)
        add(node.initial_actions)
        for transitions in node.on.values():
            for t in transitions:
                add(t.actions)
        for _, transitions in node.wild:
            for t in transitions:
                add(t.actions)
        for t in node.always:
            add(t.actions)
    return out

"""The whitelist of effects a declarative room may have, compiled once per bundle.

A room's logic is data, so everything it can *do* is listed here: write its replicated
state (``set``, ``inc``, ``mapSet``, ``mapDel``, ``setPhase``, ``advanceStep``,
``score.add``, ``outline.set``), change its seats (``lockRoom``, ``setMaxClients``),
update the machine's context (``assign``), and talk (``broadcast`` to clients, ``say``
to everyone in the room, ``tell`` one client). There is no other way to reach the
driver, which is what makes a bundle safe by construction.

Each effect is compiled when the bundle is loaded: its JSONLogic parameters are compiled
(see :mod:`driver.dsl.jsonlogic`), and its state path is checked against the state schema
(a path the state lacks, or an ``inc`` of a string, refuses the bundle with the JSON path
of the effect). What only the run can tell (a map key that is missing, a value of the
wrong type) raises :class:`EffectError`; the room then takes back everything the event
did (all or nothing). Parameters are JSONLogic over ``{state, context, event}``; the
context carries the room's ``config``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from driver.dsl import jsonlogic
from driver.dsl.fastrules import compile_rule
from driver.dsl.state import FieldType, SchemaError, StateError, StateSchema, Tracker, pointer

__all__ = [
    "EFFECTS",
    "EffectError",
    "EffectFn",
    "EffectHost",
    "compile_effects",
]

RULE_LIMITS = jsonlogic.Limits(
    max_depth=32, max_nodes=2_000, max_steps=20_000, max_array=10_000, max_string=64 * 1024
)
MAX_TEXT = 4096  # characters in one say/tell
MAX_ACTION_DEPTH = 8  # named actions that name actions that name actions...


class EffectError(ValueError):
    """An effect could not be applied; the event that ran it applies nothing."""


class EffectHost(Protocol):
    """What effects act on: the room (see :class:`driver.dsl.room.Room`)."""

    schema: StateSchema
    state: dict[str, Any]
    tracker: Tracker
    locked: bool
    max_clients: int

    @property
    def context(self) -> Any: ...
    def assign(self, updates: Mapping[str, Any]) -> None: ...
    def emit_text(self, target: str | None, text: str) -> None: ...
    def emit_message(self, target: str | None, name: str, payload: Any) -> None: ...


Data = dict[str, Any]
EffectFn = Callable[[EffectHost, Data], None]
Value = Callable[[Data], Any]


def _value(spec: Any, where: str) -> Value:
    """A parameter: a JSONLogic rule (a literal is a rule that returns itself)."""
    try:
        return compile_rule(spec, RULE_LIMITS)
    except jsonlogic.RuleError as exc:
        raise SchemaError(f"{where}{exc.path[1:]}", exc.reason) from None


def _template(spec: Any, where: str) -> Value:
    """A payload: an object whose every value is a rule (so ``{"winner": {"var": ...}}``
    is an object, not an unknown operator), or a rule."""
    if not isinstance(spec, Mapping):
        return _value(spec, where)
    fields = {str(k): _value(v, f"{where}.{k}") for k, v in spec.items()}
    return lambda data: {k: fn(data) for k, fn in fields.items()}


def _const(value: Any) -> Value:
    return lambda data: value


@dataclass(slots=True)
class _Path:
    """A state path: static keys, and rules for keys computed at run time (map keys)."""

    parts: tuple[str | Value, ...]
    leaf: FieldType
    static: str | None  # the JSON pointer when no part is computed

    def keys(self, data: Data) -> list[str]:
        out: list[str] = []
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            key = part(data)  # type: ignore[operator]
            if type(key) is not str:
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise EffectError(f"a computed key must be a string, not {key!r}")
                key = str(key)
            out.append(key)
        return out


def _path(spec: Any, where: str, schema: StateSchema) -> _Path:
    parts: list[str | Value] = []
    segments: list[str | None] = []
    if isinstance(spec, str) and spec:
        for seg in spec.split("."):
            parts.append(seg)
            segments.append(seg)
    elif isinstance(spec, list) and spec:
        for i, item in enumerate(spec):
            if isinstance(item, str):
                parts.append(item)
                segments.append(item)
            else:
                parts.append(_value(item, f"{where}[{i}]"))
                segments.append(None)
    else:
        raise SchemaError(where, "a path is a dotted string or a list of keys and rules")
    leaf = schema.resolve(segments, where)
    static = (
        pointer([p for p in parts if isinstance(p, str)])
        if all(isinstance(p, str) for p in parts)
        else None
    )
    return _Path(tuple(parts), leaf, static)


_POINTERS: dict[tuple[str, ...], str] = {}


def _pointer(keys: list[str]) -> str:
    """JSON pointers of computed paths, remembered (the same players' paths recur)."""
    key = tuple(keys)
    found = _POINTERS.get(key)
    if found is None:
        if len(_POINTERS) > 8192:
            _POINTERS.clear()
        found = _POINTERS[key] = pointer(keys)
    return found


def _static_container(
    head: tuple[str, ...], keys: list[str]
) -> Callable[[EffectHost], dict[str, Any]]:
    """:func:`_container` for a path of static keys (``head``: all but the last)."""
    if not head:
        return lambda host: host.state
    if len(head) == 1:
        (first,) = head

        def one(host: EffectHost) -> dict[str, Any]:
            node = host.state.get(first)
            return node if type(node) is dict else _container(host, keys)

        return one
    return lambda host: _container(host, keys)


def _container(host: EffectHost, keys: list[str]) -> dict[str, Any]:
    """The dict holding the last key (every step before it must exist)."""
    node: Any = host.state
    for i in range(len(keys) - 1):
        nxt = node.get(keys[i]) if isinstance(node, dict) else None
        if type(nxt) is not dict and not isinstance(nxt, dict):
            raise EffectError(f"state.{'.'.join(keys[: i + 1])} does not exist")
        node = nxt
    return node  # type: ignore[no-any-return]


def _params(
    spec: Mapping[str, Any], where: str, allowed: set[str], required: set[str]
) -> Mapping[str, Any]:
    params = spec.get("params", {})
    if not isinstance(params, Mapping):
        raise SchemaError(f"{where}.params", "params is an object")
    unknown = set(params) - allowed
    if unknown:
        raise SchemaError(
            f"{where}.params",
            f"unknown parameter(s) {sorted(unknown)}; {spec['type']} takes {sorted(allowed)}",
        )
    missing = required - set(params)
    if missing:
        raise SchemaError(f"{where}.params", f"{spec['type']} needs {sorted(missing)}")
    return params


# -- the effects -----------------------------------------------------------------------------


def _set(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"path", "value"}, {"path", "value"})
    path = _path(p["path"], f"{where}.params.path", schema)
    value = _value(p["value"], f"{where}.params.value")
    return _writer(path, value, schema)


def _writer(path: _Path, value: Value, schema: StateSchema) -> EffectFn:
    coerce = schema.coercer(path.leaf)
    if path.static is not None:  # no computed key: the container is found in a step
        keys = [str(p) for p in path.parts]
        container, last, where = _static_container(tuple(keys[:-1]), keys), keys[-1], path.static

        def run_static(host: EffectHost, data: Data) -> None:
            try:
                v = coerce(value(data), "")
            except StateError as exc:
                raise EffectError(f"state.{'.'.join(keys)}{exc}") from None
            host.tracker.set(container(host), last, v, where)

        return run_static

    def run(host: EffectHost, data: Data) -> None:
        keys = path.keys(data)
        try:
            v = coerce(value(data), "")
        except StateError as exc:
            raise EffectError(f"state.{'.'.join(keys)}{exc}") from None
        host.tracker.set(_container(host, keys), keys[-1], v, _pointer(keys))

    return run


def _inc(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"path", "by", "delta"}, {"path"})
    path = _path(p["path"], f"{where}.params.path", schema)
    if path.leaf.kind not in ("number", "integer"):
        raise SchemaError(
            f"{where}.params.path", f"inc needs a number, and this is {path.leaf.describe()}"
        )
    amount = p.get("by", p.get("delta", 1))
    by = _value(amount, f"{where}.params.by")
    return _incrementer(path, by, schema, amount if type(amount) in (int, float) else None)


def _incrementer(path: _Path, by: Value, schema: StateSchema, by_const: Any = None) -> EffectFn:
    """``path`` += ``by``; ``by_const``: the amount when the bundle wrote a number."""
    coerce = schema.coercer(path.leaf)

    def add(
        tracker: Tracker, keys: list[str], container: dict[str, Any], where: str, data: Data
    ) -> None:
        last = keys[-1]
        old = container.get(last)
        delta = by(data)
        to, td = type(old), type(delta)
        if not ((to is int or to is float) and (td is int or td is float)) and (
            isinstance(delta, bool)
            or not isinstance(delta, (int, float))
            or isinstance(old, bool)
            or not isinstance(old, (int, float))
        ):
            raise EffectError(
                f"inc state.{'.'.join(keys)}: {old!r} + {delta!r} is not a sum of numbers"
            )
        try:
            v = coerce(old + delta, "")
        except StateError as exc:
            raise EffectError(f"state.{'.'.join(keys)}{exc}") from None
        tracker.set(container, last, v, where)

    if path.static is not None and len(path.parts) <= 2 and type(by_const) is int:
        # The commonest inc of all (a counter, a timer: a field or a field of a field,
        # by a number written in the bundle), in one step.
        keys = [str(p) for p in path.parts]
        first, last, where = keys[0], keys[-1], path.static
        delta: Any = by_const

        def run_number(host: EffectHost, data: Data) -> None:
            holder: Any = host.state
            if len(keys) == 2:
                holder = holder.get(first)
                if type(holder) is not dict:
                    holder = _container(host, keys)
            old = holder.get(last)
            if type(old) is int and type(delta) is int:
                # An int is a number and an integer as it is (what coerce would say).
                host.tracker.set(holder, last, old + delta, where)
            else:
                add(host.tracker, keys, holder, where, data)

        return run_number
    if path.static is not None:  # no computed key: the container is found in a step
        keys = [str(p) for p in path.parts]
        container, where = _static_container(tuple(keys[:-1]), keys), path.static

        def run_static(host: EffectHost, data: Data) -> None:
            add(host.tracker, keys, container(host), where, data)

        return run_static

    def run(host: EffectHost, data: Data) -> None:
        keys = path.keys(data)
        add(host.tracker, keys, _container(host, keys), _pointer(keys), data)

    return run


def _map_set(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"path", "key", "value", "fields"}, {"path", "key"})
    path = _path(p["path"], f"{where}.params.path", schema)
    if path.leaf.kind != "map":
        raise SchemaError(
            f"{where}.params.path", f"mapSet needs a map, and this is {path.leaf.describe()}"
        )
    assert path.leaf.of is not None
    element = path.leaf.of
    key = _value(p["key"], f"{where}.params.key")
    if "fields" in p:
        if element.kind != "ref" or not isinstance(p["fields"], Mapping):
            raise SchemaError(f"{where}.params.fields", "fields is an object, for maps of a class")
        assert element.cls is not None
        fields: dict[str, Value] = {}
        for name, rule in p["fields"].items():
            if name not in element.cls.fields:
                raise SchemaError(
                    f"{where}.params.fields.{name}", f"{element.cls.name} has no field {name!r}"
                )
            fields[name] = _value(rule, f"{where}.params.fields.{name}")

        def from_fields(data: Data) -> Any:
            return {name: fn(data) for name, fn in fields.items()}

        value: Value = from_fields
    elif "value" in p:
        value = _value(p["value"], f"{where}.params.value")
    else:
        value = _const({}) if element.kind == "ref" else _const(None)

    def run(host: EffectHost, data: Data) -> None:
        keys = path.keys(data)
        k = key(data)
        if isinstance(k, bool) or not isinstance(k, (str, int)):
            raise EffectError(f"mapSet: a key must be a string, not {k!r}")
        k = str(k)
        container = _container(host, [*keys, k])
        try:
            v = schema.coerce(element, value(data), f"state.{'.'.join(keys)}.{k}")
        except StateError as exc:
            raise EffectError(str(exc)) from None
        host.tracker.set(container, k, v, _pointer([*keys, k]))

    return run


def _map_del(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"path", "key"}, {"path", "key"})
    path = _path(p["path"], f"{where}.params.path", schema)
    if path.leaf.kind != "map":
        raise SchemaError(
            f"{where}.params.path", f"mapDel needs a map, and this is {path.leaf.describe()}"
        )
    key = _value(p["key"], f"{where}.params.key")

    def run(host: EffectHost, data: Data) -> None:
        keys = path.keys(data)
        k = key(data)
        if isinstance(k, bool) or not isinstance(k, (str, int)):
            raise EffectError(f"mapDel: a key must be a string, not {k!r}")
        k = str(k)
        host.tracker.delete(_container(host, [*keys, k]), k, _pointer([*keys, k]))

    return run


def _root_field(
    schema: StateSchema, name: str, kinds: tuple[str, ...], effect: str, where: str
) -> _Path:
    ftype = schema.root.fields.get(name)
    if ftype is None or ftype.kind not in kinds:
        raise SchemaError(
            where, f"{effect} needs a root field {name!r} of type {' or '.join(kinds)} in the state"
        )
    return _Path((name,), ftype, pointer([name]))


def _set_phase(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"phase"}, {"phase"})
    path = _root_field(schema, "phase", ("string",), "setPhase", where)
    return _writer(path, _value(p["phase"], f"{where}.params.phase"), schema)


def _outline_set(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"id"}, {"id"})
    path = _root_field(schema, "outline", ("string", "any"), "outline.set", where)
    return _writer(path, _value(p["id"], f"{where}.params.id"), schema)


def _advance_step(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    """stepIndex += 1, and the timer (``timer.remainingSec``) back to ``timer`` seconds:
    the parameter, else ``context.config.timePerStep`` when there is one."""
    p = _params(spec, where, {"by", "timer"}, set())
    step = _incrementer(
        _root_field(schema, "stepIndex", ("number", "integer"), "advanceStep", where),
        _value(p.get("by", 1), f"{where}.params.by"),
        schema,
    )
    timer = schema.root.fields.get("timer")
    reset: EffectFn | None = None
    if (
        timer is not None
        and timer.kind == "ref"
        and timer.cls is not None
        and "remainingSec" in timer.cls.fields
    ):
        seconds = _value(
            p.get("timer", {"var": "context.config.timePerStep"}), f"{where}.params.timer"
        )
        path = _Path(
            ("timer", "remainingSec"), timer.cls.fields["remainingSec"], "/timer/remainingSec"
        )
        write = _writer(path, seconds, schema)

        def reset_timer(host: EffectHost, data: Data) -> None:
            if seconds(data) is not None:
                write(host, data)

        reset = reset_timer
    elif "timer" in p:
        raise SchemaError(
            f"{where}.params.timer", "advanceStep resets timer.remainingSec, which the state lacks"
        )

    def run(host: EffectHost, data: Data) -> None:
        step(host, data)
        if reset is not None:
            reset(host, data)

    return run


def _score_add(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    """Add to ``players.<client>.score`` of the event's client, or of every player."""
    p = _params(spec, where, {"target", "amount", "client"}, {"amount"})
    players = schema.root.fields.get("players")
    if (
        players is None
        or players.kind != "map"
        or players.of is None
        or players.of.cls is None
        or players.of.cls.fields.get("score") is None
        or players.of.cls.fields["score"].kind not in ("number", "integer")
    ):
        raise SchemaError(
            where, "score.add needs state.players: a map of a class with a number field 'score'"
        )
    score_type = players.of.cls.fields["score"]
    target = p.get("target", "client")
    if target not in ("client", "all"):
        raise SchemaError(f"{where}.params.target", "target is 'client' or 'all'")
    amount = _value(p["amount"], f"{where}.params.amount")
    client = _value(p.get("client", {"var": "event.client"}), f"{where}.params.client")

    def add(host: EffectHost, key: str, player: Any, delta: Any) -> None:
        if not isinstance(player, dict):
            raise EffectError(f"score.add: no player {key!r}")
        old = player.get("score", 0)
        try:
            v = schema.coerce(score_type, old + delta, f"state.players.{key}.score")
        except (StateError, TypeError) as exc:
            raise EffectError(str(exc)) from None
        host.tracker.set(player, "score", v, _pointer(["players", key, "score"]))

    def run(host: EffectHost, data: Data) -> None:
        delta = amount(data)
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise EffectError(f"score.add: amount {delta!r} is not a number")
        table = host.state.get("players")
        if not isinstance(table, dict):
            raise EffectError("score.add: state.players is missing")
        if target == "all":
            for key, player in list(table.items()):
                add(host, key, player, delta)
            return
        key = client(data)
        if not isinstance(key, str):
            raise EffectError("score.add: the event has no client")
        add(host, key, table.get(key), delta)

    return run


def _score_reset(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    """Every player's ``score`` back to ``amount`` (0): a new game."""
    p = _params(spec, where, {"amount"}, set())
    _score_add({"type": "score.add", "params": {"amount": 0}}, where, schema)  # the same checks
    amount = _value(p.get("amount", 0), f"{where}.params.amount")

    def run(host: EffectHost, data: Data) -> None:
        value = amount(data)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EffectError(f"score.reset: amount {value!r} is not a number")
        for key, player in list(host.state.get("players", {}).items()):
            host.tracker.set(player, "score", value, _pointer(["players", key, "score"]))

    return run


def _rank(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    """``into`` := the entries of the map ``map``, highest ``by`` first (ties by key), each
    ``{"client": key, <fields>...}``: JSONLogic cannot iterate an object, let alone sort,
    so a scoreboard is made here and read by rules (``reduce``) and clients."""
    p = _params(spec, where, {"map", "by", "into", "fields"}, {"map", "by", "into"})
    source = _path(p["map"], f"{where}.params.map", schema)
    if source.leaf.kind != "map" or source.leaf.cls is None:
        raise SchemaError(f"{where}.params.map", "rank needs a map of a class")
    by = p["by"]
    if not isinstance(by, str) or source.leaf.cls.fields.get(by) is None:
        raise SchemaError(f"{where}.params.by", f"{source.leaf.cls.name} has no field {by!r}")
    fields = p.get("fields", [by])
    if not isinstance(fields, list) or any(f not in source.leaf.cls.fields for f in fields):
        raise SchemaError(
            f"{where}.params.fields", f"fields are a list of {source.leaf.cls.name}'s fields"
        )
    into = _path(p["into"], f"{where}.params.into", schema)
    if into.leaf.kind not in ("any", "array"):
        raise SchemaError(
            f"{where}.params.into", "rank writes an array: the field must be 'any' or an array"
        )

    # A ranking of scalar fields is fresh JSON already: no copy needed to store it.
    scalars = all(
        source.leaf.cls.fields[f].kind in ("string", "number", "integer", "boolean") for f in fields
    )

    names = tuple(fields)

    def run(host: EffectHost, data: Data) -> None:
        table: Any = host.state
        for key in source.keys(data):
            table = table.get(key) if isinstance(table, dict) else None
        if not isinstance(table, dict):
            raise EffectError("rank: the map does not exist")
        # Highest first, ties by key: sorted on (-value, key), the keys being unique.
        order = []
        for k, v in table.items():
            score = v.get(by)
            order.append((-score if type(score) is int or type(score) is float else 0, k, v))
        order.sort(key=_first_two)
        ranking = []
        for _, k, v in order:
            entry = {"client": k}
            for f in names:
                entry[f] = v.get(f)
            ranking.append(entry)
        keys = into.keys(data)
        value: Any = ranking
        if not scalars or into.leaf.kind != "any":
            try:
                value = schema.coerce(into.leaf, ranking, f"state.{'.'.join(keys)}")
            except StateError as exc:
                raise EffectError(str(exc)) from None
        host.tracker.set(_container(host, keys), keys[-1], value, into.static or _pointer(keys))

    return run


_first_two = operator.itemgetter(0, 1)


def _lock_room(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"locked"}, set())
    locked = _value(p.get("locked", True), f"{where}.params.locked")

    def run(host: EffectHost, data: Data) -> None:
        host.locked = bool(locked(data))

    return run


def _set_max_clients(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"n", "max"}, set())
    n = _value(p.get("n", p.get("max")), f"{where}.params.n")

    def run(host: EffectHost, data: Data) -> None:
        value = n(data)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
            raise EffectError(f"setMaxClients: {value!r} is not a seat count (0..10000)")
        host.max_clients = value

    return run


def _assign(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    # XState's assign: {"type": "assign", "params": {key: rule}}, or v4's "assignment".
    raw = spec.get("params", spec.get("assignment", {}))
    if not isinstance(raw, Mapping) or not raw:
        raise SchemaError(f"{where}.params", "assign takes an object of context key -> rule")
    updates = {k: _value(v, f"{where}.params.{k}") for k, v in raw.items()}

    def run(host: EffectHost, data: Data) -> None:
        host.assign({k: fn(data) for k, fn in updates.items()})
        data["context"] = host.context

    return run


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    else:
        text = str(jsonlogic.evaluate({"cat": [value]}, None))
    if len(text) > MAX_TEXT:
        raise EffectError(f"a text of {len(text)} characters is over {MAX_TEXT}")
    return text


def _say(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"text"}, {"text"})
    text = _value(p["text"], f"{where}.params.text")

    def run(host: EffectHost, data: Data) -> None:
        host.emit_text(None, _text(text(data)))

    return run


def _tell(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"text", "to"}, {"text"})
    text = _value(p["text"], f"{where}.params.text")
    to = _value(p.get("to", {"var": "event.client"}), f"{where}.params.to")

    def run(host: EffectHost, data: Data) -> None:
        target = to(data)
        if isinstance(target, str) and target:
            host.emit_text(target, _text(text(data)))

    return run


def _broadcast(spec: Mapping[str, Any], where: str, schema: StateSchema) -> EffectFn:
    p = _params(spec, where, {"event", "name", "payload", "text"}, set())
    if "event" not in p and "name" not in p:
        raise SchemaError(f"{where}.params", "broadcast needs an 'event' name")
    name = _value(p.get("event", p.get("name")), f"{where}.params.event")
    payload = _template(p.get("payload"), f"{where}.params.payload")
    text = _value(p["text"], f"{where}.params.text") if "text" in p else None

    def run(host: EffectHost, data: Data) -> None:
        n = name(data)
        if not isinstance(n, str) or not n:
            raise EffectError(f"broadcast: event name {n!r} is not a string")
        host.emit_message(None, n, payload(data))
        if text is not None:
            host.emit_text(None, _text(text(data)))

    return run


#: Every effect there is, by the name a bundle uses.
EFFECTS: dict[str, Callable[[Mapping[str, Any], str, StateSchema], EffectFn]] = {
    "set": _set,
    "inc": _inc,
    "mapSet": _map_set,
    "mapDel": _map_del,
    "setPhase": _set_phase,
    "advanceStep": _advance_step,
    "broadcast": _broadcast,
    "score.add": _score_add,
    "score.reset": _score_reset,
    "rank": _rank,
    "lockRoom": _lock_room,
    "setMaxClients": _set_max_clients,
    "outline.set": _outline_set,
    "assign": _assign,
    "xstate.assign": _assign,
    "say": _say,
    "tell": _tell,
}


def compile_effects(
    spec: Any,
    where: str,
    schema: StateSchema,
    actions: Mapping[str, Any],
    _depth: int = 0,
    _stack: tuple[str, ...] = (),
) -> tuple[EffectFn, ...]:
    """One action as the machine names it — a bundle action's name, an effect object,
    or a list of those — compiled to the effects it runs, in order."""
    if _depth > MAX_ACTION_DEPTH:
        raise SchemaError(where, f"actions nest deeper than {MAX_ACTION_DEPTH}")
    if isinstance(spec, list):
        out: list[EffectFn] = []
        for i, item in enumerate(spec):
            out.extend(compile_effects(item, f"{where}[{i}]", schema, actions, _depth, _stack))
        return tuple(out)
    if isinstance(spec, str):
        if spec in _stack:
            raise SchemaError(
                where, f"action {spec!r} refers to itself ({' -> '.join((*_stack, spec))})"
            )
        if spec in actions:
            return compile_effects(
                actions[spec], f"$.actions.{spec}", schema, actions, _depth + 1, (*_stack, spec)
            )
        if spec in EFFECTS and spec in ("advanceStep", "lockRoom"):
            return (EFFECTS[spec]({"type": spec}, where, schema),)
        raise SchemaError(where, f"unknown action {spec!r} (not in the bundle's actions)")
    if isinstance(spec, Mapping) and isinstance(spec.get("type"), str):
        kind = spec["type"]
        if kind in actions and kind not in EFFECTS:
            if set(spec) - {"type"}:
                raise SchemaError(where, f"action {kind!r} is named, it takes no params")
            return compile_effects(kind, where, schema, actions, _depth, _stack)
        factory = EFFECTS.get(kind)
        if factory is None:
            raise SchemaError(
                f"{where}.type", f"unknown effect {kind!r}; effects are {sorted(EFFECTS)}"
            )
        extra = set(spec) - {"type", "params", "assignment"}
        if extra:
            raise SchemaError(where, f"an effect has 'type' and 'params', not {sorted(extra)}")
        return (factory(spec, where, schema),)
    raise SchemaError(where, "an action is a name, an effect {type, params}, or a list of those")

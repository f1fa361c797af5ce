"""XState machine JSON (v4 and v5 spellings) -> a validated, precomputed Chart.

Everything wrong with a definition is reported here, once, with a JSON path, so that a
room whose definition loads cannot fail later for a structural reason.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from .entry import EntrySet, NeedsHistory, domain
from .errors import DefinitionError
from .model import (
    ATOMIC,
    CANCEL,
    COMPOUND,
    CUSTOM,
    FINAL,
    HISTORY,
    KIND_NAMES,
    PARALLEL,
    RAISE,
    SEND,
    Action,
    Chart,
    Event,
    GuardCompiler,
    GuardFn,
    Node,
    TimerSpec,
    Transition,
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_UNSUPPORTED = ("invoke", "activities", "parallel")
_RAISE_TYPES = frozenset({"xstate.raise", "raise"})
_SEND_TYPES = frozenset({"xstate.send", "send"})
_CANCEL_TYPES = frozenset({"xstate.cancel", "cancel"})
ROOT_ID = "(machine)"


def key_path(base: str, key: str) -> str:
    return f"{base}.{key}" if _IDENT.match(key) else f"{base}[{json.dumps(key)}]"


def format_delay(delay: float) -> str:
    """How XState prints a delay inside `xstate.after.<delay>.<id>` (JS number to string)."""
    return str(int(delay)) if delay.is_integer() else repr(delay)


def parse_delay(value: object, path: str) -> float:
    if isinstance(value, bool):
        raise DefinitionError(path, f"delay {value!r} is not a number of milliseconds")
    if isinstance(value, int | float):
        delay = float(value)
    elif isinstance(value, str):
        try:
            delay = float(value.strip())
        except ValueError:
            raise DefinitionError(
                path,
                f"delay {value!r} is not a number of milliseconds (named delays are not supported)",
            ) from None
    else:
        raise DefinitionError(path, f"delay {value!r} is not a number of milliseconds")
    if not math.isfinite(delay) or delay < 0:
        raise DefinitionError(path, f"delay {value!r} must be a finite number >= 0")
    return delay


def normalize_event(value: object, path: str) -> Event:
    if isinstance(value, str) and value:
        return {"type": value}
    if isinstance(value, Mapping) and isinstance(value.get("type"), str) and value["type"]:
        return cast(Event, value)
    raise DefinitionError(
        path, f"an event must be a name or an object with a 'type', not {value!r}"
    )


class Compiler:
    def __init__(
        self,
        definition: Mapping[str, Any],
        guard_compiler: GuardCompiler | None,
        guards: Mapping[str, Any] | None,
    ) -> None:
        self._definition = definition
        self._guard_compiler = guard_compiler
        self._guards = guards or {}
        self._named: dict[str, GuardFn] = {}
        self._nodes: list[Node] = []
        self._by_id: dict[str, Node] = {}
        self._by_key: dict[Node, dict[str, Node]] = {}
        self._configs: dict[Node, Mapping[str, Any]] = {}
        self._keypaths: dict[Node, str] = {}
        self._transitions: list[Transition] = []

    # -- pass 1: the tree -------------------------------------------------------------

    def compile(self) -> Chart:
        definition = self._definition
        if not isinstance(definition, Mapping):
            raise DefinitionError("$", "a machine definition must be an object")
        root = self._node(definition, "$", "", None)
        if root.kind not in (COMPOUND, PARALLEL):
            raise DefinitionError("$", "the machine needs child states (compound or parallel root)")
        for node in self._nodes:
            self._details(node)
        known = frozenset(e for n in self._nodes for e in n.on)
        for node in self._nodes:
            self._tables(node, known)
        has_always = any(n.always for n in self._nodes)
        for t in self._transitions:
            self._precompute(t)
        start = EntrySet(None)
        try:
            start.add_descendants(root)
            start_enter: tuple[Node, ...] | None = start.ordered()
        except NeedsHistory:
            start_enter = None
        context = definition.get("context")
        if context is not None and not isinstance(context, Mapping):
            raise DefinitionError("$.context", "'context' must be an object")
        return Chart(
            context=copy.deepcopy(dict(context)) if context is not None else None,
            root=root,
            nodes=tuple(self._nodes),
            by_id=self._by_id,
            known_events=known,
            has_wild=any(n.wild for n in self._nodes),
            has_always=has_always,
            start_enter=start_enter,
            start_default=frozenset(start.default),
        )

    def _node(self, cfg: object, path: str, key: str, parent: Node | None) -> Node:
        if not isinstance(cfg, Mapping):
            raise DefinitionError(path, "a state must be an object")
        for word in _UNSUPPORTED:
            if word in cfg:
                hint = ' (write "type": "parallel")' if word == "parallel" else ""
                raise DefinitionError(key_path(path, word), f"'{word}' is not supported{hint}")
        states = cfg.get("states")
        if states is not None and not isinstance(states, Mapping):
            raise DefinitionError(key_path(path, "states"), "'states' must be an object")
        has_children = bool(states)
        kind_name = cfg.get("type")
        if kind_name is None:
            if has_children:
                kind = COMPOUND
            elif "history" in cfg and parent is not None:
                kind = HISTORY
            else:
                kind = ATOMIC
        elif isinstance(kind_name, str) and kind_name in KIND_NAMES:
            kind = KIND_NAMES[kind_name]
        else:
            raise DefinitionError(
                key_path(path, "type"),
                f"unknown state type {kind_name!r} (atomic, compound, parallel, final, history)",
            )
        if kind in (COMPOUND, PARALLEL) and not has_children:
            raise DefinitionError(path, f"a {kind_name or 'compound'} state needs child states")
        if kind in (ATOMIC, FINAL, HISTORY) and has_children:
            raise DefinitionError(
                key_path(path, "states"), f"a {kind_name} state cannot have child states"
            )
        if parent is None and kind in (FINAL, HISTORY):
            raise DefinitionError(path, f"the root cannot be a {kind_name} state")

        explicit = cfg.get("id")
        if explicit is not None and (not isinstance(explicit, str) or not explicit):
            raise DefinitionError(key_path(path, "id"), "'id' must be a non-empty string")
        # Without an explicit id a state is named by its key path from the root: that is
        # its key for top-level states, and stays unique (and stable) when nested.
        key_path_id = (
            key if parent is None or parent.parent is None else f"{self._keypaths[parent]}.{key}"
        )
        if explicit is not None:
            node_id = explicit
        elif parent is None:
            node_id = ROOT_ID
        else:
            node_id = key_path_id
        if node_id in self._by_id:
            raise DefinitionError(path, f"duplicate state id {node_id!r}")
        node = Node(
            index=len(self._nodes),
            key=key,
            id=node_id,
            kind=kind,
            path=path,
            parent=parent,
            depth=0 if parent is None else parent.depth + 1,
            atomic=kind in (ATOMIC, FINAL),
        )
        node.ancestors = () if parent is None else (parent, *parent.ancestors)
        self._nodes.append(node)
        self._by_id[node_id] = node
        self._configs[node] = cfg
        self._keypaths[node] = key_path_id
        by_key: dict[str, Node] = {}
        self._by_key[node] = by_key
        children: list[Node] = []
        history_nodes: list[Node] = []
        states_path = key_path(path, "states")
        for child_key, child_cfg in (states or {}).items():
            child_path = key_path(states_path, str(child_key))
            if not isinstance(child_key, str) or not child_key:
                raise DefinitionError(child_path, "a state key must be a non-empty string")
            if "." in child_key or child_key.startswith("#"):
                raise DefinitionError(
                    child_path, "a state key cannot contain '.' or start with '#'"
                )
            child = self._node(child_cfg, child_path, child_key, node)
            by_key[child_key] = child
            (history_nodes if child.kind == HISTORY else children).append(child)
        if kind in (COMPOUND, PARALLEL) and not children:
            raise DefinitionError(states_path, "a state needs at least one non-history child")
        node.children = tuple(children)
        node.history_nodes = tuple(history_nodes)
        node.last = self._nodes[-1].index
        return node

    # -- pass 2: everything that refers to other states --------------------------------

    def _details(self, node: Node) -> None:
        cfg = self._configs[node]
        path = node.path
        kind = node.kind
        if kind == HISTORY:
            for word in ("on", "after", "always", "entry", "exit", "onDone", "initial"):
                if word in cfg:
                    raise DefinitionError(
                        key_path(path, word), f"a history state cannot have '{word}'"
                    )
            self._history(node, cfg)
            return
        if "history" in cfg:
            raise DefinitionError(key_path(path, "history"), "'history' belongs on a history state")
        if "target" in cfg:
            raise DefinitionError(
                key_path(path, "target"), "'target' on a state is only for history states"
            )
        self._initial(node, cfg)
        node.entry = self._actions_of(cfg, ("entry", "onEntry"), path)
        node.exit = self._actions_of(cfg, ("exit", "onExit"), path)

        on = cfg.get("on")
        on_path = key_path(path, "on")
        if on is not None and not isinstance(on, Mapping):
            raise DefinitionError(on_path, "'on' must be an object of event -> transitions")
        wild: list[tuple[str, tuple[Transition, ...]]] = []
        for descriptor, spec in (on or {}).items():
            d_path = key_path(on_path, str(descriptor))
            if not isinstance(descriptor, str) or not descriptor:
                raise DefinitionError(
                    d_path, "an event name must be a non-empty string (use 'always')"
                )
            star = descriptor.find("*")
            if star != -1 and not (
                descriptor == "*" or (descriptor.endswith(".*") and star == len(descriptor) - 1)
            ):
                raise DefinitionError(
                    d_path, "a wildcard is only allowed as '*' or as a final '.*' token"
                )
            transitions = self._transition_list(node, spec, d_path, descriptor)
            if star != -1:
                wild.append((descriptor, transitions))
            else:
                node.on[descriptor] = transitions
        # XState tries longer wildcard descriptors first; sorted() is stable for ties.
        node.wild = tuple(sorted(wild, key=lambda item: -len(item[0])))

        timers: list[TimerSpec] = []
        after = cfg.get("after")
        after_path = key_path(path, "after")
        if after is not None:
            if not isinstance(after, Mapping):
                raise DefinitionError(
                    after_path, "'after' must be an object of delay (ms) -> transitions"
                )
            for raw_delay, spec in after.items():
                d_path = key_path(after_path, str(raw_delay))
                delay = parse_delay(raw_delay, d_path)
                event_type = f"xstate.after.{format_delay(delay)}.{node.id}"
                transitions = self._transition_list(node, spec, d_path, event_type)
                if event_type in node.on:
                    node.on[event_type] = node.on[event_type] + transitions
                else:
                    node.on[event_type] = transitions
                    timers.append(TimerSpec(delay, event_type, {"type": event_type}))
        node.timers = tuple(timers)

        if "always" in cfg:
            node.always = self._transition_list(node, cfg["always"], key_path(path, "always"), None)

        node.done_event = f"done.state.{node.id}"
        if "onDone" in cfg:
            d_path = key_path(path, "onDone")
            if kind not in (COMPOUND, PARALLEL):
                raise DefinitionError(d_path, "'onDone' is only for compound and parallel states")
            transitions = self._transition_list(node, cfg["onDone"], d_path, node.done_event)
            node.on[node.done_event] = node.on.get(node.done_event, ()) + transitions

    def _initial(self, node: Node, cfg: Mapping[str, Any]) -> None:
        path = key_path(node.path, "initial")
        initial = cfg.get("initial")
        if node.kind != COMPOUND:
            if initial is not None:
                raise DefinitionError(path, "'initial' is only for compound states")
            return
        if initial is None:
            raise DefinitionError(
                node.path, "a compound state needs 'initial' (the key of a child state)"
            )
        actions: tuple[Action, ...] = ()
        target = initial
        if isinstance(initial, Mapping):
            target = initial.get("target")
            actions = self._actions_of(initial, ("actions",), path)
            path = key_path(path, "target")
        if not isinstance(target, str) or not target:
            raise DefinitionError(path, "'initial' must name a child state")
        children = self._by_key[node]
        if target.startswith("#"):
            found = self._by_id.get(target[1:])
            child = found if found is not None and found.parent is node else None
        else:
            child = children.get(target)
        if child is None:
            raise DefinitionError(path, f"initial state {target!r} is not a child of {node.id!r}")
        node.initial = child
        node.initial_actions = actions

    def _history(self, node: Node, cfg: Mapping[str, Any]) -> None:
        mode = cfg.get("history", "shallow")
        if mode is True:  # XState v4 spelling
            mode = "shallow"
        if mode not in ("shallow", "deep"):
            raise DefinitionError(
                key_path(node.path, "history"), "'history' must be 'shallow' or 'deep'"
            )
        node.deep = mode == "deep"
        parent = node.parent
        assert parent is not None
        target = cfg.get("target")
        t_path = key_path(node.path, "target")
        if target is None:
            default: tuple[Node, ...] = ()
        else:
            raw = target if isinstance(target, list) else [target]
            resolved = []
            for i, item in enumerate(raw):
                i_path = f"{t_path}[{i}]" if isinstance(target, list) else t_path
                if isinstance(item, str) and not item.startswith("#"):
                    resolved.append(self._walk(parent, item, item, i_path))
                else:
                    resolved.append(self._resolve(node, item, i_path))
            default = tuple(resolved)
            for s in default:
                if s.kind == HISTORY or not parent.contains(s):
                    raise DefinitionError(
                        t_path, f"a history default must be a state inside {parent.id!r}"
                    )
            self._check_together(default, t_path)
        if not default:
            # XState: a history state without a target defaults to its parent's initial
            # state; for a parallel parent that is every region.
            if parent.kind == PARALLEL:
                default = parent.children
            else:
                assert parent.initial is not None  # set earlier: parents come first
                if parent.initial is node:
                    raise DefinitionError(
                        node.path, "a history state that is its parent's initial needs a 'target'"
                    )
                default = (parent.initial,)
        node.history_default = default

    # -- transitions -------------------------------------------------------------------

    def _transition_list(
        self, node: Node, spec: object, path: str, event: str | None
    ) -> tuple[Transition, ...]:
        if isinstance(spec, list):
            # A list holds candidates tried in order (XState), not several targets:
            # several targets are written `{"target": [...]}`.
            items = [(item, f"{path}[{i}]") for i, item in enumerate(spec)]
        else:
            items = [(spec, path)]
        return tuple(self._transition(node, item, i_path, event) for item, i_path in items)

    def _transition(self, node: Node, spec: object, path: str, event: str | None) -> Transition:
        if spec is None or isinstance(spec, str):
            cfg: Mapping[str, Any] = {"target": spec}
        elif isinstance(spec, Mapping):
            cfg = spec
        else:
            raise DefinitionError(path, "a transition must be a target string, an object or a list")
        t_path = path if isinstance(spec, str) else key_path(path, "target")
        target = cfg.get("target")
        targets: tuple[Node, ...] | None
        if target is None or target == []:
            targets = None
        elif isinstance(target, list):
            targets = tuple(self._resolve(node, x, f"{t_path}[{i}]") for i, x in enumerate(target))
            self._check_together(targets, t_path)
        else:
            targets = (self._resolve(node, target, t_path),)

        reenter = self._reenter(cfg, path)
        if "guard" in cfg and "cond" in cfg:
            raise DefinitionError(path, "give either 'guard' (v5) or 'cond' (v4), not both")
        g_key = "guard" if "guard" in cfg else "cond"
        guard = self._guard(cfg.get(g_key), key_path(path, g_key))
        in_state = None
        if "in" in cfg:
            in_path = key_path(path, "in")
            ref = cfg["in"]
            if not isinstance(ref, str) or not ref:
                raise DefinitionError(in_path, "'in' must name a state")
            in_state = self._resolve(node, ref if ref.startswith("#") else f"#{ref}", in_path)
        transition = Transition(
            source=node,
            event=event,
            targets=targets,
            guard=guard,
            in_state=in_state,
            actions=self._actions_of(cfg, ("actions",), path),
            reenter=reenter,
            path=path,
        )
        self._transitions.append(transition)
        return transition

    def _reenter(self, cfg: Mapping[str, Any], path: str) -> bool:
        reenter = cfg.get("reenter")
        internal = cfg.get("internal")
        for word, value in (("reenter", reenter), ("internal", internal)):
            if value is not None and not isinstance(value, bool):
                raise DefinitionError(key_path(path, word), f"'{word}' must be true or false")
        if reenter is not None and internal is not None and reenter == internal:
            raise DefinitionError(path, "'reenter' and 'internal' contradict each other")
        if reenter is not None:
            return bool(reenter)
        if internal is not None:
            return not internal
        return False  # XState 5 default

    def _resolve(self, source: Node, target: object, path: str) -> Node:
        if not isinstance(target, str) or not target:
            raise DefinitionError(path, f"a target must be a non-empty string, not {target!r}")
        if target.startswith("#"):
            ref = target[1:]
            found = self._by_id.get(ref)
            if found is not None:
                return found
            # "#id.child.grandchild": an id, then keys below it.
            dot = ref.rfind(".")
            while dot > 0:
                base = self._by_id.get(ref[:dot])
                if base is not None:
                    return self._walk(base, ref[dot + 1 :], target, path)
                dot = ref.rfind(".", 0, dot)
            raise DefinitionError(path, f"unknown target {target!r}: no state has id {ref!r}")
        if target.startswith("."):
            return self._walk(source, target[1:], target, path)
        if source.parent is None:
            raise DefinitionError(
                path, f"target {target!r} is not valid from the root (did you mean '.{target}')"
            )
        return self._walk(source.parent, target, target, path)

    def _walk(self, base: Node, rel: str, target: str, path: str) -> Node:
        node = base
        for part in rel.split("."):
            child = self._by_key[node].get(part) if part else None
            if child is None:
                raise DefinitionError(
                    path, f"unknown target {target!r}: {node.id!r} has no child {part!r}"
                )
            node = child
        return node

    def _check_together(self, targets: tuple[Node, ...], path: str) -> None:
        for i, a in enumerate(targets):
            for b in targets[i + 1 :]:
                lca = _lca(a, b)
                if lca is a or lca is b or lca.kind != PARALLEL:
                    raise DefinitionError(
                        path, f"targets {a.id!r} and {b.id!r} cannot be active together"
                    )

    # -- guards ------------------------------------------------------------------------

    def _guard(self, spec: object, path: str) -> GuardFn | None:
        if spec is None:
            return None
        if isinstance(spec, str):
            return self._named_guard(spec, None, path)
        if (
            isinstance(spec, Mapping)
            and isinstance(spec.get("type"), str)
            and set(spec) <= {"type", "params"}
        ):
            return self._named_guard(spec["type"], spec.get("params"), path)
        return self._compile_rule(spec, path)

    def _named_guard(self, name: str, params: object, path: str) -> GuardFn:
        fn = self._named.get(name)
        if fn is None:
            if name not in self._guards:
                raise DefinitionError(path, f"unknown guard {name!r} (not in the machine's guards)")
            value = self._guards[name]
            fn = cast(GuardFn, value) if callable(value) else self._compile_rule(value, path)
            self._named[name] = fn
        if params is None:
            return fn
        bound = fn

        def with_params(data: Mapping[str, Any]) -> Any:
            return bound({**data, "params": params})

        return with_params

    def _compile_rule(self, rule: object, path: str) -> GuardFn:
        compiler = self._guard_compiler
        if compiler is None:
            try:
                module = importlib.import_module("driver.dsl.jsonlogic")
            except ImportError as exc:
                raise DefinitionError(
                    path, "JSONLogic guards need driver.dsl.jsonlogic (or pass guard_compiler=)"
                ) from exc
            compiler = cast(Callable[[Any], GuardFn], module.compile)
            self._guard_compiler = compiler
        try:
            return compiler(rule)
        except Exception as exc:
            raise DefinitionError(path, f"bad guard: {exc}") from exc

    # -- actions -----------------------------------------------------------------------

    def _actions_of(
        self, cfg: Mapping[str, Any], words: tuple[str, ...], path: str
    ) -> tuple[Action, ...]:
        present = [w for w in words if w in cfg]
        if len(present) > 1:
            raise DefinitionError(path, f"give only one of {present}")
        if not present:
            return ()
        word = present[0]
        spec = cfg[word]
        a_path = key_path(path, word)
        if spec is None:
            return ()
        if isinstance(spec, list):
            return tuple(self._action(x, f"{a_path}[{i}]") for i, x in enumerate(spec))
        return (self._action(spec, a_path),)

    def _action(self, spec: object, path: str) -> Action:
        if isinstance(spec, str) and spec:
            return Action(CUSTOM, spec, path)
        if (
            not isinstance(spec, Mapping)
            or not isinstance(spec.get("type"), str)
            or not spec["type"]
        ):
            raise DefinitionError(path, "an action must be a name or an object with a 'type'")
        kind_name: str = spec["type"]
        params = spec.get("params")
        params = params if isinstance(params, Mapping) else {}

        def get(word: str) -> Any:
            return spec[word] if word in spec else params.get(word)

        builtin = kind_name in _RAISE_TYPES or kind_name in _SEND_TYPES
        if builtin and get("event") is None:
            if kind_name.startswith("xstate."):
                raise DefinitionError(path, f"'{kind_name}' needs an 'event'")
            builtin = False  # a host action that happens to be called "raise"/"send"
        if builtin:
            to = get("to")
            if kind_name in _SEND_TYPES and to not in (None, "#_internal"):
                return Action(CUSTOM, spec, path)  # sending elsewhere is the host's business
            kind = RAISE if kind_name in _RAISE_TYPES or to == "#_internal" else SEND
            event = normalize_event(get("event"), key_path(path, "event"))
            raw_delay = get("delay")
            delay = None if raw_delay is None else parse_delay(raw_delay, key_path(path, "delay"))
            send_id = get("id")
            if send_id is not None and not isinstance(send_id, str | int):
                raise DefinitionError(key_path(path, "id"), "a send id must be a string")
            return Action(kind, spec, path, event, delay, None if send_id is None else str(send_id))
        if kind_name in _CANCEL_TYPES:
            send_id = get("sendId")
            if send_id is None:
                send_id = get("id")
            if send_id is None or not isinstance(send_id, str | int):
                if kind_name.startswith("xstate."):
                    raise DefinitionError(path, f"'{kind_name}' needs a 'sendId'")
                return Action(CUSTOM, spec, path)
            return Action(CANCEL, spec, path, send_id=str(send_id))
        return Action(CUSTOM, spec, path)

    # -- pass 3: precomputation --------------------------------------------------------

    def _tables(self, node: Node, known: frozenset[str]) -> None:
        if not node.atomic:
            return
        lineage = (node, *node.ancestors)
        for event in known:
            flat: list[Transition] = []
            for n in lineage:
                own = n.on.get(event)
                flat.extend(own if own is not None else wild_candidates(n, event))
            if flat:
                node.table[event] = tuple(flat)
        node.always_flat = tuple(t for n in lineage for t in n.always)

    def _precompute(self, t: Transition) -> None:
        if t.targets is None:
            return
        try:
            t.domain = domain(t, None)
            entry = EntrySet(None)
            entry.add_transitions((t,))
        except NeedsHistory:
            return
        t.enter = entry.ordered()
        t.enter_set = frozenset(t.enter)
        t.default_entry = frozenset(entry.default)


def wild_candidates(node: Node, event: str) -> tuple[Transition, ...]:
    """XState's fallback when a state has no transitions for `event` itself."""
    if not node.wild:
        return ()
    out: list[Transition] = []
    for descriptor, transitions in node.wild:
        if descriptor == "*" or _prefix_match(descriptor, event):
            out.extend(transitions)
    return tuple(out)


def _prefix_match(descriptor: str, event: str) -> bool:
    # "a.b.*" matches "a.b" and "a.b.anything" (token-wise, like XState).
    prefix = descriptor[:-2]
    return event == prefix or event.startswith(prefix + ".")


def _lca(a: Node, b: Node) -> Node:
    chain_a = (a, *a.ancestors)
    for anc in (b, *b.ancestors):
        if anc in chain_a:
            return anc
    raise AssertionError("states of one machine share the root")

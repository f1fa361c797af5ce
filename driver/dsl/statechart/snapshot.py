"""Snapshots of a running machine, and the plan for restoring one (also onto a new definition).

A snapshot is plain JSON-able data so the server can persist a room between runs and
hot-reload a room's definition without losing where it was. This module only turns
state into data and data into a `RestorePlan`; the Machine applies the plan, so a
malformed snapshot is refused before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .entry import EntrySet
from .errors import SnapshotError, StatechartError
from .model import COMPOUND, HISTORY, PARALLEL, Chart, Event, Node, as_event, by_index

SNAPSHOT_FORMAT = "jitrealm.statechart/1"


@dataclass(slots=True, eq=False)
class Timer:
    """A pending timer: an `after` entry of an active state, or a delayed send/raise."""

    deadline: float
    seq: int
    key: str
    event: Event
    state: Node | None  # set for `after` timers
    delay: float
    send_id: str | None


@dataclass(slots=True, eq=False)
class TimerPlan:
    key: str | None  # None: an anonymous delayed send, the machine names it
    due_in: float
    event: Event
    state: Node | None
    delay: float
    send_id: str | None


@dataclass(slots=True, eq=False)
class RestorePlan:
    started: bool
    restart: bool = False  # nothing survived: start afresh
    config: set[Node] = field(default_factory=set)
    history: dict[Node, tuple[Node, ...]] = field(default_factory=dict)
    timers: list[TimerPlan] = field(default_factory=list)


def take_snapshot(
    *,
    started: bool,
    done: bool,
    config: Iterable[Node],
    history: Mapping[Node, tuple[Node, ...]],
    timers: Iterable[Timer],
    now: float,
) -> dict[str, Any]:
    out_timers: list[dict[str, Any]] = []
    for tm in sorted(timers, key=lambda t: (t.deadline, t.seq)):
        remaining = max(0.0, tm.deadline - now)
        if tm.state is not None:
            out_timers.append(
                {"kind": "after", "state": tm.state.id, "delay": tm.delay, "remaining": remaining}
            )
        else:
            out_timers.append(
                {"kind": "send", "event": dict(tm.event), "id": tm.send_id, "remaining": remaining}
            )
    return {
        "format": SNAPSHOT_FORMAT,
        "started": started,
        "done": done,
        "configuration": [n.id for n in sorted(config, key=by_index)],
        "history": {
            h.id: [n.id for n in nodes]
            for h, nodes in sorted(history.items(), key=lambda item: item[0].index)
        },
        "timers": out_timers,
    }


def plan_restore(chart: Chart, snapshot: object) -> RestorePlan:
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"not a statechart snapshot (format {SNAPSHOT_FORMAT!r})")
    started = snapshot.get("started")
    config_ids = snapshot.get("configuration", [])
    history_raw = snapshot.get("history", {})
    timers_raw = snapshot.get("timers", [])
    if (
        not isinstance(started, bool)
        or not isinstance(config_ids, list)
        or not isinstance(history_raw, Mapping)
        or not isinstance(timers_raw, list)
    ):
        raise SnapshotError("malformed snapshot")
    plan = RestorePlan(started=started)
    if not started:
        return plan
    by_id = chart.by_id
    marked = [
        node
        for node in (by_id.get(i) for i in config_ids if isinstance(i, str))
        if node is not None and node.kind != HISTORY and node.parent is not None
    ]
    if not marked:
        plan.restart = True
        return plan
    plan.history = _history(chart, history_raw)
    plan.config = _legalize(chart, marked, plan.history)
    plan.timers = _timers(chart, timers_raw, plan.config)
    return plan


def _history(chart: Chart, raw: Mapping[Any, Any]) -> dict[Node, tuple[Node, ...]]:
    by_id = chart.by_id
    out: dict[Node, tuple[Node, ...]] = {}
    for h_id, ids in raw.items():
        h = by_id.get(h_id) if isinstance(h_id, str) else None
        if h is None or h.kind != HISTORY or not isinstance(ids, list):
            continue
        parent = h.parent
        assert parent is not None
        kept: set[Node] = set()
        for i in ids:
            node = by_id.get(i) if isinstance(i, str) else None
            if node is None or node.kind == HISTORY:
                continue
            # Only what this history state could have recorded under the new definition.
            if node.atomic and parent.contains(node) if h.deep else node.parent is parent:
                kept.add(node)
        if kept:
            out[h] = tuple(sorted(kept, key=by_index))
    return out


def _legalize(
    chart: Chart, marked: list[Node], history: Mapping[Node, tuple[Node, ...]]
) -> set[Node]:
    """The surviving states, completed into a legal configuration (default entry fills
    compound states with no surviving child and every region of a parallel state)."""
    config: set[Node] = set()

    def covered(n: Node) -> bool:
        return any(n.index <= x.index <= n.last for x in marked)

    stack = [chart.root]
    while stack:
        node = stack.pop()
        if node.kind == PARALLEL:
            for child in node.children:
                config.add(child)
                stack.append(child)
        elif node.kind == COMPOUND:
            pick = next((c for c in node.children if covered(c)), None)
            if pick is None:
                fill = EntrySet(history)
                fill.add_descendants(node, include_self=False)
                config |= fill.enter
            else:
                config.add(pick)
                stack.append(pick)
    return config


def _timers(chart: Chart, records: list[Any], config: set[Node]) -> list[TimerPlan]:
    by_id = chart.by_id
    plans: list[TimerPlan] = []
    armed: set[str] = set()
    parsed: list[tuple[float, Mapping[str, Any]]] = []
    for rec in records:
        remaining = rec.get("remaining") if isinstance(rec, Mapping) else None
        if isinstance(remaining, bool) or not isinstance(remaining, int | float):
            raise SnapshotError(f"timer without a valid 'remaining': {rec!r}")
        parsed.append((max(0.0, float(remaining)), rec))
    parsed.sort(key=lambda item: item[0])  # stable: ties keep their saved order
    for remaining, rec in parsed:
        kind = rec.get("kind")
        if kind == "after":
            state = rec.get("state")
            node = by_id.get(state) if isinstance(state, str) else None
            if node is None or not (node in config or node.parent is None):
                continue  # the state is gone or no longer active: so is its timer
            for spec in node.timers:
                if spec.delay == rec.get("delay") and spec.event_type not in armed:
                    armed.add(spec.event_type)
                    plans.append(
                        TimerPlan(spec.event_type, remaining, spec.event, node, spec.delay, None)
                    )
        elif kind == "send":
            send_id = rec.get("id")
            try:
                event = as_event(rec.get("event"))
            except StatechartError as exc:
                raise SnapshotError(f"bad timer event: {exc}") from exc
            if isinstance(send_id, str):
                plans.append(
                    TimerPlan(f"send:{send_id}", remaining, event, None, remaining, send_id)
                )
            else:
                plans.append(TimerPlan(None, remaining, event, None, remaining, None))
        else:
            raise SnapshotError(f"unknown timer kind {kind!r}")
    # Active states whose `after` entries are new (or were not saved) get fresh timers.
    for node in (chart.root, *sorted(config, key=by_index)):
        for spec in node.timers:
            if spec.event_type not in armed:
                armed.add(spec.event_type)
                plans.append(
                    TimerPlan(spec.event_type, spec.delay, spec.event, node, spec.delay, None)
                )
    return plans

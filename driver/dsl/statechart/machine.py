"""The interpreter: SCXML run-to-completion semantics over a compiled Chart.

One call (`start`, `send`, one due timer in `advance`) is one macrostep: the event's
microstep, then eventless transitions and internal (raised) events until the machine is
stable. A macrostep is a transaction: if an action handler raises, or a cap is hit, the
configuration, history, timers and context reference are put back as they were before it.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .compiler import Compiler, wild_candidates
from .entry import EntrySet, domain
from .errors import (
    GuardError,
    LoopError,
    QueueOverflowError,
    StatechartError,
)
from .model import (
    CANCEL,
    COMPOUND,
    CUSTOM,
    FINAL,
    PARALLEL,
    RAISE,
    Action,
    ActionHandler,
    Chart,
    Event,
    GuardCompiler,
    Limits,
    Node,
    Transition,
    as_event,
    by_index,
    truthy,
)
from .snapshot import Timer, plan_restore, take_snapshot

INIT_EVENT: Event = {"type": "xstate.init"}


def compile_chart(
    definition: Mapping[str, Any],
    *,
    guard_compiler: GuardCompiler | None = None,
    guards: Mapping[str, Any] | None = None,
) -> Chart:
    """Validate and precompute a definition once; many Machines can share the result."""
    return Compiler(definition, guard_compiler, guards).compile()


class Machine:
    """A running statechart. Not thread-safe; one room drives one machine."""

    def __init__(
        self,
        definition: Mapping[str, Any] | Chart,
        *,
        guard_compiler: GuardCompiler | None = None,
        guards: Mapping[str, Any] | None = None,
        action_handler: ActionHandler | None = None,
        context: Any = None,
        limits: Limits | Mapping[str, int] | None = None,
        host_state: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(definition, Chart):
            if guard_compiler is not None or guards is not None:
                raise StatechartError(
                    "guards are compiled into a Chart: pass them to compile_chart"
                )
            self._chart = definition
        else:
            self._chart = compile_chart(definition, guard_compiler=guard_compiler, guards=guards)
        self._handler = action_handler
        if context is None:
            # The definition's `context` (XState) is copied so machines never share it.
            context = copy.deepcopy(self._chart.context) if self._chart.context is not None else {}
        self._context: Any = context
        self._limits = Limits.of(limits)
        # What guards see as `state`: the room's replicated state, owned by the host.
        self.host_state: Mapping[str, Any] = {} if host_state is None else host_state
        self._config: set[Node] = set()
        self._atoms: list[Node] = []
        self._ids: frozenset[str] | None = None
        self._history: dict[Node, tuple[Node, ...]] = {}
        self._timers: dict[str, Timer] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._now = 0.0
        self._internal: deque[Event] = deque()
        self._external: deque[Event] = deque()
        self._started = False
        self._done = False
        self._busy = False
        self._steps = 0

    # -- public API --------------------------------------------------------------------

    @property
    def chart(self) -> Chart:
        return self._chart

    @property
    def configuration(self) -> frozenset[str]:
        """Ids of the active atomic (and final) states."""
        ids = self._ids
        if ids is None:
            ids = self._ids = frozenset(n.id for n in self._atoms)
        return ids

    @property
    def active_states(self) -> frozenset[str]:
        """Ids of every active state, compound and parallel ones included (not the root)."""
        return frozenset(n.id for n in self._config)

    def is_active(self, state_id: str) -> bool:
        node = self._chart.by_id.get(state_id)
        if node is None:
            raise StatechartError(f"no state has id {state_id!r}")
        return self._started and (node.parent is None or node in self._config)

    @property
    def started(self) -> bool:
        return self._started

    @property
    def done(self) -> bool:
        """True once a top-level final state was reached; later events are ignored."""
        return self._done

    @property
    def now(self) -> float:
        """Simulated milliseconds since the machine's clock zero."""
        return self._now

    @property
    def context(self) -> Any:
        return self._context

    @context.setter
    def context(self, value: Any) -> None:
        self._context = value

    def assign(self, updates: Mapping[str, Any]) -> None:
        """Replace the context by a merged copy (so a failed macrostep can roll it back)."""
        if not isinstance(self._context, Mapping):
            raise StatechartError("assign() needs a mapping context")
        self._context = {**self._context, **updates}

    def start(self) -> None:
        if self._busy:
            raise StatechartError("start() cannot be called from an action handler")
        if self._started:
            raise StatechartError("the machine is already started")
        self._macrostep(dict(INIT_EVENT), initial=True)
        self._drain()

    def send(self, event: str | Event) -> bool:
        """Process one external event to completion. True if it enabled a transition.

        Called from an action handler, the event is queued and processed after the current
        macrostep (SCXML's external queue), and False is returned.
        """
        ev = as_event(event)
        if self._busy:
            if len(self._external) >= self._limits.max_external_queue:
                raise QueueOverflowError(
                    f"more than {self._limits.max_external_queue} queued external events"
                )
            self._external.append(ev)
            return False
        if not self._started:
            raise StatechartError("start() the machine before sending events")
        if self._done:
            return False
        handled = self._macrostep(ev)
        if self._external:
            self._drain()
        return handled

    def can(self, event: str | Event) -> bool:
        """Would this event enable a transition now? (Guards run; nothing else does.)"""
        if not self._started or self._done:
            return False
        return bool(self._select(as_event(event)))

    def raise_event(self, event: str | Event) -> None:
        """From an action handler: queue an internal event (processed in this macrostep)."""
        if not self._busy:
            raise StatechartError("raise_event() is for action handlers; use send()")
        self._push_internal(as_event(event))

    def advance(self, ms: float) -> None:
        """Move simulated time forward, firing due timers in time order, one macrostep each.

        If a timer's macrostep raises, the timer is consumed, the clock stays at its
        deadline and the exception propagates.
        """
        if self._busy:
            raise StatechartError("advance() cannot be called from an action handler")
        if (
            isinstance(ms, bool)
            or not isinstance(ms, (int, float))
            or not ms >= 0
            or math.isinf(ms)
        ):
            raise StatechartError(f"advance() needs a finite number of ms >= 0, not {ms!r}")
        target = self._now + ms
        chained = 0
        # No local aliases: a macrostep may replace the heap and the timer table.
        while self._heap:
            deadline, seq, key = self._heap[0]
            timer = self._timers.get(key)
            if timer is None or timer.seq != seq:
                heapq.heappop(self._heap)
                continue
            if deadline > target:
                break
            heapq.heappop(self._heap)
            del self._timers[key]
            if deadline > self._now:
                self._now = deadline
                chained = 0
            # Timers due at one instant chain like self-sent events (a zero-delay timer
            # that re-arms itself must not spin forever).
            chained += 1
            if chained > self._limits.max_chained_macrosteps:
                raise LoopError(
                    f"more than {self._limits.max_chained_macrosteps} chained macrosteps "
                    f"at t={self._now} ms (timers re-arming without delay)"
                )
            self._macrostep(timer.event)
            if self._external:
                chained = self._drain(chained)
        if target > self._now:
            self._now = target

    def next_deadline(self) -> float | None:
        """When the next timer is due, in ms from clock zero (compare with `now`)."""
        heap = self._heap
        while heap:
            deadline, seq, key = heap[0]
            timer = self._timers.get(key)
            if timer is not None and timer.seq == seq:
                return deadline
            heapq.heappop(heap)
        return None

    # -- snapshot / restore ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-able data: active states, recorded history, pending timers.

        The context is not included: the host owns it. Timers are stored as time
        remaining, so a restored machine can have a different clock zero.
        """
        if self._busy:
            raise StatechartError("snapshot() cannot be called from an action handler")
        return take_snapshot(
            started=self._started,
            done=self._done,
            config=self._config,
            history=self._history,
            timers=self._timers.values(),
            now=self._now,
        )

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Load a snapshot, possibly taken with another definition (hot reload).

        States that no longer exist are dropped; what remains is completed into a legal
        configuration (missing regions and children are filled by default entry, without
        running entry actions), and active states whose timers were not saved get fresh
        ones. If nothing remains, the machine starts afresh (entry actions run). If this
        raises (SnapshotError, or a cap), the machine is left as it was.
        """
        if self._busy:
            raise StatechartError("restore() cannot be called from an action handler")
        plan = plan_restore(self._chart, snapshot)
        saved = self._save()
        try:
            self._reset()
            if plan.restart:
                self.start()
            elif plan.started:
                self._config = plan.config
                self._history = plan.history
                self._started = True
                self._refresh()
                for tp in plan.timers:
                    key = tp.key if tp.key is not None else f"send#{self._seq + 1}"
                    self._arm(key, tp.due_in, tp.event, tp.state, tp.delay, tp.send_id)
                if self._in_final(self._chart.root):
                    self._done = True
                    self._clear_timers()
        except BaseException:
            self._put_back(saved)
            raise

    def _reset(self) -> None:
        self._config = set()
        self._atoms = []
        self._ids = None
        self._history = {}
        self._clear_timers()
        self._internal.clear()
        self._external.clear()
        self._started = False
        self._done = False

    # -- macrostep ---------------------------------------------------------------------

    def _save(self) -> tuple[Any, ...]:
        return (
            self._config.copy(),
            self._atoms,
            self._ids,
            self._history.copy(),
            self._timers.copy(),
            self._heap.copy(),
            self._context,
            self._started,
            self._done,
        )

    def _put_back(self, saved: tuple[Any, ...]) -> None:
        (
            self._config,
            self._atoms,
            self._ids,
            self._history,
            self._timers,
            self._heap,
            self._context,
            self._started,
            self._done,
        ) = saved
        self._internal.clear()
        self._external.clear()

    def _macrostep(self, event: Event, initial: bool = False) -> bool:
        saved = self._save()
        self._busy = True
        self._steps = 0
        handled = True
        try:
            if initial:
                self._enter_initial(event)
            else:
                transitions = self._select(event)
                handled = bool(transitions)
                if transitions:
                    self._microstep(transitions, event)
            if not self._done:
                self._settle(event)
        except BaseException:
            self._put_back(saved)
            raise
        finally:
            self._busy = False
        return handled

    def _drain(self, chained: int = 1) -> int:
        """Process events the last macrostep sent to the machine itself.

        Each of those is a macrostep of its own; a machine that keeps sending itself
        events would never return, so the chain is capped like microsteps are.
        """
        external = self._external
        cap = self._limits.max_chained_macrosteps
        while external and not self._done:
            chained += 1
            if chained > cap:
                external.clear()
                raise LoopError(f"more than {cap} chained macrosteps (events sent to itself)")
            self._macrostep(external.popleft())
        external.clear()
        return chained

    def _settle(self, event: Event) -> None:
        """Eventless transitions first, then one internal event at a time, until stable."""
        internal = self._internal
        check_always = self._chart.has_always
        current = event
        while not self._done:
            transitions = self._select_eventless(current) if check_always else []
            if not transitions:
                if not internal:
                    break
                current = internal.popleft()
                transitions = self._select(current)
                if not transitions:
                    continue
            self._microstep(transitions, current)

    # -- selection ---------------------------------------------------------------------

    def _data(self, event: Event) -> dict[str, Any]:
        return {"state": self.host_state, "context": self._context, "event": event}

    def _enabled(self, t: Transition, data: Mapping[str, Any]) -> bool:
        in_state = t.in_state
        if in_state is not None and in_state.parent is not None and in_state not in self._config:
            return False
        guard = t.guard
        if guard is None:
            return True
        try:
            result = guard(data)
            return result is True or (result is not False and truthy(result))
        except StatechartError:
            raise
        except Exception as exc:
            raise GuardError(t.path, f"guard failed: {exc!r}") from exc

    def _candidates(self, atom: Node, etype: str, known: bool) -> tuple[Transition, ...]:
        if known:
            return atom.table.get(etype, ())
        if not self._chart.has_wild:
            return ()
        out: list[Transition] = []
        for n in (atom, *atom.ancestors):
            out.extend(wild_candidates(n, etype))
        return tuple(out)

    def _select(self, event: Event) -> list[Transition]:
        etype: str = event["type"]
        known = etype in self._chart.known_events
        if not known and not self._chart.has_wild:
            return []
        atoms = self._atoms
        data: dict[str, Any] | None = None
        if len(atoms) == 1:
            atom = atoms[0]
            candidates = (
                atom.table.get(etype, ()) if known else self._candidates(atom, etype, known)
            )
            for t in candidates:
                if t.guard is None and t.in_state is None:
                    return [t]
                if data is None:
                    data = self._data(event)
                if self._enabled(t, data):
                    return [t]
            return []
        enabled: list[Transition] = []
        for atom in atoms:
            for t in self._candidates(atom, etype, known):
                if t.guard is not None or t.in_state is not None:
                    if data is None:
                        data = self._data(event)
                    if not self._enabled(t, data):
                        continue
                if t not in enabled:
                    enabled.append(t)
                break
        return self._remove_conflicts(enabled) if len(enabled) > 1 else enabled

    def _select_eventless(self, event: Event) -> list[Transition]:
        atoms = self._atoms
        if len(atoms) == 1:
            # One active atomic state (no parallel regions): the first enabled candidate.
            data: dict[str, Any] | None = None
            for t in atoms[0].always_flat:
                guard = t.guard
                if guard is None and t.in_state is None:
                    return [t]
                if data is None:
                    data = {"state": self.host_state, "context": self._context, "event": event}
                if t.in_state is None and guard is not None:  # _enabled, inline
                    try:
                        result = guard(data)
                    except StatechartError:
                        raise
                    except Exception as exc:
                        raise GuardError(t.path, f"guard failed: {exc!r}") from exc
                    if result is True or (result is not False and truthy(result)):
                        return [t]
                elif self._enabled(t, data):
                    return [t]
            return []
        enabled: list[Transition] = []
        data = None
        for atom in atoms:
            for t in atom.always_flat:
                if t.guard is not None or t.in_state is not None:
                    if data is None:
                        data = self._data(event)
                    if not self._enabled(t, data):
                        continue
                if t not in enabled:
                    enabled.append(t)
                break
        return self._remove_conflicts(enabled) if len(enabled) > 1 else enabled

    def _exit_set(self, t: Transition) -> set[Node]:
        if t.targets is None:
            return set()
        dom = t.domain if t.domain is not None else domain(t, self._history)
        lo, hi = dom.index, dom.last
        return {s for s in self._config if lo < s.index <= hi}

    def _remove_conflicts(self, enabled: list[Transition]) -> list[Transition]:
        """SCXML: on overlapping exit sets, a descendant's transition preempts its
        ancestor's; otherwise the first in document order wins."""
        kept: list[Transition] = []
        exits: dict[Transition, set[Node]] = {}
        for t1 in enabled:
            e1 = self._exit_set(t1)
            preempted = False
            losers: list[Transition] = []
            for t2 in kept:
                if e1 & exits[t2]:
                    if t2.source.contains(t1.source):
                        losers.append(t2)
                    else:
                        preempted = True
                        break
            if not preempted:
                for t2 in losers:
                    kept.remove(t2)
                kept.append(t1)
                exits[t1] = e1
        return kept

    # -- microstep ---------------------------------------------------------------------

    def _microstep(self, transitions: list[Transition], event: Event) -> None:
        self._steps += 1
        if self._steps > self._limits.max_microsteps:
            raise LoopError(
                f"more than {self._limits.max_microsteps} microsteps in one macrostep "
                f"(last transition: {transitions[0].path})"
            )
        if len(transitions) == 1:
            t = transitions[0]
            if t.targets is None:
                if t.actions:
                    self._run(t.actions, event)
                return
            if t.enter is not None:
                self._take(t, event)
                return
        targeted = [t for t in transitions if t.targets is not None]
        if not targeted:
            for t in transitions:
                if t.actions:
                    self._run(t.actions, event)
            return
        order: Iterable[Node]
        default: frozenset[Node] | set[Node]
        if all(t.enter is not None for t in targeted):
            # No history involved: domains and entry sets were precomputed. Transitions
            # that survived conflict removal have disjoint domains, so their entry sets
            # simply add up.
            if len(targeted) == 1:
                t = targeted[0]
                dom = t.domain
                assert dom is not None and t.enter is not None
                lo, hi = dom.index, dom.last
                exits = [s for s in self._config if lo < s.index <= hi]
                order, default = t.enter, t.default_entry
            else:
                exit_set: set[Node] = set()
                for t in targeted:
                    assert t.domain is not None
                    lo, hi = t.domain.index, t.domain.last
                    exit_set.update([s for s in self._config if lo < s.index <= hi])
                exits = list(exit_set)
                enter: set[Node] = set()
                default = set()
                for t in targeted:
                    enter.update(t.enter or ())
                    default |= t.default_entry
                order = sorted(enter, key=by_index)
            if exits:
                exits.sort(key=by_index, reverse=True)
                self._exit_states(exits, event)
            for t in transitions:
                if t.actions:
                    self._run(t.actions, event)
        else:
            to_exit: set[Node] = set()
            for t in targeted:
                to_exit |= self._exit_set(t)
            if to_exit:
                self._exit_states(sorted(to_exit, key=by_index, reverse=True), event)
            for t in transitions:
                if t.actions:
                    self._run(t.actions, event)
            # After the exits: the history they recorded is what the entry uses (SCXML).
            entry = EntrySet(self._history)
            entry.add_transitions(transitions)
            order, default = entry.ordered(), entry.default
        self._enter_states(order, default, event)
        self._refresh()

    def _take(self, t: Transition, event: Event) -> None:
        """One targeted transition whose domain and entry set were precomputed (no
        history involved): what :meth:`_microstep` does for it, in fewer steps."""
        dom = t.domain
        enter = t.enter
        assert dom is not None and enter is not None
        lo, hi = dom.index, dom.last
        config = self._config
        exits = [s for s in config if lo < s.index <= hi]
        if exits:
            exits.sort(key=by_index, reverse=True)
            self._exit_states(exits, event)
        if t.actions:
            self._run(t.actions, event)
        self._enter_states(enter, t.default_entry, event)
        # A state re-entering itself (the same states out, then in) leaves the
        # configuration as it was: its atomic states need no new sort.
        if len(exits) != len(enter) or not t.enter_set.issuperset(exits):
            self._refresh()

    def _exit_states(self, exits: list[Node], event: Event) -> None:
        config = self._config
        for s in exits:
            for h in s.history_nodes:
                if h.deep:
                    kept = [x for x in config if x.atomic and s.index < x.index <= s.last]
                else:
                    kept = [x for x in config if x.parent is s]
                kept.sort(key=by_index)
                self._history[h] = tuple(kept)
        for s in exits:
            if s.exit:
                self._run(s.exit, event)
            for spec in s.timers:
                self._timers.pop(spec.event_type, None)
            config.discard(s)

    def _enter_states(
        self, order: Iterable[Node], default: frozenset[Node] | set[Node], event: Event
    ) -> None:
        config = self._config
        completed: set[Node] = set()
        for s in order:
            config.add(s)
            if s.entry:
                self._run(s.entry, event)
            if s.initial_actions and s in default:
                self._run(s.initial_actions, event)
            for spec in s.timers:
                self._arm(spec.event_type, spec.delay, spec.event, s, spec.delay, None)
            if s.kind == FINAL:
                self._final_entered(s, completed)
        if self._done:
            self._finish(event)

    def _final_entered(self, s: Node, completed: set[Node]) -> None:
        parent = s.parent
        assert parent is not None
        if parent.kind == COMPOUND:
            if parent.parent is not None:
                self._push_internal({"type": parent.done_event})
            marker = parent.parent
        else:
            marker = parent
        # XState 5: completion climbs through nested parallel states.
        while (
            marker is not None
            and marker.kind == PARALLEL
            and marker not in completed
            and self._in_final(marker)
        ):
            completed.add(marker)
            if marker.parent is not None:
                self._push_internal({"type": marker.done_event})
            marker = marker.parent
        if marker is None:
            self._done = True

    def _in_final(self, n: Node) -> bool:
        if n.kind == COMPOUND:
            return any(c.kind == FINAL and c in self._config for c in n.children)
        if n.kind == PARALLEL:
            return all(self._in_final(c) for c in n.children)
        return n.kind == FINAL

    def _finish(self, event: Event) -> None:
        """Top-level final reached: run every active state's exit actions (the final
        configuration stays visible), then drop timers and queued events."""
        for s in sorted(self._config, key=by_index, reverse=True):
            if s.exit:
                self._run(s.exit, event)
        root = self._chart.root
        if root.exit:
            self._run(root.exit, event)
        self._clear_timers()
        self._internal.clear()
        self._external.clear()

    def _enter_initial(self, event: Event) -> None:
        chart = self._chart
        root = chart.root
        self._started = True
        self._steps = 1
        if root.entry:
            self._run(root.entry, event)
        if root.initial_actions:
            self._run(root.initial_actions, event)
        for spec in root.timers:
            self._arm(spec.event_type, spec.delay, spec.event, root, spec.delay, None)
        if chart.start_enter is not None:
            self._enter_states(chart.start_enter, chart.start_default, event)
        else:
            entry = EntrySet(self._history)
            entry.add_descendants(root)
            self._enter_states(entry.ordered(), entry.default, event)
        self._refresh()

    def _refresh(self) -> None:
        self._atoms = sorted([n for n in self._config if n.atomic], key=by_index)
        self._ids = None

    # -- actions, queues, timers -------------------------------------------------------

    def _run(self, actions: tuple[Action, ...], event: Event) -> None:
        for a in actions:
            kind = a.kind
            if kind == CUSTOM:
                handler = self._handler
                if handler is not None:
                    result = handler(a.raw, event)
                    if result is not None:
                        self._raise_result(result)
            elif kind == CANCEL:
                timer = self._timers.pop(f"send:{a.send_id}", None)
                del timer
            else:
                ev = a.event
                assert ev is not None
                if a.delay is not None:
                    key = f"send:{a.send_id}" if a.send_id is not None else f"send#{self._seq + 1}"
                    self._arm(key, a.delay, ev, None, a.delay, a.send_id)
                elif kind == RAISE:
                    self._push_internal(ev)
                else:
                    if len(self._external) >= self._limits.max_external_queue:
                        raise QueueOverflowError(
                            f"more than {self._limits.max_external_queue} queued external events"
                        )
                    self._external.append(ev)

    def _raise_result(self, result: object) -> None:
        if isinstance(result, str | Mapping):
            self._push_internal(as_event(result))
        elif isinstance(result, list | tuple):
            for item in result:
                self._push_internal(as_event(item))
        else:
            raise StatechartError(
                f"an action handler returns None, an event or a list of events, not {result!r}"
            )

    def _push_internal(self, event: Event) -> None:
        if len(self._internal) >= self._limits.max_internal_queue:
            raise QueueOverflowError(
                f"more than {self._limits.max_internal_queue} queued internal events"
            )
        self._internal.append(event)

    def _arm(
        self,
        key: str,
        due_in: float,
        event: Event,
        state: Node | None,
        delay: float,
        send_id: str | None,
    ) -> None:
        timers = self._timers
        if key not in timers and len(timers) >= self._limits.max_timers:
            raise QueueOverflowError(f"more than {self._limits.max_timers} pending timers")
        self._seq += 1
        timer = Timer(self._now + due_in, self._seq, key, event, state, delay, send_id)
        timers[key] = timer
        heap = self._heap
        heapq.heappush(heap, (timer.deadline, timer.seq, key))
        if len(heap) > 2 * len(timers) + 64:
            # Cancelled timers stay in the heap until popped; rebuild when they pile up.
            self._heap = [(t.deadline, t.seq, t.key) for t in timers.values()]
            heapq.heapify(self._heap)

    def _clear_timers(self) -> None:
        self._timers = {}
        self._heap = []

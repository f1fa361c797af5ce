"""Transition domain and entry set (SCXML Appendix D, with XState 5's `reenter: false`).

Shared by the compiler (which precomputes everything that does not depend on recorded
history) and the interpreter (which recomputes when a history state is involved).
`history=None` means "static": touching a history state raises NeedsHistory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .model import COMPOUND, HISTORY, PARALLEL, Node, Transition, by_index

History = Mapping[Node, tuple[Node, ...]]


class NeedsHistory(Exception):
    """Internal: the answer depends on recorded history, so it cannot be precomputed."""


def effective_targets(t: Transition, history: History | None) -> list[Node]:
    """Targets with history states replaced by what they stand for (stored or default)."""
    out: list[Node] = []
    for s in t.targets or ():
        if s.kind == HISTORY:
            if history is None:
                raise NeedsHistory
            stored = history.get(s)
            for x in stored if stored else s.history_default:
                if x not in out:
                    out.append(x)
        elif s not in out:
            out.append(s)
    return out


def domain(t: Transition, history: History | None) -> Node:
    """The transition domain: the state whose active descendants the transition exits.

    `reenter: false` (XState 5; v4 `internal: true`) keeps the source when every target
    is the source or inside it, whatever the source's type. Otherwise it is the least
    common *compound* ancestor of source and targets (SCXML: parallel states are skipped,
    so they are exited and re-entered), or the root.
    """
    src = t.source
    targets = effective_targets(t, history)
    if not t.reenter and all(x is src or src.contains(x) for x in targets):
        return src
    for anc in src.ancestors:
        if anc.kind == COMPOUND or anc.parent is None:
            if all(anc.contains(x) for x in targets):
                return anc
    return src  # the source is the root: nothing above it can be exited


class EntrySet:
    """Accumulates statesToEnter / statesForDefaultEntry for one microstep."""

    __slots__ = ("default", "enter", "history")

    def __init__(self, history: History | None) -> None:
        self.history = history
        self.enter: set[Node] = set()
        self.default: set[Node] = set()

    def add_transitions(self, transitions: Iterable[Transition]) -> None:
        for t in transitions:
            if t.targets is None:
                continue
            dom = domain(t, self.history)
            for s in t.targets:
                # A non-reentering transition to its own source does not enter the source,
                # only (re)fills what was exited below it (XState 5).
                self.add_descendants(s, include_self=not (s is t.source and dom is s))
            for s in effective_targets(t, self.history):
                self.add_ancestors(s, dom)
            if dom.kind == PARALLEL:
                # Only reachable with reenter: false from a parallel source: every region
                # was exited, so the ones no target entered are entered by default.
                self._fill_regions(dom)

    def add_descendants(self, s: Node, include_self: bool = True) -> None:
        if s.kind == HISTORY:
            if self.history is None:
                raise NeedsHistory
            stored = self.history.get(s)
            chosen = stored if stored else s.history_default
            for x in chosen:
                self.add_descendants(x)
            parent = s.parent
            for x in chosen:
                self.add_ancestors(x, parent)
            return
        if include_self and s.parent is not None:
            self.enter.add(s)
        if s.kind == COMPOUND:
            if include_self:
                self.default.add(s)
            init = s.initial
            assert init is not None  # the compiler refuses compound states without one
            self.add_descendants(init)
            self.add_ancestors(init, s)
        elif s.kind == PARALLEL:
            self._fill_regions(s)

    def add_ancestors(self, s: Node, limit: Node | None) -> None:
        for anc in s.ancestors:
            if anc is limit or anc.parent is None:
                break
            self.enter.add(anc)
            if anc.kind == PARALLEL:
                self._fill_regions(anc)

    def _fill_regions(self, p: Node) -> None:
        for child in p.children:
            lo, hi = child.index, child.last
            if not any(lo <= e.index <= hi for e in self.enter):
                self.add_descendants(child)

    def ordered(self) -> tuple[Node, ...]:
        return tuple(sorted(self.enter, key=by_index))

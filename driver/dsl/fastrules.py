"""Shortcuts for the JSONLogic rules rooms evaluate most, exactly as JSONLogic means them.

A room's guards and effect parameters run on every event, and most are tiny: a literal,
``{"var": "state.timer.remainingSec"}``, a comparison of two of those. Going through the
general evaluator costs about a microsecond of set-up per rule, which is most of what
such a rule costs. So :func:`compile_rule` compiles every rule as
:func:`driver.dsl.jsonlogic.compile` does (same checks, same limits) and, for these
shapes only, returns a direct closure that gives the same answer — falling back to the
compiled rule the moment a value is not the plain kind the shortcut knows (a list on a
``var`` path, mixed types in a comparison), so JavaScript's coercions stay the
evaluator's business.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from driver.dsl import jsonlogic

__all__ = ["compile_rule"]

Rule = Callable[[Any], Any]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "===": operator.eq, "!=": operator.ne, "!==": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_MISSING = object()


def compile_rule(spec: Any, limits: jsonlogic.Limits) -> Rule:
    """``spec`` compiled (raises :class:`jsonlogic.RuleError` like ``jsonlogic.compile``)."""
    full = jsonlogic.compile(spec, limits).evaluate
    return _shortcut(spec, full) or full


def _shortcut(spec: Any, full: Rule) -> Rule | None:
    if spec is None or type(spec) in (str, int, float, bool):
        return lambda data: spec  # a literal is its own value
    if type(spec) is not dict or len(spec) != 1:
        return None
    (op, args), = spec.items()
    if op == "var":
        return _var(args, full)
    compare = _COMPARE.get(op)
    if compare is not None and type(args) is list and len(args) == 2:
        left, right = (_operand(a) for a in args)
        if left is None or right is None:
            return None

        def compared(data: Any) -> Any:
            a, b = left(data), right(data)
            ta, tb = type(a), type(b)
            # Same kind of plain value: JavaScript and Python agree. Else: the evaluator.
            if (ta is tb and ta in (int, float, str)) or (ta in (int, float) and tb in (int, float)):
                return compare(a, b)
            return full(data)

        return compared
    return None


def _operand(spec: Any) -> Rule | None:
    if spec is None or type(spec) in (str, int, float, bool):
        return lambda data: spec
    if type(spec) is dict and len(spec) == 1 and "var" in spec:
        return _var(spec["var"], None)
    return None


def _var(path: Any, full: Rule | None) -> Rule | None:
    if type(path) is not str or not path:
        return None
    keys = tuple(path.split("."))
    fallback = full or jsonlogic.compile({"var": path}).evaluate

    def var(data: Any) -> Any:
        node = data
        for key in keys:
            if type(node) is not dict:
                return fallback(data)  # a list, a string or null on the way: the evaluator
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return None
        return node if type(node) in (int, float, str, bool, dict) or node is None else fallback(data)

    return var

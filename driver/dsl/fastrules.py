"""A fast tier for the JSONLogic rules rooms evaluate, giving exactly JSONLogic's answers.

A room's guards and effect parameters run on every event, and most are small and
loop-free: a literal, ``{"var": "state.timer.remainingSec"}``, a comparison of two of
those, a ``cat`` of a few strings and numbers, an ``if``, a ``+``. The general evaluator
(:mod:`driver.dsl.jsonlogic`) pays for its generality on each of them: a budget context,
JavaScript's coercions looked up operator by operator, result checks. So
:func:`compile_rule` compiles every rule as :func:`driver.dsl.jsonlogic.compile` does
(same checks, same limits: a rule it refuses is refused here) and, when the whole rule
is made of the operators below, also compiles a direct closure for the plain values
rooms deal in. The moment that closure meets anything else — a float to print, a
string to order that is not ASCII, a long string, a list that is long or nested, values
of two kinds to compare, an absent branch that would be ``undefined`` — it gives up
(:class:`_Slow`) and the compiled rule evaluates the data from scratch. Rules have no
side effects, so starting over is always right, and JavaScript's coercions stay the
evaluator's business.

Budgets cannot differ either: a rule only gets a fast closure when it has no loops and
no more nodes than its step budget (each operator it applies costs one step), and the
fast closure gives up before anything would be charged by size (strings of 1,024
characters, paths or lists of 16 items) or checked against ``max_array``/``max_string``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from driver.dsl import jsonlogic
from driver.dsl.jsonlogic import _UNDEFINED, _get_property, _number_out

__all__ = ["compile_rule"]

Rule = Callable[[Any], Any]

_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "==": operator.eq, "===": operator.eq, "!=": operator.ne, "!==": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_EQUALITY: Final = frozenset({"==", "===", "!=", "!=="})
_MISSING: Final = object()
_SAFE_INT: Final = 2**53
_SHORT: Final = 1024  # characters: longer strings are charged by size (1 step / 1024)
_FEW: Final = 16  # path keys or list items: more are charged by size (1 step / 16)


class _Slow(Exception):
    """The fast closure met a value it does not handle: evaluate the general way."""


_SLOW: Final = _Slow()


def compile_rule(spec: Any, limits: jsonlogic.Limits) -> Rule:
    """``spec`` compiled (raises :class:`jsonlogic.RuleError` like ``jsonlogic.compile``)."""
    compiled = jsonlogic.compile(spec, limits)
    full = compiled.evaluate
    if compiled.nodes > limits.max_steps or limits.max_array < _FEW or limits.max_string < _SHORT:
        return full
    fast = _fast(spec)
    if fast is None:
        return full
    if type(spec) is not dict:
        return fast  # a literal: nothing to fall back for

    def rule(data: Any) -> Any:
        try:
            return fast(data)
        except _Slow:
            return full(data)

    return rule


# -- values ---------------------------------------------------------------------------------


def _truthy(v: Any) -> bool:
    """JsonLogic's truthiness for the values fast closures produce."""
    t = type(v)
    if t is bool:
        return v is True
    if t is str or t is list:
        return len(v) > 0
    if t is int:
        return bool(v != 0)
    if t is float:
        return bool(v == v and v != 0.0)
    if v is None:
        return False
    if t is dict:
        return True
    raise _SLOW


def _text(v: Any) -> str | None:
    """String(v) as ``cat`` joins it (None: nothing), for plain values only."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int:
        if -_SAFE_INT <= v <= _SAFE_INT:
            return str(v)
    elif t is bool:
        return "true" if v else "false"
    elif v is None:
        return None
    elif t is float and v.is_integer() and -_SAFE_INT < v < _SAFE_INT and (v or str(v)[0] != "-"):
        return str(int(v))
    raise _SLOW


def _plain(v: Any) -> Any:
    """A value read from the data, as a rule may return it: a short flat list at most."""
    t = type(v)
    if t is list:
        if len(v) >= _FEW or list in map(type, v):
            raise _SLOW
        return v
    if t is str or t is int or t is float or t is bool or t is dict or v is None:
        return v
    raise _SLOW


# -- the operators --------------------------------------------------------------------------


def _fast(spec: Any) -> Rule | None:
    """A fast closure for ``spec``, or None when it uses anything not handled here."""
    if spec is None or type(spec) in (str, int, float, bool):
        return lambda data: spec  # a literal is its own value
    if type(spec) is not dict or len(spec) != 1:
        return None  # arrays and non-logic objects: the evaluator
    ((op, args),) = spec.items()
    if type(args) is not list:
        args = [args]
    if op == "var":
        return _var(args)
    if op == "cat":
        return _cat(args)
    if op == "if":
        return _if(args)
    if op == "+":
        return _add(args)
    if op == "-":
        return _sub(args)
    if op in ("!", "!!"):
        return _not(args, op == "!")
    if op in _COMPARE and len(args) == 2:
        return _compare(op, args)
    return None


def _all(args: list[Any]) -> list[Rule] | None:
    fns = [_fast(a) for a in args]
    return None if any(f is None for f in fns) else fns  # type: ignore[return-value]


def _var(args: list[Any]) -> Rule | None:
    if not 1 <= len(args) <= 2:
        return None
    default = None
    if len(args) == 2:
        if args[1] is not None and type(args[1]) not in (str, int, float, bool):
            return None
        default = args[1]
    path = args[0]
    if type(path) is str and path:
        keys = tuple(path.split("."))
        if len(keys) >= _FEW:
            return None
        return _walker(keys, default)
    key_fn = _fast(path) if type(path) is dict else None
    if key_fn is None:
        return None  # a number, a list, an empty path: the evaluator

    def computed(data: Any) -> Any:
        key = key_fn(data)
        if type(key) is not str or not key or len(key) >= _SHORT:
            raise _SLOW
        keys = key.split(".")
        if len(keys) >= _FEW:
            raise _SLOW
        node = data
        for k in keys:
            node = node.get(k, _MISSING) if type(node) is dict else _property(node, k)
            if node is _MISSING:
                return default
        return _plain(node)

    return computed


def _property(node: Any, key: str) -> Any:
    t = type(node)
    if t is list or t is str:
        found = _get_property(node, key)
        return _MISSING if found is _UNDEFINED else found
    if node is None or t is int or t is float or t is bool:
        return _MISSING
    raise _SLOW


def _walker(keys: tuple[str, ...], default: Any) -> Rule:
    if len(keys) == 1:
        (key,) = keys

        def var1(data: Any) -> Any:
            node = data.get(key, _MISSING) if type(data) is dict else _property(data, key)
            return default if node is _MISSING else _plain(node)

        return var1

    def var(data: Any) -> Any:
        node = data
        for key in keys:
            node = node.get(key, _MISSING) if type(node) is dict else _property(node, key)
            if node is _MISSING:
                return default
        t = type(node)
        if t is str or t is int or t is float or t is dict or t is bool or node is None:
            return node
        return _plain(node)

    return var


def _cat(args: list[Any]) -> Rule | None:
    fns = _all(args)
    if fns is None:
        return None
    parts = tuple(fns)

    def cat(data: Any) -> str:
        out = []
        for f in parts:
            v = f(data)
            if type(v) is not str:
                v = _text(v)
                if v is None:
                    continue
            out.append(v)
        text = "".join(out)
        if len(text) >= _SHORT:
            raise _SLOW
        return text

    return cat


def _if(args: list[Any]) -> Rule | None:
    n = len(args)
    fns = _all(args)
    if fns is None or n == 0:
        return None
    if n == 1:
        return fns[0]
    pairs = tuple(zip(fns[0 : n - 1 : 2], fns[1:n:2], strict=True))
    otherwise = fns[-1] if n % 2 else None

    def if_(data: Any) -> Any:
        for cond, then in pairs:
            if _truthy(cond(data)):
                return then(data)
        return None if otherwise is None else otherwise(data)

    return if_


def _number(v: Any) -> int | float:
    t = type(v)
    if t is int:
        if -_SAFE_INT <= v <= _SAFE_INT:
            return v  # type: ignore[no-any-return]
    elif t is float:
        return v  # type: ignore[no-any-return]
    raise _SLOW


def _add(args: list[Any]) -> Rule | None:
    fns = _all(args)
    if fns is None:
        return None
    parts = tuple(fns)

    def add(data: Any) -> Any:
        # As the evaluator: a sum of doubles (parseFloat of each), integral ones as ints.
        total = 0.0
        for f in parts:
            total += _number(f(data))
        return _number_out(total)

    return add


def _sub(args: list[Any]) -> Rule | None:
    fns = _all(args)
    if fns is None or len(fns) not in (1, 2):
        return None
    if len(fns) == 1:
        (fa,) = fns

        def negate(data: Any) -> Any:
            return _number_out(-float(_number(fa(data))))

        return negate
    fa, fb = fns

    def sub(data: Any) -> Any:
        return _number_out(float(_number(fa(data))) - float(_number(fb(data))))

    return sub


def _not(args: list[Any], negate: bool) -> Rule | None:
    fns = _all(args)
    if fns is None or len(fns) != 1:
        return None
    (fa,) = fns
    return lambda data: _truthy(fa(data)) is not negate


def _compare(op: str, args: list[Any]) -> Rule | None:
    fns = _all(args)
    if fns is None:
        return None
    left, right = fns
    compare = _COMPARE[op]
    equality = op in _EQUALITY
    null_result = op in ("==", "===")

    def compared(data: Any) -> Any:
        a, b = left(data), right(data)
        ta, tb = type(a), type(b)
        # Same kind of plain value: JavaScript and Python agree. Else: the evaluator.
        if ta is int or ta is float:
            if tb is int or tb is float:
                return compare(a, b)
        elif ta is str and tb is str:
            if len(a) < _SHORT and len(b) < _SHORT and (equality or (a.isascii() and b.isascii())):
                return compare(a, b)  # UTF-16 order is code point order in ASCII
        elif ta is bool and tb is bool and equality:
            return compare(a, b)
        elif a is None and b is None and equality:
            return null_result
        raise _SLOW

    return compared

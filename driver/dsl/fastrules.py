"""A fast tier for the JSONLogic rules rooms evaluate, giving exactly JSONLogic's answers.

A room's guards and effect parameters run on every event, and most are small and
loop-free: a literal, ``{"var": "state.timer.remainingSec"}``, a comparison of two of
those, a ``cat`` of a few strings and numbers, an ``if``, a ``+``. The general evaluator
(:mod:`driver.dsl.jsonlogic`) pays for its generality on each of them: a budget context,
JavaScript's coercions looked up operator by operator, result checks. So
:func:`compile_rule` compiles every rule as :func:`driver.dsl.jsonlogic.compile` does
(same checks, same limits: a rule it refuses is refused here) and, when the whole rule
is made of ``var``, ``cat``, ``if``, ``+``, ``-``, ``!``, ``!!`` and comparisons of two,
also generates one Python function for it (see "the code" below) that computes it for
the plain values rooms deal in. The moment that function meets anything else — a float
to print, a string to order that is not ASCII, a long string, a list that is long or
nested, values of two kinds to compare — it gives up (:class:`_Slow`) and the compiled
rule evaluates the data from scratch. Rules have no side effects, so starting over is
always right, and JavaScript's coercions stay the evaluator's business.

Budgets cannot differ either: a rule only gets a fast function when it has no loops and
no more nodes than its step budget (each operator it applies costs one step), and the
fast function gives up before anything would be charged by size (strings of 1,024
characters, paths or lists of 16 items) or checked against ``max_array``/``max_string``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from driver.dsl import jsonlogic
from driver.dsl.jsonlogic import _number_out, _truthy

__all__ = ["compile_rule"]

Rule = Callable[[Any], Any]

_MISSING: Final = object()
_SAFE_INT: Final = 2**53
_SHORT: Final = 1024  # characters: longer strings are charged by size (1 step / 1024)
_FEW: Final = 16  # path keys or list items: more are charged by size (1 step / 16)


class _Slow(Exception):
    """The fast function met a value it does not handle: evaluate the general way."""


def compile_rule(spec: Any, limits: jsonlogic.Limits) -> Rule:
    """``spec`` compiled (raises :class:`jsonlogic.RuleError` like ``jsonlogic.compile``)."""
    compiled = jsonlogic.compile(spec, limits)
    full = compiled.evaluate
    if compiled.nodes > limits.max_steps or limits.max_array < _FEW or limits.max_string < _SHORT:
        return full
    if spec is None or type(spec) in (str, int, float, bool):
        return lambda data: spec  # a literal is its own value
    return _generate(spec, full) or full


# -- values ---------------------------------------------------------------------------------


def _text(v: Any) -> str:
    """String(v) as ``cat`` joins it (null as nothing), for plain values only."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int:
        if -_SAFE_INT <= v <= _SAFE_INT:
            return str(v)
    elif t is bool:
        return "true" if v else "false"
    elif v is None:
        return ""
    elif t is float and v.is_integer() and -_SAFE_INT < v < _SAFE_INT and (v or str(v)[0] != "-"):
        return str(int(v))
    raise _Slow


def _number(v: Any) -> int | float:
    """A plain number as ``+`` and ``-`` take it (an int beyond 2**53: the evaluator)."""
    t = type(v)
    if t is int:
        if -_SAFE_INT <= v <= _SAFE_INT:
            return v  # type: ignore[no-any-return]
    elif t is float:
        return v  # type: ignore[no-any-return]
    raise _Slow


def _plain(v: Any) -> Any:
    """A value read from the data, as a rule may return it: a short flat list at most."""
    t = type(v)
    if t is list:
        if len(v) >= _FEW or list in map(type, v):
            raise _Slow
        return v
    if t is str or t is int or t is float or t is bool or t is dict or v is None:
        return v
    raise _Slow


# -- the code ------------------------------------------------------------------------------
#
# A rule becomes the source of one Python function (compiled once, with ``compile``):
# each operator a few statements over local variables, branches of ``if`` as ``if``
# statements, and a ``try`` around it all that hands the data to the evaluator when
# the fast code gives up. Nothing the rule's author wrote is ever part of the source:
# keys, strings and numbers are constants passed in the function's namespace (K0,
# K1...), and the source is made only of names generated here, so compiling it runs
# nothing the bundle chose. Calls of one Python function instead of one closure per
# node: a guard costs a third of what it did, a ``say`` with a dozen ``var`` a half.


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.names = 0

    def const(self, value: Any) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def local(self) -> str:
        self.names += 1
        return f"v{self.names}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _generate(spec: Any, full: Rule) -> Rule | None:
    src = _Source()
    try:
        result = _node(src, spec, 2)
    except _NotFast:
        return None
    body = "\n".join(src.lines)
    code = f"def rule(data):\n    try:\n{body}\n        return {result}\n    except Slow:\n        return full(data)\n"
    namespace: dict[str, Any] = {
        **src.consts,
        "Slow": _Slow,
        "full": full,
        "M": _MISSING,
        "P": _property,
        "PLAIN": _plain,
        "T": _text,
        "TRUTHY": _truthy,
        "N": _number,
        "OUT": _number_out,
        "CVAR": _computed_var,
        "SLOW": _Slow,
        "str": str,
        "int": int,
        "float": float,
        "bool": bool,
        "dict": dict,
        "list": list,
        "type": type,
        "len": len,
        **_COMPARE_FNS,
    }
    try:
        exec(compile(code, "<jsonlogic rule>", "exec"), namespace)  # noqa: S102 - see above
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None  # too deep for Python's parser, say: the evaluator it is
    rule: Rule = namespace["rule"]
    return rule


class _NotFast(Exception):
    """The rule uses something the fast code does not do: it is not generated."""


def _is_literal(spec: Any) -> bool:
    return spec is None or type(spec) in (str, int, float, bool)


def _node(src: _Source, spec: Any, depth: int) -> str:
    """Statements (at ``depth``) that compute ``spec``; returns the name holding it."""
    if _is_literal(spec):
        return src.const(spec)
    if type(spec) is not dict or len(spec) != 1:
        raise _NotFast  # arrays and non-logic objects: the evaluator
    ((op, args),) = spec.items()
    if type(args) is not list:
        args = [args]
    if op == "var":
        return _gen_var(src, args, depth)
    if op == "if":
        return _gen_if(src, args, depth)
    if op == "cat":
        parts = [_node(src, a, depth) for a in args]
        out = src.local()
        pieces = ", ".join(f"{p} if type({p}) is str else T({p})" for p in parts)
        src.emit(depth, f"{out} = ''.join(({pieces},))" if parts else f"{out} = ''")
        src.emit(depth, f"if len({out}) >= {_SHORT}: raise SLOW")
        return out
    if op == "+":
        parts = [_node(src, a, depth) for a in args]
        out = src.local()
        # As the evaluator: a sum of doubles from 0.0 on, integral ones given as ints.
        src.emit(depth, f"{out} = OUT({' + '.join(['0.0', *(f'N({p})' for p in parts)])})")
        return out
    if op == "-" and len(args) in (1, 2):
        parts = [_node(src, a, depth) for a in args]
        out = src.local()
        if len(parts) == 1:
            src.emit(depth, f"{out} = OUT(-float(N({parts[0]})))")
        else:
            src.emit(depth, f"{out} = OUT(float(N({parts[0]})) - float(N({parts[1]})))")
        return out
    if op in ("!", "!!") and len(args) == 1:
        part = _node(src, args[0], depth)
        out = src.local()
        src.emit(depth, f"{out} = {'not ' if op == '!' else ''}TRUTHY({part})")
        return out
    if op in _COMPARE_NAMES and len(args) == 2:
        a, b = (_node(src, x, depth) for x in args)
        out = src.local()
        fn, py = _COMPARE_NAMES[op]
        # Two ints compare exactly alike in both languages: no call for those.
        src.emit(
            depth,
            f"{out} = ({a} {py} {b}) if type({a}) is int and type({b}) is int else {fn}({a}, {b})",
        )
        return out
    raise _NotFast


def _gen_var(src: _Source, args: list[Any], depth: int) -> str:
    if not 1 <= len(args) <= 2:
        raise _NotFast
    default = "None"
    if len(args) == 2:
        if not _is_literal(args[1]):
            raise _NotFast
        default = src.const(args[1])
    path = args[0]
    out = src.local()
    if type(path) is str and path:
        keys = path.split(".")
        if len(keys) >= _FEW:
            raise _NotFast
        node = "data"
        for i, key in enumerate(keys):
            k = src.const(key)
            guard = "" if i == 0 else f"if {out} is not M: "
            src.emit(
                depth,
                f"{guard}{out} = {node}.get({k}, M) if type({node}) is dict else P({node}, {k})",
            )
            node = out
        src.emit(depth, f"if {out} is M: {out} = {default}")
        src.emit(depth, f"elif type({out}) is list: {out} = PLAIN({out})")
        return out
    if type(path) is not dict:
        raise _NotFast  # a number, a list, an empty path: the evaluator
    key = _node(src, path, depth)
    src.emit(depth, f"{out} = CVAR(data, {key}, {default})")
    return out


def _gen_if(src: _Source, args: list[Any], depth: int) -> str:
    n = len(args)
    if n == 0:
        raise _NotFast
    out = src.local()
    if n == 1:
        src.emit(depth, f"{out} = {_node(src, args[0], depth)}")
        return out
    # if c1: out = t1 / else: if c2: out = t2 / else: ... out = otherwise (or None)
    level = depth
    for i in range(0, n - 1, 2):
        cond = _node(src, args[i], level)
        src.emit(level, f"if TRUTHY({cond}):")
        then = _node(src, args[i + 1], level + 1)
        src.emit(level + 1, f"{out} = {then}")
        src.emit(level, "else:")
        level += 1
    if n % 2:
        src.emit(level, f"{out} = {_node(src, args[-1], level)}")
    else:
        src.emit(level, f"{out} = None")
    return out


def _computed_var(data: Any, key: Any, default: Any) -> Any:
    """``var`` of a path computed by a rule (``{"var": {"cat": [...]}}``)."""
    if type(key) is not str or not key or len(key) >= _SHORT:
        raise _Slow
    keys = key.split(".")
    if len(keys) >= _FEW:
        raise _Slow
    node = data
    for k in keys:
        node = node.get(k, _MISSING) if type(node) is dict else _property(node, k)
        if node is _MISSING:
            return default
    return _plain(node)


def _property(node: Any, key: str) -> Any:
    """An own property of a list or string (``length``, an index), as the evaluator
    reads it; _MISSING for none (and on null or a scalar)."""
    t = type(node)
    if t is list or t is str:
        if key == "length":
            return len(node)
        # Only canonical indexes: "1" is an index, "01" or "+1" is an (absent) property.
        if key.isdigit() and key.isascii() and len(key) <= 10 and (key[0] != "0" or key == "0"):
            i = int(key)
            if i < len(node):
                return node[i]
        return _MISSING
    if node is None or t is int or t is float or t is bool:
        return _MISSING
    raise _Slow


def _equal(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is int or ta is float:
        if tb is int or tb is float:
            return bool(a == b)
    elif ta is str and tb is str:
        if len(a) < _SHORT and len(b) < _SHORT:
            return bool(a == b)
    elif ta is bool and tb is bool:
        return a is b
    elif a is None and b is None:
        return True
    raise _Slow


def _not_equal(a: Any, b: Any) -> bool:
    return not _equal(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    """The operands of ``<`` and friends when Python orders them as JavaScript does."""
    ta, tb = type(a), type(b)
    if ta is int or ta is float:
        if tb is int or tb is float:
            return a, b
    elif ta is str and tb is str:
        # UTF-16 order is code point order in ASCII; long strings are charged by size.
        if len(a) < _SHORT and len(b) < _SHORT and a.isascii() and b.isascii():
            return a, b
    raise _Slow


def _less(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a < b)


def _less_equal(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a <= b)


def _greater(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a > b)


def _greater_equal(a: Any, b: Any) -> bool:
    a, b = _ordered(a, b)
    return bool(a >= b)


_COMPARE_FNS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "EQ": _equal,
    "NE": _not_equal,
    "LT": _less,
    "LE": _less_equal,
    "GT": _greater,
    "GE": _greater_equal,
}
_COMPARE_NAMES: Final = {
    "==": ("EQ", "=="),
    "===": ("EQ", "=="),
    "!=": ("NE", "!="),
    "!==": ("NE", "!="),
    "<": ("LT", "<"),
    "<=": ("LE", "<="),
    ">": ("GT", ">"),
    ">=": ("GE", ">="),
}

"""JSONLogic for untrusted rules: compiled once, evaluated under a budget, faithful to JavaScript.

The declarative rooms let authors write guards and computed values as JSONLogic
(https://jsonlogic.com). We write the evaluator here instead of taking a package from
PyPI because none of the Python ports gives us all three things we need:

* fidelity: the reference is json-logic-js (``logic.js``), and its meaning *is* JavaScript:
  ``==`` is abstract equality, ``+`` goes through ``parseFloat``, ``<`` compares strings as
  strings and everything else as numbers, ``cat`` prints ``1.0`` as ``"1"``. The ports we
  looked at use Python's own ``==``/``<``/``str`` and so disagree on exactly the cases a
  rule author trips over;
* safety: rules come from untrusted authors. We need a closed operator whitelist (no
  ``log``, no ``method``, no way to reach Python attributes), caps on rule size and
  depth checked once at load, and a step budget plus result-size caps per evaluation so
  that a rule which doubles a string or an array in a ``reduce`` stops with a clean error
  instead of eating the driver's memory or CPU;
* speed: a guard runs on every event, so each rule is compiled once to nested Python
  closures that already hold their operator's implementation and argument functions.

Values are modelled on JavaScript: ``None`` is ``null``; a private sentinel stands for
``undefined`` while evaluating (it only arises from odd rules such as ``{"and": []}``) and
leaves as ``None``; ``True``/``False`` are booleans, never numbers; numbers are ``int`` or
``float``. Arithmetic is done in IEEE doubles like JavaScript, and a numeric result that is
integral and within +/-2**53 is returned as ``int`` (so ``{"+": [1, 2]}`` gives ``3``, not
``3.0``); ``-0.0``, ``inf``, ``-inf`` and ``nan`` are returned as those Python floats.

Where we knowingly differ from json-logic-js 2.0.5, always towards safety:

* ``var`` reads own properties only: object keys, array indexes, string indexes and the
  ``length`` of arrays and strings. JavaScript would also find inherited members such as
  ``constructor`` or ``toString``.
* Values computed from data are never evaluated again as rules. json-logic-js's
  ``missing``/``missing_some`` re-apply their (already evaluated) arguments, so an object
  in the data that looks like a rule would run; here it is just data.
* String lengths, indexes and ``substr`` offsets count code points, not UTF-16 code units
  (the two differ only for characters outside the Basic Multilingual Plane); comparisons
  of strings still follow UTF-16 order.
* Comparisons of two integers are exact even beyond 2**53, where JavaScript would first
  round both to doubles.
* Unknown operators are refused when the rule is compiled, even in branches that would
  never run; json-logic-js throws only when it reaches them.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn

__all__ = [
    "BudgetError",
    "CompiledRule",
    "EvaluationError",
    "JsonLogicError",
    "Limits",
    "RuleError",
    "compile",
    "evaluate",
]


# --------------------------------------------------------------------------- errors


class JsonLogicError(ValueError):
    """Every error this module raises (a ``ValueError``, so callers may catch either)."""


class RuleError(JsonLogicError):
    """The rule itself is refused at compile time; ``path`` locates the offending node."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} at {path}")
        self.reason = reason
        self.path = path


class BudgetError(JsonLogicError):
    """An evaluation ran out of steps or built a value over a size cap.

    ``limit`` names the exhausted field of :class:`Limits` (``"max_steps"``,
    ``"max_array"``, ``"max_string"``, or ``"max_depth"`` if Python's own stack ran out).
    """

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class EvaluationError(JsonLogicError):
    """The rule did something json-logic-js itself throws on (a JavaScript TypeError)."""


# --------------------------------------------------------------------------- limits

# Compiling recurses once per nesting level, and Python's default stack holds about 1000
# frames; well below that leaves room for the caller's own frames.
_DEPTH_CEILING: Final = 256


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps for one rule: the first two are checked when compiling, the others per evaluation
    (and on literals in the rule, when compiling).

    * ``max_depth``: nesting of JSON containers (objects and arrays) in the rule;
      ``{"==": [1, 1]}`` has depth 2.
    * ``max_nodes``: JSON values in the rule, counting every object, array and scalar.
    * ``max_steps``: work per evaluation. Every operator application costs one step, every
      iteration of ``map``/``filter``/``reduce``/``all``/``none``/``some`` one more, and
      bulk work inside an operator is charged by size (one step per array element walked
      in Python, per 16 elements copied or scanned natively, per 1024 characters copied
      or searched, per 256 characters parsed as a number).
    * ``max_array``: length of any array an operator builds, and the number of array
      items in a result, nested arrays included (each time they appear).
    * ``max_string``: length, in characters, of any string an operator builds.
    """

    max_depth: int = 64
    max_nodes: int = 10_000
    max_steps: int = 100_000
    max_array: int = 100_000
    max_string: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_nodes", "max_steps", "max_array", "max_string"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, not {value!r}")
        if self.max_depth > _DEPTH_CEILING:
            raise ValueError(f"Limits.max_depth may be at most {_DEPTH_CEILING}")


DEFAULT_LIMITS: Final = Limits()


# --------------------------------------------------------------------------- the budget

# Native (C speed) work is much cheaper than a step, which is about one closure call.
_ITEMS_PER_STEP: Final = 16
_CHARS_PER_STEP: Final = 1024
_DIGITS_PER_STEP: Final = 256  # parsing a long numeral is slower than copying it


class _Ctx:
    """What one evaluation carries: steps left, and the caps."""

    __slots__ = ("left", "limits")

    def __init__(self, left: int, limits: Limits) -> None:
        self.left = left
        self.limits = limits


def _out_of_steps(ctx: _Ctx) -> NoReturn:
    raise BudgetError(
        f"step budget exhausted: the rule needs more than {ctx.limits.max_steps} steps",
        "max_steps",
    )


def _charge(ctx: _Ctx, steps: int) -> None:
    ctx.left -= steps
    if ctx.left < 0:
        _out_of_steps(ctx)


def _charge_items(ctx: _Ctx, count: int) -> None:
    if count >= _ITEMS_PER_STEP:
        _charge(ctx, count // _ITEMS_PER_STEP)


def _charge_chars(ctx: _Ctx, count: int) -> None:
    if count >= _CHARS_PER_STEP:
        _charge(ctx, count // _CHARS_PER_STEP)


def _charge_parse(ctx: _Ctx, count: int) -> None:
    if count >= _DIGITS_PER_STEP:
        _charge(ctx, count // _DIGITS_PER_STEP)


def _check_array(ctx: _Ctx, length: int) -> None:
    if length > ctx.limits.max_array:
        raise BudgetError(
            f"array of {length} items is longer than max_array={ctx.limits.max_array}",
            "max_array",
        )


def _check_string(ctx: _Ctx, length: int) -> None:
    if length > ctx.limits.max_string:
        raise BudgetError(
            f"string of {length} characters is longer than max_string={ctx.limits.max_string}",
            "max_string",
        )


# --------------------------------------------------------------------------- JS values


class _Undefined:
    """JavaScript's ``undefined``: an absent argument, or what ``{"and": []}`` returns."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


_UNDEFINED: Final = _Undefined()

# JavaScript's types, ordered so that "undefined or null" is a single comparison.
_K_UNDEFINED: Final = 0
_K_NULL: Final = 1
_K_BOOL: Final = 2
_K_NUMBER: Final = 3
_K_STRING: Final = 4
_K_ARRAY: Final = 5
_K_OBJECT: Final = 6  # dicts, and anything that is not JSON (opaque, like a JS object)


def _kind(v: Any) -> int:
    if v is None:
        return _K_NULL
    if v is _UNDEFINED:
        return _K_UNDEFINED
    if isinstance(v, bool):
        return _K_BOOL
    if isinstance(v, (int, float)):
        return _K_NUMBER
    if isinstance(v, str):
        return _K_STRING
    if isinstance(v, list):
        return _K_ARRAY
    return _K_OBJECT


def _truthy(v: Any) -> bool:
    """JsonLogic truthiness: JavaScript's, except that an empty array is false."""
    t = type(v)
    if t is bool:
        return v is True
    if t is str or t is list:
        return len(v) > 0
    if t is int:
        return bool(v != 0)
    if t is float:
        return bool(v == v and v != 0.0)
    if v is None or v is _UNDEFINED:
        return False
    k = _kind(v)
    if k == _K_BOOL:
        return bool(v)
    if k == _K_NUMBER:
        return bool(v == v and v != 0)
    if k == _K_STRING or k == _K_ARRAY:
        return len(v) > 0
    return True


_SAFE_INT: Final = 2**53
_INF: Final = math.inf
_NAN: Final = math.nan

# StrWhiteSpaceChar: what Number() and parseFloat() skip (not Python's str.strip set).
_JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# StrDecimalLiteral. [0-9], not \d: Python's \d also matches other scripts' digits.
_DECIMAL: Final = re.compile(
    r"[+-]?(?:Infinity|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)
_NON_DECIMAL: Final = re.compile(r"0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_RADIX: Final = {"x": 16, "o": 8, "b": 2}


def _int_to_float(i: int) -> float:
    try:
        return float(i)
    except OverflowError:
        return _INF if i > 0 else -_INF


def _decimal(text: str) -> float:
    if text.endswith("Infinity"):
        return -_INF if text[0] == "-" else _INF
    return float(text)


def _string_to_number(ctx: _Ctx, s: str) -> float:
    """Number(string)."""
    _charge_parse(ctx, len(s))
    s = s.strip(_JS_SPACE)
    if not s:
        return 0.0
    if _DECIMAL.fullmatch(s):
        return _decimal(s)
    if _NON_DECIMAL.fullmatch(s):
        return _int_to_float(int(s[2:], _RADIX[s[1].lower()]))
    return _NAN


def _to_number(ctx: _Ctx, v: Any) -> int | float:
    """ToNumber. Integers stay exact here; arithmetic goes through :func:`_to_float`."""
    t = type(v)
    if t is int or t is float:
        return v  # type: ignore[no-any-return]
    if t is str:
        return _string_to_number(ctx, v)
    if v is None:
        return 0
    if v is _UNDEFINED:
        return _NAN
    k = _kind(v)
    if k == _K_BOOL:
        return 1 if v else 0
    if k == _K_NUMBER:
        return int(v) if isinstance(v, int) else float(v)
    return _string_to_number(ctx, _to_primitive(ctx, v) if k != _K_STRING else str.__str__(v))


def _to_float(ctx: _Ctx, v: Any) -> float:
    n = _to_number(ctx, v)
    return n if type(n) is float else _int_to_float(int(n))


def _parse_float(ctx: _Ctx, v: Any) -> float:
    """parseFloat(v): ToString, then the longest decimal prefix (so ``true`` is NaN)."""
    t = type(v)
    if t is int:
        return _int_to_float(v)
    if t is float:
        return v if v else 0.0  # parseFloat(String(-0)) is +0
    s = v if t is str else _to_string(ctx, v)
    _charge_parse(ctx, len(s))
    m = _DECIMAL.match(s.lstrip(_JS_SPACE))
    return _decimal(m.group()) if m else _NAN


def _number_out(x: float) -> int | float:
    """A JS number as we return it: int when integral and exact, else the float."""
    if x.is_integer() and -_SAFE_INT <= x <= _SAFE_INT and (x or math.copysign(1.0, x) > 0):
        return int(x)
    return x


def _number_to_string(x: int | float) -> str:
    """Number::toString: shortest round-trip digits, laid out the way JavaScript does."""
    if isinstance(x, int):
        if -_SAFE_INT <= x <= _SAFE_INT:
            return str(int(x))
        x = _int_to_float(int(x))
    x = float(x)
    if x != x:
        return "NaN"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x.is_integer() and abs(x) < _SAFE_INT:
        return str(int(x))
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-")
        text += str(abs(e))
    return sign + text


def _object_to_string(v: Any) -> str:
    # A JSON object whose own "toString" key shadows Object.prototype.toString has no
    # primitive value; JavaScript throws, and so do we.
    if isinstance(v, Mapping) and "toString" in v:
        raise EvaluationError("cannot convert an object with its own 'toString' key to a string")
    return "[object Object]"


def _join(ctx: _Ctx, array: list[Any]) -> str:
    """Array.prototype.toString: "," between elements, null/undefined as "", nested alike.

    Iterative, so that a value nested far deeper than Python's stack still converts (or
    runs out of budget) cleanly; every element walked costs a step, which also bounds
    arrays that share sub-arrays (exponentially large when unfolded) or contain themselves.
    """
    max_string = ctx.limits.max_string
    parts: list[str] = []
    length = 0
    stack: list[Iterator[Any]] = [iter(array)]
    first: list[bool] = [True]
    while stack:
        for item in stack[-1]:
            if first[-1]:
                first[-1] = False
            else:
                parts.append(",")
                length += 1
            ctx.left -= 1
            if ctx.left < 0:
                _out_of_steps(ctx)
            if isinstance(item, list):
                stack.append(iter(item))
                first.append(True)
                break
            if item is not None and item is not _UNDEFINED:
                s = _to_string(ctx, item)
                parts.append(s)
                length += len(s)
            if length > max_string:
                _check_string(ctx, length)
        else:
            stack.pop()
            first.pop()
    _check_string(ctx, length)
    _charge_chars(ctx, length)
    return "".join(parts)


def _to_string(ctx: _Ctx, v: Any) -> str:
    """String(v)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if t is int or t is float:
        return _number_to_string(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if v is _UNDEFINED:
        return "undefined"
    k = _kind(v)
    if k == _K_STRING:
        return str.__str__(v)
    if k == _K_BOOL:
        return "true" if v else "false"
    if k == _K_NUMBER:
        return _number_to_string(int(v) if isinstance(v, int) else float(v))
    if k == _K_ARRAY:
        return _join(ctx, v)
    return _object_to_string(v)


def _to_primitive(ctx: _Ctx, v: Any) -> Any:
    """ToPrimitive: arrays and objects become strings, anything else is already primitive."""
    k = _kind(v)
    if k == _K_ARRAY:
        return _join(ctx, v)
    if k == _K_OBJECT:
        return _object_to_string(v)
    return v


def _str_eq(ctx: _Ctx, a: str, b: str) -> bool:
    if len(a) == len(b) and a is not b:
        _charge_chars(ctx, len(a))
    return a == b


def _same_kind_eq(ctx: _Ctx, a: Any, b: Any, kind: int) -> bool:
    if kind <= _K_NULL:
        return True
    if kind == _K_STRING:
        return _str_eq(ctx, a, b)
    if kind == _K_BOOL or kind == _K_NUMBER:
        return bool(a == b)
    return a is b  # arrays and objects compare by identity


def _loose_eq(ctx: _Ctx, a: Any, b: Any) -> bool:
    """``a == b``: JavaScript's abstract equality (so ``null == 0`` is false)."""
    t = type(a)
    if t is type(b):
        if t is str:
            return _str_eq(ctx, a, b)
        if t is int or t is float or t is bool:
            return bool(a == b)
    ka, kb = _kind(a), _kind(b)
    if ka == kb:
        return _same_kind_eq(ctx, a, b, ka)
    if ka <= _K_NULL or kb <= _K_NULL:
        return ka <= _K_NULL and kb <= _K_NULL
    if ka == _K_BOOL:
        return _loose_eq(ctx, 1 if a else 0, b)
    if kb == _K_BOOL:
        return _loose_eq(ctx, a, 1 if b else 0)
    if ka == _K_NUMBER and kb == _K_STRING:
        return bool(a == _string_to_number(ctx, b))
    if ka == _K_STRING and kb == _K_NUMBER:
        return bool(_string_to_number(ctx, a) == b)
    if ka >= _K_ARRAY and kb < _K_ARRAY:
        return _loose_eq(ctx, _to_primitive(ctx, a), b)
    if kb >= _K_ARRAY and ka < _K_ARRAY:
        return _loose_eq(ctx, a, _to_primitive(ctx, b))
    return False  # an array and an object: two different objects


def _strict_eq(ctx: _Ctx, a: Any, b: Any) -> bool:
    """``a === b``."""
    t = type(a)
    if t is type(b):
        if t is str:
            return _str_eq(ctx, a, b)
        if t is int or t is float or t is bool:
            return bool(a == b)
        if t is list or t is dict:
            return a is b
    ka = _kind(a)
    return ka == _kind(b) and _same_kind_eq(ctx, a, b, ka)


def _str_lt(ctx: _Ctx, a: str, b: str, or_equal: bool) -> bool:
    _charge_chars(ctx, min(len(a), len(b)))
    if not (a.isascii() and b.isascii()):
        # JavaScript orders strings by UTF-16 code units, which differs from code point
        # order once characters beyond U+FFFF meet ones in U+E000..U+FFFF.
        ea = a.encode("utf-16-be", "surrogatepass")
        eb = b.encode("utf-16-be", "surrogatepass")
        return ea <= eb if or_equal else ea < eb
    return a <= b if or_equal else a < b


def _compare(ctx: _Ctx, a: Any, b: Any, or_equal: bool) -> bool:
    """``a < b`` (or ``a <= b``): strings as strings, everything else as numbers."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a <= b if or_equal else a < b)
    if ta is not str or tb is not str:
        a = _to_primitive(ctx, a)
        b = _to_primitive(ctx, b)
    if isinstance(a, str) and isinstance(b, str):
        return _str_lt(ctx, a, b, or_equal)
    x, y = _to_number(ctx, a), _to_number(ctx, b)
    return x <= y if or_equal else x < y  # NaN makes both false, as in JavaScript


def _to_integer_or_infinity(ctx: _Ctx, v: Any) -> int | float:
    n = _to_number(ctx, v)
    if n != n:
        return 0
    if isinstance(n, float):
        return n if math.isinf(n) else math.trunc(n)
    return n


def _js_substr(ctx: _Ctx, s: str, start: Any, length: Any) -> str:
    """String.prototype.substr(start, length)."""
    size = len(s)
    first = _to_integer_or_infinity(ctx, start)
    if first < 0:
        first = max(size + first, 0)
    else:
        first = min(first, size)
    count = size if length is _UNDEFINED else _to_integer_or_infinity(ctx, length)
    count = min(max(count, 0), size)
    last = min(first + count, size)
    _charge_chars(ctx, int(last) - int(first))
    return s[int(first) : int(last)]


def _js_add(ctx: _Ctx, a: Any, b: Any) -> Any:
    """The binary ``+`` operator (which concatenates if either side is a string)."""
    a = _to_primitive(ctx, a)
    b = _to_primitive(ctx, b)
    if isinstance(a, str) or isinstance(b, str):
        return _to_string(ctx, a) + _to_string(ctx, b)
    return _to_float(ctx, a) + _to_float(ctx, b)


def _get_property(obj: Any, key: str) -> Any:
    """``obj[key]`` restricted to own properties; ``_UNDEFINED`` when there is none."""
    if isinstance(obj, Mapping):
        return obj.get(key, _UNDEFINED)
    if isinstance(obj, (list, str)):
        if key == "length":
            return len(obj)
        # Only canonical indexes: "1" is an index, "01" or "+1" is an (absent) property.
        if key.isdigit() and key.isascii() and len(key) <= 10 and (key[0] != "0" or key == "0"):
            i = int(key)
            if i < len(obj):
                return obj[i]
    return _UNDEFINED


def _lookup(data: Any, keys: tuple[str, ...], not_found: Any) -> Any:
    for key in keys:
        data = data.get(key, _UNDEFINED) if type(data) is dict else _get_property(data, key)
        if data is _UNDEFINED:  # also covers a null or undefined met on the way
            return not_found
    return data


def _var(ctx: _Ctx, data: Any, a: Any, b: Any) -> Any:
    """The ``var`` operation, for a path computed at evaluation time."""
    not_found = None if b is _UNDEFINED else b
    if a is _UNDEFINED or a is None or (isinstance(a, str) and not a):
        return data
    keys = tuple(_to_string(ctx, a).split("."))
    _charge_items(ctx, len(keys))
    return _lookup(data, keys, not_found)


# --------------------------------------------------------------------------- operations
# Each takes the evaluation context first, then the already evaluated arguments
# (``_UNDEFINED`` for an absent one), exactly as logic.js's operation table does.


def _op_mod(ctx: _Ctx, a: Any, b: Any) -> int | float:
    x, y = _to_float(ctx, a), _to_float(ctx, b)
    if x != x or y != y or math.isinf(x) or y == 0:
        return _NAN
    if math.isinf(y) or x == 0:
        return _number_out(x)
    return _number_out(math.fmod(x, y))  # fmod keeps the dividend's sign, like JS %


def _op_div(ctx: _Ctx, a: Any, b: Any) -> int | float:
    x, y = _to_float(ctx, a), _to_float(ctx, b)
    if y == 0:
        if x == 0 or x != x:
            return _NAN
        return math.copysign(_INF, x) * math.copysign(1.0, y)
    return _number_out(x / y)


def _op_sub(ctx: _Ctx, a: Any, b: Any) -> int | float:
    if b is _UNDEFINED:
        return _number_out(-_to_float(ctx, a))
    return _number_out(_to_float(ctx, a) - _to_float(ctx, b))


def _op_add(ctx: _Ctx, args: list[Any]) -> int | float:
    # reduce((a, b) => parseFloat(a) + parseFloat(b), 0): re-parsing the running total
    # changes nothing, since it can never be -0.
    total = 0.0
    for v in args:
        total += _parse_float(ctx, v)
    return _number_out(total)


def _op_mul(ctx: _Ctx, args: list[Any]) -> Any:
    if not args:
        raise EvaluationError("'*' needs at least one argument (Reduce of empty array)")
    if len(args) == 1:
        return args[0]  # reduce without an initial value returns a lone element as it is
    acc: Any = args[0]
    for v in args[1:]:
        acc = _parse_float(ctx, acc) * _parse_float(ctx, v)
    return _number_out(acc)


def _min_max(ctx: _Ctx, args: list[Any], want_max: bool) -> int | float:
    # Math.min/Math.max: convert every argument first; then NaN wins, and -0 < +0.
    numbers = [_to_float(ctx, v) for v in args]
    best = -_INF if want_max else _INF
    for x in numbers:
        if x != x:
            return _NAN
        if x == best == 0:
            if (math.copysign(1.0, x) > 0) is want_max:
                best = x
        elif (x > best) if want_max else (x < best):
            best = x
    return _number_out(best)


def _op_min(ctx: _Ctx, args: list[Any]) -> int | float:
    return _min_max(ctx, args, False)


def _op_max(ctx: _Ctx, args: list[Any]) -> int | float:
    return _min_max(ctx, args, True)


def _op_cat(ctx: _Ctx, args: list[Any]) -> str:
    # Array.prototype.join: null and undefined print as "", not "null".
    parts: list[str] = []
    length = 0
    for v in args:
        if v is None or v is _UNDEFINED:
            continue
        s = _to_string(ctx, v)
        length += len(s)
        _check_string(ctx, length)
        parts.append(s)
    _charge_chars(ctx, length)
    return "".join(parts)


def _op_substr(ctx: _Ctx, source: Any, start: Any, end: Any) -> str:
    if _compare(ctx, end, 0, False):
        # logic.js emulates PHP's negative length: cut that many characters off the end.
        temp = _js_substr(ctx, _to_string(ctx, source), start, _UNDEFINED)
        return _js_substr(ctx, temp, 0, _js_add(ctx, len(temp), end))
    return _js_substr(ctx, _to_string(ctx, source), start, end)


def _index_of(ctx: _Ctx, array: Sequence[Any], needle: Any) -> bool:
    """``array.indexOf(needle) !== -1`` (strict equality, so NaN is never found)."""
    if type(needle) is str:
        # Native search: Python's == on a str matches only an equal str.
        _charge_items(ctx, len(array) * (1 + len(needle) // _CHARS_PER_STEP))
        return needle in array
    _charge(ctx, len(array))
    return any(_strict_eq(ctx, needle, item) for item in array)


def _op_in(ctx: _Ctx, a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return _index_of(ctx, b, a)
    if isinstance(b, str):
        if not b:
            return False
        needle = _to_string(ctx, a)
        _charge_chars(ctx, len(b) + len(needle))
        return needle in b
    if isinstance(b, Mapping) and "indexOf" in b:
        raise EvaluationError("'in': the object's own 'indexOf' key is not a function")
    return False


def _op_merge(ctx: _Ctx, args: list[Any]) -> list[Any]:
    total = 0
    for v in args:
        total += len(v) if isinstance(v, list) else 1
    _check_array(ctx, total)
    _charge_items(ctx, total)
    out: list[Any] = []
    for v in args:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


def _op_var(ctx: _Ctx, data: Any, args: list[Any]) -> Any:
    a = args[0] if args else _UNDEFINED
    b = args[1] if len(args) > 1 else _UNDEFINED
    return _var(ctx, data, a, b)


def _missing(ctx: _Ctx, data: Any, args: list[Any]) -> list[Any]:
    keys = args[0] if args and isinstance(args[0], list) else args
    _charge(ctx, len(keys))  # logic.js applies one "var" per key
    out: list[Any] = []
    for key in keys:
        # logic.js evaluates {"var": key}: an array key supplies var's own arguments.
        if isinstance(key, list):
            a = key[0] if key else _UNDEFINED
            b = key[1] if len(key) > 1 else _UNDEFINED
        else:
            a, b = key, _UNDEFINED
        value = _var(ctx, data, a, b)
        if value is None or (isinstance(value, str) and not value):
            out.append(key)
    return out


def _op_missing(ctx: _Ctx, data: Any, args: list[Any]) -> list[Any]:
    return _missing(ctx, data, args)


def _js_length(v: Any) -> Any:
    """``v.length`` as logic.js reads it in missing_some."""
    if v is None or v is _UNDEFINED:
        name = "null" if v is None else "undefined"
        raise EvaluationError(f"'missing_some': cannot read 'length' of {name}")
    if isinstance(v, (list, str)):
        return len(v)
    if isinstance(v, Mapping):
        return v.get("length", _UNDEFINED)
    return _UNDEFINED


def _op_missing_some(ctx: _Ctx, data: Any, args: list[Any]) -> list[Any]:
    need = args[0] if args else _UNDEFINED
    options = args[1] if len(args) > 1 else _UNDEFINED
    are_missing = _missing(ctx, data, options if isinstance(options, list) else [options])
    present = _to_float(ctx, _js_length(options)) - len(are_missing)
    return [] if _compare(ctx, need, present, True) else are_missing


# --------------------------------------------------------------------------- compiling

Fn = Callable[[Any, _Ctx], Any]
_Path = tuple[str | int, ...]
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _format_path(path: _Path) -> str:
    out = ["$"]
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


_NOT_CONSTANT: Final = object()


class _Node:
    """A compiled rule node.

    ``cost`` is the number of steps it takes whenever it runs, excluding anything that
    runs only conditionally (branches of ``if``/``and``/``or``, iteration bodies), which
    charges itself. The parent adds ``cost`` to its own, so a tree of plain operators is
    charged once, at the top, instead of one counter update per operator.
    """

    __slots__ = ("const", "cost", "elements", "fn")

    def __init__(
        self,
        fn: Fn,
        cost: int,
        const: Any = _NOT_CONSTANT,
        elements: tuple[Any, ...] | None = None,
    ) -> None:
        self.fn = fn
        self.cost = cost
        self.const = const  # the value, for literal scalars and non-logic objects
        self.elements = elements  # the scalars, for a literal array of nothing else


def _const_fn(value: Any) -> Fn:
    def const(data: Any, ctx: _Ctx) -> Any:
        return value

    return const


_UNDEFINED_NODE: Final = _Node(_const_fn(_UNDEFINED), 0, _UNDEFINED)


def _charged(node: _Node) -> Fn:
    """The node's function, charging its cost first: for conditionally evaluated nodes."""
    fn, cost = node.fn, node.cost
    if cost == 0:
        return fn

    def charged(data: Any, ctx: _Ctx) -> Any:
        ctx.left -= cost
        if ctx.left < 0:
            _out_of_steps(ctx)
        return fn(data, ctx)

    return charged


def _run_all(fns: tuple[Fn, ...], data: Any, ctx: _Ctx) -> None:
    for f in fns:
        f(data, ctx)


def _positional(args: list[_Node], n: int) -> tuple[list[Fn], tuple[Fn, ...]]:
    """The first ``n`` argument functions (absent ones give undefined) and the rest.

    logic.js evaluates surplus arguments before calling the operation, so we do too.
    """
    padded = args[:n] + [_UNDEFINED_NODE] * (n - len(args))
    return [a.fn for a in padded], tuple(a.fn for a in args[n:])


def _strict_cost(args: list[_Node]) -> int:
    return 1 + sum(a.cost for a in args)


class _Compiler:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.nodes = 0
        self.may_leak_undefined = False
        # Converting constants at compile time never needs a budget.
        self.ctx = _Ctx(sys.maxsize, limits)

    def _count(self, path: _Path) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise RuleError(
                f"rule is larger than max_nodes={self.limits.max_nodes}", _format_path(path)
            )

    def _enter(self, path: _Path) -> None:
        if len(path) + 1 > self.limits.max_depth:
            raise RuleError(
                f"rule is nested deeper than max_depth={self.limits.max_depth}",
                _format_path(path),
            )

    def node(self, rule: Any, path: _Path) -> _Node:
        self._count(path)
        if rule is None or isinstance(rule, (bool, int, float, str)):
            value = self._scalar(rule, path)
            return _Node(_const_fn(value), 0, value)
        if isinstance(rule, list):
            self._enter(path)
            if len(rule) > self.limits.max_array:
                raise RuleError(
                    f"array literal is longer than max_array={self.limits.max_array}",
                    _format_path(path),
                )
            items = [self.node(item, (*path, i)) for i, item in enumerate(rule)]
            return self._array(items)
        if isinstance(rule, dict):
            self._enter(path)
            if len(rule) == 1:
                return self._logic(rule, path)
            # Not logic (JsonLogic's rule: exactly one key): a value, returned as it is.
            value = {k: self._literal(v, (*path, k)) for k, v in self._items(rule, path)}
            return _Node(_const_fn(value), 0, value)
        raise RuleError(f"{type(rule).__name__} is not a JSON value", _format_path(path))

    def _scalar(self, rule: Any, path: _Path) -> Any:
        if rule is None or type(rule) in (bool, int, float, str):
            value = rule
        elif isinstance(rule, bool):
            value = bool(rule)
        elif isinstance(rule, int):
            value = int(rule)
        elif isinstance(rule, float):
            value = float(rule)
        else:
            value = str.__str__(rule)
        if isinstance(value, str) and len(value) > self.limits.max_string:
            raise RuleError(
                f"string literal is longer than max_string={self.limits.max_string}",
                _format_path(path),
            )
        return value

    def _items(self, rule: dict[Any, Any], path: _Path) -> list[tuple[str, Any]]:
        for key in rule:
            if not isinstance(key, str):
                raise RuleError(f"object key {key!r} is not a string", _format_path(path))
        return [(str.__str__(k), v) for k, v in rule.items()]

    def _literal(self, rule: Any, path: _Path) -> Any:
        """A value inside a non-logic object: validated and copied, never evaluated."""
        self._count(path)
        if rule is None or isinstance(rule, (bool, int, float, str)):
            return self._scalar(rule, path)
        if isinstance(rule, list):
            self._enter(path)
            return [self._literal(item, (*path, i)) for i, item in enumerate(rule)]
        if isinstance(rule, dict):
            self._enter(path)
            return {k: self._literal(v, (*path, k)) for k, v in self._items(rule, path)}
        raise RuleError(f"{type(rule).__name__} is not a JSON value", _format_path(path))

    def _array(self, items: list[_Node]) -> _Node:
        # A fresh array per evaluation, like logic.js (arrays compare by identity).
        fns = tuple(item.fn for item in items)

        def array(data: Any, ctx: _Ctx) -> list[Any]:
            return [f(data, ctx) for f in fns]

        scalars = None
        if all(item.const is not _NOT_CONSTANT and type(item.const) is not dict for item in items):
            scalars = tuple(item.const for item in items)
        return _Node(array, sum(item.cost for item in items), elements=scalars)

    def _logic(self, rule: dict[Any, Any], path: _Path) -> _Node:
        ((op, values),) = self._items(rule, path)
        compile_op = _OPERATORS.get(op)
        if compile_op is None:
            raise RuleError(f"unknown operator {op!r}", _format_path(path))
        here = (*path, op)
        if isinstance(values, list):
            self._count(here)
            self._enter(here)
            args = [self.node(v, (*here, i)) for i, v in enumerate(values)]
        else:
            args = [self.node(values, here)]  # {"var": "x"} is short for {"var": ["x"]}
        fn, cost = compile_op(self, args)
        return _Node(fn, cost)


# --------------------------------------------------------------------------- operator shapes

_OpCompiler = Callable[[_Compiler, list[_Node]], tuple[Fn, int]]


def _binary(impl: Callable[[_Ctx, Any, Any], Any]) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa, fb), rest = _positional(args, 2)
        if rest:

            def op(data: Any, ctx: _Ctx) -> Any:
                a = fa(data, ctx)
                b = fb(data, ctx)
                _run_all(rest, data, ctx)
                return impl(ctx, a, b)

        else:

            def op(data: Any, ctx: _Ctx) -> Any:
                return impl(ctx, fa(data, ctx), fb(data, ctx))

        return op, _strict_cost(args)

    return build


def _ternary(impl: Callable[[_Ctx, Any, Any, Any], Any]) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa, fb, fc), rest = _positional(args, 3)

        def op(data: Any, ctx: _Ctx) -> Any:
            a = fa(data, ctx)
            b = fb(data, ctx)
            c_ = fc(data, ctx)
            if rest:
                _run_all(rest, data, ctx)
            return impl(ctx, a, b, c_)

        return op, _strict_cost(args)

    return build


def _variadic(impl: Callable[[_Ctx, list[Any]], Any]) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        fns = tuple(a.fn for a in args)

        def op(data: Any, ctx: _Ctx) -> Any:
            return impl(ctx, [f(data, ctx) for f in fns])

        return op, _strict_cost(args)

    return build


def _with_data(impl: Callable[[_Ctx, Any, list[Any]], Any]) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        fns = tuple(a.fn for a in args)

        def op(data: Any, ctx: _Ctx) -> Any:
            return impl(ctx, data, [f(data, ctx) for f in fns])

        return op, _strict_cost(args)

    return build


def _compile_var(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    a = args[0].const if args else _UNDEFINED
    if any(arg.const is _NOT_CONSTANT for arg in args) or isinstance(a, dict):
        return _with_data(_op_var)(c, args)
    # The usual case, a constant scalar path: split it once, here.
    b = args[1].const if len(args) > 1 else _UNDEFINED
    not_found = None if b is _UNDEFINED else b
    if a is _UNDEFINED or a is None or (isinstance(a, str) and not a):

        def whole(data: Any, ctx: _Ctx) -> Any:
            return data

        return whole, _strict_cost(args)
    keys = tuple(_to_string(c.ctx, a).split("."))
    cost = _strict_cost(args) + len(keys) // _ITEMS_PER_STEP
    if len(keys) == 1:
        key = keys[0]

        def var1(data: Any, ctx: _Ctx) -> Any:
            v = data.get(key, _UNDEFINED) if type(data) is dict else _get_property(data, key)
            return not_found if v is _UNDEFINED else v

        return var1, cost

    def var(data: Any, ctx: _Ctx) -> Any:
        for key in keys:
            data = data.get(key, _UNDEFINED) if type(data) is dict else _get_property(data, key)
            if data is _UNDEFINED:  # also covers a null or undefined met on the way
                return not_found
        return data

    return var, cost


def _compile_equality(strict: bool, negate: bool) -> _OpCompiler:
    slow = _strict_eq if strict else _loose_eq

    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa, fb), rest = _positional(args, 2)

        def equality(data: Any, ctx: _Ctx) -> bool:
            a = fa(data, ctx)
            b = fb(data, ctx)
            if rest:
                _run_all(rest, data, ctx)
            t = type(a)
            # Same-typed scalars need no coercion (long strings go the charged way).
            if t is type(b) and (
                t is int or t is bool or t is float or (t is str and len(a) < _CHARS_PER_STEP)
            ):
                return (a == b) is not negate
            return slow(ctx, a, b) is not negate

        return equality, _strict_cost(args)

    return build


def _compile_less(or_equal: bool) -> _OpCompiler:
    """``<`` and ``<=``, with logic.js's "between" form when given a third argument."""

    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa, fb, fc), rest = _positional(args, 3)

        def less(data: Any, ctx: _Ctx) -> bool:
            a = fa(data, ctx)
            b = fb(data, ctx)
            z = fc(data, ctx)
            if rest:
                _run_all(rest, data, ctx)
            ta, tb = type(a), type(b)
            if (ta is int or ta is float) and (tb is int or tb is float):
                result = bool(a <= b if or_equal else a < b)
            else:
                result = _compare(ctx, a, b, or_equal)
            if z is _UNDEFINED or not result:
                return result
            return _compare(ctx, b, z, or_equal)

        return less, _strict_cost(args)

    return build


def _compile_greater(or_equal: bool) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa, fb), rest = _positional(args, 2)

        def greater(data: Any, ctx: _Ctx) -> bool:
            a = fa(data, ctx)
            b = fb(data, ctx)
            if rest:
                _run_all(rest, data, ctx)
            ta, tb = type(a), type(b)
            if (ta is int or ta is float) and (tb is int or tb is float):
                return bool(a >= b if or_equal else a > b)
            return _compare(ctx, b, a, or_equal)

        return greater, _strict_cost(args)

    return build


def _compile_not(negate: bool) -> _OpCompiler:
    """``!`` and ``!!``."""

    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        (fa,), rest = _positional(args, 1)

        def not_(data: Any, ctx: _Ctx) -> bool:
            a = fa(data, ctx)
            if rest:
                _run_all(rest, data, ctx)
            return _truthy(a) is not negate

        return not_, _strict_cost(args)

    return build


def _compile_in(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    if len(args) != 2 or args[1].elements is None:
        return _binary(_op_in)(c, args)
    # A literal list of scalars, as in {"in": [{"var": "exit"}, ["n", "s"]]}: no need
    # to build a fresh list for each evaluation, nobody else can see it.
    fa, options = args[0].fn, args[1].elements
    cost = _strict_cost(args) + len(options) // _ITEMS_PER_STEP

    def in_options(data: Any, ctx: _Ctx) -> bool:
        a = fa(data, ctx)
        if type(a) is str and len(a) < _CHARS_PER_STEP:
            return a in options
        return _index_of(ctx, options, a)

    return in_options, cost


# --------------------------------------------------------------------------- special forms
# These decide which of their arguments to evaluate (logic.js handles them before the
# operation table). The first argument always runs, so its cost is static; later ones
# are charged when they run.


def _compile_if(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    n = len(args)
    if n == 0:
        return _const_fn(None), 1
    cost = 1 + args[0].cost
    if n == 1:
        return args[0].fn, cost  # only an "else"
    first = args[0].fn
    then, then_cost = args[1].fn, args[1].cost
    if n == 2:

        def if2(data: Any, ctx: _Ctx) -> Any:
            if not _truthy(first(data, ctx)):
                return None
            ctx.left -= then_cost
            if ctx.left < 0:
                _out_of_steps(ctx)
            return then(data, ctx)

        return if2, cost
    if n == 3:
        other, other_cost = args[2].fn, args[2].cost

        def if3(data: Any, ctx: _Ctx) -> Any:
            if _truthy(first(data, ctx)):
                ctx.left -= then_cost
                if ctx.left < 0:
                    _out_of_steps(ctx)
                return then(data, ctx)
            ctx.left -= other_cost
            if ctx.left < 0:
                _out_of_steps(ctx)
            return other(data, ctx)

        return if3, cost
    # if / else if ... / else: pairs (condition, consequent), then an optional else.
    conds = [first] + [_charged(a) for a in args[2 : n - 1 : 2]]
    pairs = tuple(zip(conds, [_charged(a) for a in args[1:n:2]], strict=True))
    otherwise = _charged(args[-1]) if n % 2 else None

    def chain(data: Any, ctx: _Ctx) -> Any:
        for cond, consequent in pairs:
            if _truthy(cond(data, ctx)):
                return consequent(data, ctx)
        return None if otherwise is None else otherwise(data, ctx)

    return chain, cost


def _compile_and_or(is_and: bool) -> _OpCompiler:
    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        if not args:
            c.may_leak_undefined = True
            return _const_fn(_UNDEFINED), 1
        first = args[0].fn
        rest = tuple((a.fn, a.cost) for a in args[1:])
        cost = 1 + args[0].cost
        if not rest:
            return first, cost

        # Both return the deciding value itself, not a boolean.
        def and_(data: Any, ctx: _Ctx) -> Any:
            v = first(data, ctx)
            for f, f_cost in rest:
                if not _truthy(v):
                    return v
                ctx.left -= f_cost
                if ctx.left < 0:
                    _out_of_steps(ctx)
                v = f(data, ctx)
            return v

        def or_(data: Any, ctx: _Ctx) -> Any:
            v = first(data, ctx)
            for f, f_cost in rest:
                if _truthy(v):
                    return v
                ctx.left -= f_cost
                if ctx.left < 0:
                    _out_of_steps(ctx)
                v = f(data, ctx)
            return v

        return (and_ if is_and else or_), cost

    return build


def _scoped(c: _Compiler, args: list[_Node], leaks: bool) -> tuple[Fn, Fn, int, int]:
    """Source function, body function, static cost, and steps per iteration."""
    source = args[0] if args else _UNDEFINED_NODE
    if len(args) > 1:
        body = args[1]
        return source.fn, body.fn, 1 + source.cost, 1 + body.cost
    # No logic: logic.js applies ``undefined``, which evaluates to undefined.
    if leaks:
        c.may_leak_undefined = True
    return source.fn, _UNDEFINED_NODE.fn, 1 + source.cost, 1


def _compile_map(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    source, body, cost, per_item = _scoped(c, args, True)

    def map_(data: Any, ctx: _Ctx) -> list[Any]:
        items = source(data, ctx)
        if not isinstance(items, list):
            return []
        _check_array(ctx, len(items))
        _charge(ctx, len(items) * per_item)
        return [body(item, ctx) for item in items]

    return map_, cost


def _compile_filter(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    source, body, cost, per_item = _scoped(c, args, False)

    def filter_(data: Any, ctx: _Ctx) -> list[Any]:
        items = source(data, ctx)
        if not isinstance(items, list):
            return []
        _charge(ctx, len(items) * per_item)
        out = [item for item in items if _truthy(body(item, ctx))]
        _check_array(ctx, len(out))
        return out

    return filter_, cost


def _compile_reduce(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    source, body, cost, per_item = _scoped(c, args, True)
    initial = args[2].fn if len(args) > 2 else _const_fn(None)
    cost += args[2].cost if len(args) > 2 else 0

    def reduce_(data: Any, ctx: _Ctx) -> Any:
        items = source(data, ctx)
        acc = initial(data, ctx)
        if not isinstance(items, list):
            return acc
        _charge(ctx, len(items) * per_item)
        for item in items:
            acc = body({"current": item, "accumulator": acc}, ctx)
        return acc

    return reduce_, cost


def _compile_all(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
    source, body, cost, per_item = _scoped(c, args, False)

    def all_(data: Any, ctx: _Ctx) -> bool:
        items = source(data, ctx)
        if not isinstance(items, list) or not items:
            return False  # all of nothing is false in JsonLogic
        for item in items:
            ctx.left -= per_item
            if ctx.left < 0:
                _out_of_steps(ctx)
            if not _truthy(body(item, ctx)):
                return False
        return True

    return all_, cost


def _compile_some_none(found: bool) -> _OpCompiler:
    """``some`` (returns ``found=True`` on the first truthy item) and ``none`` (False)."""

    def build(c: _Compiler, args: list[_Node]) -> tuple[Fn, int]:
        source, body, cost, per_item = _scoped(c, args, False)

        def some_none(data: Any, ctx: _Ctx) -> bool:
            items = source(data, ctx)
            if not isinstance(items, list) or not items:
                return not found
            for item in items:
                ctx.left -= per_item
                if ctx.left < 0:
                    _out_of_steps(ctx)
                if _truthy(body(item, ctx)):
                    return found
            return not found

        return some_none, cost

    return build


# The whitelist. Nothing else compiles: in particular not logic.js's "log", nor the
# "method" of older versions, nor dotted names that walk into the operation table.
_OPERATORS: Final[dict[str, _OpCompiler]] = {
    # special forms
    "if": _compile_if,
    "?:": _compile_if,
    "and": _compile_and_or(True),
    "or": _compile_and_or(False),
    "map": _compile_map,
    "filter": _compile_filter,
    "reduce": _compile_reduce,
    "all": _compile_all,
    "some": _compile_some_none(True),
    "none": _compile_some_none(False),
    # operations
    "var": _compile_var,
    "missing": _with_data(_op_missing),
    "missing_some": _with_data(_op_missing_some),
    "==": _compile_equality(strict=False, negate=False),
    "===": _compile_equality(strict=True, negate=False),
    "!=": _compile_equality(strict=False, negate=True),
    "!==": _compile_equality(strict=True, negate=True),
    ">": _compile_greater(or_equal=False),
    ">=": _compile_greater(or_equal=True),
    "<": _compile_less(or_equal=False),
    "<=": _compile_less(or_equal=True),
    "!!": _compile_not(negate=False),
    "!": _compile_not(negate=True),
    "%": _binary(_op_mod),
    "in": _compile_in,
    "cat": _variadic(_op_cat),
    "substr": _ternary(_op_substr),
    "+": _variadic(_op_add),
    "*": _variadic(_op_mul),
    "-": _binary(_op_sub),
    "/": _binary(_op_div),
    "min": _variadic(_op_min),
    "max": _variadic(_op_max),
    "merge": _variadic(_op_merge),
}


# --------------------------------------------------------------------------- public API


def _check_result(ctx: _Ctx, value: list[Any]) -> None:
    """Cap the array items of a result, counting nested arrays as often as they appear.

    Within one evaluation a rule like ``{"reduce": [r, [acc, acc], [1]]}`` builds, cheaply,
    a value of a few shared arrays that unfolds into 2**len(r) items: harmless here, but a
    bomb for whoever serialises the result. So results are measured unfolded.
    """
    limit = ctx.limits.max_array
    total = len(value)
    todo = [value]
    while todo and total <= limit:
        array = todo.pop()
        if list not in map(type, array):  # a flat array: skip the Python-level loop
            continue
        for item in array:
            if type(item) is list:
                total += len(item)
                todo.append(item)
    if total > limit:
        raise BudgetError(
            f"result holds more than max_array={limit} array items (nested ones included)",
            "max_array",
        )
    _charge_items(ctx, total)


def _export(ctx: _Ctx, value: Any) -> Any:
    """Replace ``undefined`` by ``None`` (as JSON.stringify does), inside arrays too.

    Only used for rules that can produce undefined at all. Iterative and memoised, so
    deep or shared (or self-containing) arrays are handled; every element costs a step.
    """
    if value is _UNDEFINED:
        return None
    if not isinstance(value, list):
        return value
    copies: dict[int, list[Any]] = {id(value): []}
    todo: list[tuple[list[Any], list[Any]]] = [(value, copies[id(value)])]
    while todo:
        source, target = todo.pop()
        _charge(ctx, len(source))
        for item in source:
            if item is _UNDEFINED:
                target.append(None)
            elif isinstance(item, list):
                copy = copies.get(id(item))
                if copy is None:
                    copy = copies[id(item)] = []
                    todo.append((item, copy))
                target.append(copy)
            else:
                target.append(item)
    return copies[id(value)]


class CompiledRule:
    """A rule compiled once; call it (or :meth:`evaluate`) with the data, as often as needed.

    Safe to share between threads. Results may share structure with the data and the
    rule (as in logic.js): treat them as read-only.
    """

    __slots__ = ("_export", "_fn", "_limits", "_spare", "_start", "cost", "nodes")

    def __init__(self, fn: Fn, cost: int, limits: Limits, export: bool, nodes: int) -> None:
        self._fn = fn
        self._limits = limits
        self._export = export
        self._start = limits.max_steps - cost
        # Evaluation contexts to reuse: creating one costs as much as a small rule.
        # list.pop/append are atomic, so each context serves one evaluation at a time.
        self._spare: list[_Ctx] = []
        self.cost = cost  # steps every evaluation takes at least
        self.nodes = nodes

    @property
    def limits(self) -> Limits:
        return self._limits

    def evaluate(self, data: Any) -> Any:
        """The rule's value for ``data``; raises only :class:`JsonLogicError` subclasses."""
        try:
            ctx = self._spare.pop()
        except IndexError:
            ctx = _Ctx(0, self._limits)
        ctx.left = self._start
        try:
            if ctx.left < 0:
                _out_of_steps(ctx)
            result = self._fn(data, ctx)
            if self._export:
                result = _export(ctx, result)
            if type(result) is list:
                _check_result(ctx, result)
            return result
        except JsonLogicError:
            raise
        except RecursionError as exc:  # only for data nested deeper than the stack
            raise BudgetError("value nested too deeply to evaluate", "max_depth") from exc
        except Exception as exc:
            # Not expected; callers were promised one exception family.
            raise EvaluationError(f"internal error: {type(exc).__name__}: {exc}") from exc
        finally:
            self._spare.append(ctx)

    __call__ = evaluate

    def __repr__(self) -> str:
        return f"<CompiledRule nodes={self.nodes} cost={self.cost}>"


def compile(rule: Any, limits: Limits | None = None) -> CompiledRule:
    """Check ``rule`` against ``limits`` and the operator whitelist, and compile it.

    Raises :class:`RuleError` (with ``.path``) for anything refused.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    compiler = _Compiler(limits)
    try:
        root = compiler.node(rule, ())
    except RecursionError as exc:
        raise RuleError("rule is nested too deeply", "$") from exc
    return CompiledRule(root.fn, root.cost, limits, compiler.may_leak_undefined, compiler.nodes)


def evaluate(rule: Any, data: Any, limits: Limits | None = None) -> Any:
    """Compile ``rule`` and evaluate it once against ``data``."""
    return compile(rule, limits).evaluate(data)

"""JSONLogic: the reference suite, JavaScript's coercions, budgets and hostile rules.

Every expected value outside the reference suite was checked against json-logic-js 2.0.5
(logic.js under Node), except where a test says it pins one of our deliberate deviations.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from driver.dsl import jsonlogic as jl

SHARED_CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
SUITE = SHARED_CONFORMANCE / "jsonlogic" / "tests.json"

NAN = {"/": [0, 0]}  # JSON has no NaN; this rule makes one


def same(actual: Any, expected: Any) -> bool:
    """Equality as JSON sees it, stricter than Python's ``==``.

    Booleans are not numbers (Python has ``True == 1``), but ``1`` and ``1.0`` are the same
    number. An expected NaN wants a NaN, an expected ``-0.0`` wants ``-0.0``.
    """
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is bool and type(expected) is bool and actual == expected
    if isinstance(expected, (int, float)):
        if not isinstance(actual, (int, float)):
            return False
        if isinstance(expected, float) and math.isnan(expected):
            return isinstance(actual, float) and math.isnan(actual)
        if expected == 0 and math.copysign(1.0, expected) < 0:
            return isinstance(actual, float) and actual == 0 and math.copysign(1.0, actual) < 0
        return actual == expected
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same(actual[k], expected[k]) for k in expected)
        )
    return type(actual) is type(expected) and actual == expected


def test_the_comparator_tells_apart_what_python_equates() -> None:
    assert not same(1, True) and not same(True, 1) and not same(0, False)
    assert not same([1], [True]) and not same({"a": 0}, {"a": False})
    assert same(1, 1.0) and same(1.0, 1) and same([2, {"x": 3}], [2.0, {"x": 3}])
    assert same(math.nan, math.nan) and not same(0.0, math.nan)
    assert same(-0.0, -0.0) and not same(0, -0.0) and same(-0.0, 0)
    assert not same(None, []) and not same("1", 1) and not same([1, 2], [1])


# --------------------------------------------------------------------------- reference suite


def _suite() -> list[Any]:
    if not SHARED_CONFORMANCE.is_dir():
        return [
            pytest.param(
                None,
                None,
                None,
                id="suite-absent",
                marks=pytest.mark.skip(
                    reason=f"no conformance folder at {SHARED_CONFORMANCE} (../shared beside "
                    "the repository); the JSONLogic reference suite cannot run"
                ),
            )
        ]
    params: list[Any] = []
    for entry in json.loads(SUITE.read_text(encoding="utf-8")):
        if isinstance(entry, str):  # a comment heading the next cases
            continue
        rule, data, expected = entry
        text = json.dumps(rule, separators=(",", ":"))
        params.append(pytest.param(rule, data, expected, id=f"{len(params):03d}:{text[:80]}"))
    return params


@pytest.mark.parametrize(("rule", "data", "expected"), _suite())
def test_reference_suite(rule: Any, data: Any, expected: Any) -> None:
    actual = jl.evaluate(rule, data)
    assert same(actual, expected), f"{json.dumps(rule)} on {json.dumps(data)}: {actual!r}"


def test_reference_suite_is_read_whole() -> None:
    if not SHARED_CONFORMANCE.is_dir():
        pytest.skip(f"no conformance folder at {SHARED_CONFORMANCE}")
    entries = json.loads(SUITE.read_text(encoding="utf-8"))
    cases = [e for e in entries if not isinstance(e, str)]
    assert cases and all(isinstance(e, list) and len(e) == 3 for e in cases)
    assert len(_suite()) == len(cases)


# --------------------------------------------------------------------------- JavaScript coercions

COERCIONS: list[tuple[Any, Any]] = [
    # == is abstract equality
    ({"==": [None, 0]}, False),
    ({"==": [None, None]}, True),
    ({"==": [None, False]}, False),
    ({"==": [None, ""]}, False),
    ({"==": [0, ""]}, True),
    ({"==": [0, "0"]}, True),
    ({"==": ["", "0"]}, False),
    ({"==": [False, "0"]}, True),
    ({"==": [False, ""]}, True),
    ({"==": [False, []]}, True),
    ({"==": [[], ""]}, True),
    ({"==": [[], 0]}, True),
    ({"==": [[0], False]}, True),
    ({"==": [[1], True]}, True),
    ({"==": [[1, 2], "1,2"]}, True),
    ({"==": [{}, "[object Object]"]}, True),
    ({"==": [True, 1]}, True),
    ({"==": [True, "1"]}, True),
    ({"==": [True, 2]}, False),
    ({"==": ["1.0", 1]}, True),
    ({"==": [" 1 ", 1]}, True),
    ({"==": ["0x10", 16]}, True),
    ({"==": ["1e3", 1000]}, True),
    ({"==": [NAN, NAN]}, False),
    ({"==": [[], []]}, False),  # two arrays: two objects
    ({"==": [[None], ""]}, True),
    ({"==": [[[]], 0]}, True),
    ({"==": ["abc", 0]}, False),
    ({"==": [1, 1.0]}, True),
    ({"!=": [None, 0]}, True),
    ({"!=": ["1", 1]}, False),
    ({"===": [1, 1.0]}, True),
    ({"===": [1, True]}, False),
    ({"===": ["1", 1]}, False),
    ({"===": [None, None]}, True),
    ({"===": [[], []]}, False),
    ({"!==": [0, False]}, True),
    # < compares two strings as strings, anything else as numbers
    ({"<": ["10", "9"]}, True),
    ({"<": ["10", 9]}, False),
    ({"<": ["a", 1]}, False),
    ({">=": ["a", 1]}, False),
    ({"<": [None, 1]}, True),
    ({">=": [None, 0]}, True),
    ({"<": [[2], 10]}, True),
    ({"<": ["", 1]}, True),
    ({">": [True, 0]}, True),
    ({"<": ["B", "a"]}, True),
    ({"<=": ["abc", "abd"]}, True),
    ({"<": [1, "2", 3]}, True),
    ({"<": [1, 5, "3"]}, False),
    ({"<=": [1, 1, 1]}, True),
    ({">": ["11", "2"]}, False),
    ({">": [11, "2"]}, True),
    # truthiness: JavaScript's, but [] is false
    ({"!!": [[]]}, False),
    ({"!!": [[0]]}, True),
    ({"!!": ["0"]}, True),
    ({"!!": [0]}, False),
    ({"!!": [""]}, False),
    ({"!!": [{}]}, True),
    ({"!!": [None]}, False),
    ({"!!": [NAN]}, False),
    ({"!!": [{"-": [0]}]}, False),
    ({"!!": [" "]}, True),
    ({"!": [[]]}, True),
    # arithmetic: + and * go through parseFloat, the others through Number()
    ({"+": [True, 1]}, math.nan),
    ({"-": [True, 1]}, 0),
    ({"*": [" 3px", 2]}, 6),
    ({"+": ["1e2", ".5"]}, 100.5),
    ({"-": ["0x10", 1]}, 15),
    ({"+": ["0x10"]}, 0),
    ({"/": [1, 0]}, math.inf),
    ({"/": [-1, 0]}, -math.inf),
    ({"/": [0, 0]}, math.nan),
    ({"%": [5, 0]}, math.nan),
    ({"%": [-5, 3]}, -2),
    ({"*": ["a"]}, "a"),  # a lone argument comes back untouched
    ({"*": [-1, 0]}, -0.0),
    ({"min": []}, math.inf),
    ({"max": []}, -math.inf),
    ({"max": [1, "x"]}, math.nan),
    ({"+": [0.1, 0.2]}, 0.30000000000000004),
    ({"+": []}, 0),
    ({"-": [None]}, -0.0),
    ({"-": ["  "]}, -0.0),
    ({"+": [None, 1]}, math.nan),
    ({"*": [[2], "3"]}, 6),
    ({"-": [[], [5]]}, -5),
    ({"min": [[3], "2", True]}, 1),
    ({"/": [7, 2]}, 3.5),
    ({"%": [7.5, 2]}, 1.5),
    # cat joins like Array.prototype.join: numbers as JavaScript prints them, null as ""
    (
        {"cat": [1.0, True, None, False, [1, [2, None]], 0.5, 1e21, -0.0, 1e-7, 123456.789, 1e-6]},
        "1truefalse1,2,0.51e+2101e-7123456.7890.000001",
    ),
    (
        {"cat": [{"/": [1, 3]}, "|", {"*": [1.1, 1.1]}, "|", {"/": [10, 4]}, "|", {"/": [1, 0]}]},
        "0.3333333333333333|1.2100000000000002|2.5|Infinity",
    ),
    ({"cat": [NAN, 2**60, -(2**53)]}, "NaN1152921504606847000-9007199254740992"),
    ({"cat": []}, ""),
    ({"cat": [[]]}, ""),
    ({"cat": [{}]}, "[object Object]"),
    # in: substring search (after String()) or strict array search
    ({"in": [1, "a1b"]}, True),
    ({"in": [None, "null"]}, True),
    ({"in": ["", ""]}, False),
    ({"in": ["", "a"]}, True),
    ({"in": [1, [1.0, 2]]}, True),
    ({"in": [True, [1]]}, False),
    ({"in": ["1", [1]]}, False),
    ({"in": [NAN, [NAN]]}, False),
    ({"in": ["a", 5]}, False),
    ({"in": ["a", None]}, False),
    # substr: String.prototype.substr, plus logic.js's negative length
    ({"substr": ["jsonlogic", 1, "-2"]}, ""),
    ({"substr": [12345, 1, 2]}, "23"),
    ({"substr": [None, 0]}, "null"),
    ({"substr": [[1, 2], 0]}, "1,2"),
    ({"substr": ["abc", 1, None]}, ""),
    ({"substr": ["abc", -10, 2]}, "ab"),
    ({"substr": ["abcdef", 1.7, 2.9]}, "bc"),
    ({"substr": ["abcdef", 2, -10]}, ""),
    ({"substr": ["abc", "1"]}, "bc"),
    ({"substr": [True, 1]}, "rue"),
]


@pytest.mark.parametrize(
    ("rule", "expected"), [pytest.param(r, e, id=json.dumps(r)) for r, e in COERCIONS]
)
def test_javascript_coercions(rule: Any, expected: Any) -> None:
    actual = jl.evaluate(rule, None)
    assert same(actual, expected), f"{json.dumps(rule)}: {actual!r}"


def test_numbers_come_back_as_int_when_integral() -> None:
    assert type(jl.evaluate({"+": [1, 2]}, None)) is int
    assert type(jl.evaluate({"/": [4, 2]}, None)) is int
    assert type(jl.evaluate({"-": ["7", 2.5]}, None)) is float
    assert type(jl.evaluate({"*": [2**60, 1]}, None)) is float  # beyond 2**53: a double
    assert type(jl.evaluate({"max": [1, 3]}, None)) is int
    assert jl.evaluate({"var": "x"}, {"x": 2.0}) == 2.0  # data is passed through untouched
    assert type(jl.evaluate({"var": "x"}, {"x": 2.0})) is float


def test_booleans_in_data_are_not_numbers() -> None:
    assert jl.evaluate({"===": [{"var": "t"}, 1]}, {"t": True}) is False
    assert jl.evaluate({"==": [{"var": "t"}, 1]}, {"t": True}) is True
    assert jl.evaluate({"in": [{"var": "t"}, [1, 2]]}, {"t": True}) is False
    assert jl.evaluate({"cat": [{"var": "t"}]}, {"t": True}) == "true"


# --------------------------------------------------------------------------- var, missing, undefined

DATA_CASES: list[tuple[Any, Any, Any]] = [
    ({"var": "a.b"}, {"a": None}, None),
    ({"var": ["a.b", "d"]}, {"a": None}, "d"),
    ({"var": ["a", "d"]}, {"a": None}, None),  # a present null is a value
    ({"var": ["a", "d"]}, {"a": False}, False),
    ({"var": ["a", "d"]}, {"a": 0}, 0),
    ({"var": ["a", "d"]}, {"a": ""}, ""),
    ({"var": "a.length"}, {"a": [1, 2, 3]}, 3),
    ({"var": "s.length"}, {"s": "hello"}, 5),
    ({"var": "s.1"}, {"s": "hello"}, "e"),
    ({"var": "a.01"}, {"a": [1, 2]}, None),
    ({"var": "a.-1"}, {"a": [1, 2]}, None),
    ({"var": "a.2"}, {"a": [1, 2]}, None),
    ({"var": 1.5}, {"1": {"5": "x"}}, "x"),
    ({"var": True}, {"true": 1}, 1),
    ({"var": ""}, {"a": 1}, {"a": 1}),
    ({"var": ["x", {"var": "y"}]}, {"y": 9}, 9),
    ({"var": [{"cat": ["a", ".", "b"]}]}, {"a": {"b": 2}}, 2),
    ({"var": "0"}, "xyz", "x"),
    ({"var": "a"}, 5, None),
    ({"var": "a.b"}, {"a": "str"}, None),
    ({"var": ["a", [1]]}, {}, [1]),
    ({"var": "a..b"}, {"a": {"": {"b": 7}}}, 7),
    ({"var": "length"}, {"length": 2}, 2),
    ({"var": "x"}, None, None),
    ({"var": ["x", "fallback"]}, None, "fallback"),
    ({"var": ["", 5]}, None, None),
    ({"missing": [["a", "b"]]}, {"a": 1}, ["b"]),
    ({"missing": [["a", "b"], "c"]}, {}, ["a", "b"]),
    ({"missing": ["a", "b"]}, {"a": "", "b": None}, ["a", "b"]),
    ({"missing": ["a", "b"]}, {"a": 0, "b": False}, []),
    ({"missing": [1, 2]}, ["x", ""], [1, 2]),
    ({"missing": {"var": "k"}}, {"k": ["a", "b"], "a": 1}, ["b"]),
    ({"missing_some": [1, "ab"]}, {}, []),
    ({"missing_some": ["1", ["a", "b"]]}, {"a": 1}, []),
    ({"missing_some": [1, [["a", "b"]]]}, {"b": 1}, ["a"]),
    ({"missing_some": [1, 5]}, {}, [5]),
    # undefined (from odd rules) leaves as None, as JSON.stringify would print it
    ({"and": []}, None, None),
    ({"or": []}, None, None),
    ([{"and": []}, 1], None, [None, 1]),
    ({"map": [[1, 2]]}, None, [None, None]),
    ({"reduce": [[1, 2]]}, None, None),
    ({"==": [None, {"and": []}]}, None, True),
    ({"===": [None, {"and": []}]}, None, False),
    ({"cat": ["a", {"and": []}, "b"]}, None, "ab"),
    ({"substr": [{"and": []}, 0]}, None, "undefined"),
    ({"-": [{"and": []}]}, None, math.nan),
    ({"map": [{"map": [[1, 2]]}, {"-": [{"var": ""}]}]}, None, [math.nan, math.nan]),
    ({"filter": [[None, {"and": []}, 0], True]}, None, [None, None, 0]),
    # control flow returns the deciding value
    ({"if": [{"var": "x"}, "yes"]}, {"x": []}, None),
    ({"if": [{"var": "x"}, "yes", {"var": "y"}, "second", "no"]}, {"x": 0, "y": "0"}, "second"),
    ({"or": [0, "", [], None]}, None, None),
    ({"and": [1, "a", [0], {}]}, None, {}),
    ({"or": [{"var": "a"}, {"var": "b"}, "default"]}, {"b": "B"}, "B"),
    ({"map": ["abc", {"var": ""}]}, None, []),
    ({"reduce": ["abc", 1, 5]}, None, 5),
    ({"all": [[], True]}, None, False),
    ({"none": [None, True]}, None, True),
    ({"some": [[0, "", [1]], {"var": ""}]}, None, True),
    (
        {"reduce": [{"var": "xs"}, {"+": [{"var": "accumulator"}, {"var": "current.n"}]}, 10]},
        {"xs": [{"n": 1}, {"n": 2}]},
        13,
    ),
    ({"merge": [None, [None], [[1]], "a"]}, None, [None, None, [1], "a"]),
    ({"a": 1, "b": {"var": "x"}}, None, {"a": 1, "b": {"var": "x"}}),  # not logic: a value
    ({}, None, {}),
]


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [pytest.param(r, d, e, id=f"{json.dumps(r)} on {json.dumps(d)}") for r, d, e in DATA_CASES],
)
def test_data_access_and_control_flow(rule: Any, data: Any, expected: Any) -> None:
    actual = jl.evaluate(rule, data)
    assert same(actual, expected), f"{json.dumps(rule)} on {json.dumps(data)}: {actual!r}"


@pytest.mark.parametrize(
    "path", ["constructor", "__class__", "a.__len__", "a.toString", "s.upper", "__proto__"]
)
def test_var_reads_own_properties_only(path: str) -> None:
    # Deliberate deviation: JavaScript would find inherited members such as constructor.
    data = {"a": [1], "s": "text"}
    assert jl.evaluate({"var": path}, data) is None
    assert jl.evaluate({"var": [path, "default"]}, data) == "default"


def test_values_from_data_are_never_run_as_rules() -> None:
    # Deliberate deviation: logic.js's missing_some re-applies {"missing": options}, so a
    # one-key object in the data would be evaluated as a rule (here: an unknown operator).
    data = {"opts": [{"log": "x"}], "[object Object]": 1}
    assert jl.evaluate({"missing_some": [1, {"var": "opts"}]}, data) == []
    assert jl.evaluate({"var": "rule"}, {"rule": {"var": "x"}, "x": 1}) == {"var": "x"}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "op", ["log", "method", "fubar", "constructor", "__class__", "toString", "Math.abs", "==.x"]
)
def test_unknown_operators_are_refused_at_compile_time(op: str) -> None:
    with pytest.raises(jl.RuleError, match="unknown operator") as info:
        jl.compile({"and": [True, {"if": [False, {op: [1]}]}]})
    assert info.value.path == "$.and[1].if[1]"
    assert repr(op) in str(info.value) and "$.and[1].if[1]" in str(info.value)


def test_rule_error_paths_quote_keys_that_are_not_identifiers() -> None:
    with pytest.raises(jl.RuleError) as info:
        jl.compile({"==": [1, {"!": {"method": ["a", "upper"]}}]})
    assert info.value.path == '$["=="][1]["!"]'


@pytest.mark.parametrize(
    "rule",
    [(1, 2), {1, 2}, object(), b"bytes", {"var": ("a",)}, {"a": 1, 2: 3}, {"cat": [{1: "x"}]}],
    ids=["tuple", "set", "object", "bytes", "nested-tuple", "int-key", "nested-int-key"],
)
def test_values_that_are_not_json_are_refused(rule: Any) -> None:
    with pytest.raises(jl.RuleError):
        jl.compile(rule)


def test_deep_nesting_is_refused_at_compile_time() -> None:
    limits = jl.Limits(max_depth=10)
    rule: Any = True
    for _ in range(5):
        rule = {"!": [rule]}  # two containers per level
    assert jl.compile(rule, limits)(None) is False
    with pytest.raises(jl.RuleError, match="max_depth=10"):
        jl.compile({"!": [rule]}, limits)
    for _ in range(100_000):  # far deeper than Python's stack
        rule = {"!": rule}
    with pytest.raises(jl.RuleError, match="max_depth"):
        jl.compile(rule)


def test_rule_size_is_capped_at_compile_time() -> None:
    rule = {"+": list(range(99))}  # 1 object + 1 array + 99 numbers
    assert jl.compile(rule, jl.Limits(max_nodes=101)).nodes == 101
    with pytest.raises(jl.RuleError, match="max_nodes=100"):
        jl.compile(rule, jl.Limits(max_nodes=100))
    with pytest.raises(jl.RuleError, match="max_string"):
        jl.compile({"cat": ["x" * 11]}, jl.Limits(max_string=10))


def test_reference_throws_become_evaluation_errors() -> None:
    with pytest.raises(jl.EvaluationError):
        jl.evaluate({"*": []}, None)  # Reduce of empty array with no initial value
    with pytest.raises(jl.EvaluationError):
        jl.evaluate({"missing_some": [1, None]}, None)
    with pytest.raises(jl.EvaluationError):
        jl.evaluate({"cat": [{"var": "o"}]}, {"o": {"toString": 1}})
    with pytest.raises(jl.EvaluationError):
        jl.evaluate({"in": ["a", {"var": "o"}]}, {"o": {"indexOf": 1}})
    # ...but only when reached, as in logic.js
    assert jl.evaluate({"if": [False, {"*": []}, 1]}, None) == 1


def test_unexpected_python_errors_are_wrapped() -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    with pytest.raises(jl.EvaluationError, match="RuntimeError"):
        jl.evaluate({"in": ["a", {"var": "xs"}]}, {"xs": [Hostile()]})


def test_every_error_is_a_value_error() -> None:
    for cls in (jl.RuleError, jl.BudgetError, jl.EvaluationError):
        assert issubclass(cls, jl.JsonLogicError) and issubclass(cls, ValueError)


# --------------------------------------------------------------------------- budgets


def _range(n: int) -> list[int]:
    return list(range(n))


ACC = {"var": "accumulator"}


@pytest.mark.parametrize(
    ("rule", "limit"),
    [
        pytest.param({"reduce": [_range(64), {"cat": [ACC, ACC]}, "x"]}, "max_string", id="cat"),
        pytest.param({"reduce": [_range(64), {"merge": [ACC, ACC]}, [1]]}, "max_array", id="merge"),
        # shared sub-arrays: tiny in memory, 2**64 items once serialised
        pytest.param({"reduce": [_range(64), [ACC, ACC], [1]]}, "max_array", id="nested"),
        pytest.param(
            {"cat": {"reduce": [_range(64), [ACC, ACC], [1]]}}, "max_steps", id="cat-nested"
        ),
        pytest.param(
            {"==": [{"reduce": [_range(64), [ACC, ACC], [1]]}, "1"]}, "max_steps", id="eq-nested"
        ),
        pytest.param(
            {"reduce": [_range(200), {"reduce": [_range(200), {"+": [ACC, 1]}, 0]}, 0]},
            "max_steps",
            id="nested-loops",
        ),
    ],
)
def test_exponential_rules_end_with_a_budget_error(rule: Any, limit: str) -> None:
    with pytest.raises(jl.BudgetError) as info:
        jl.evaluate(rule, None)
    assert info.value.limit == limit


def test_huge_arrays_in_data_exhaust_the_budget() -> None:
    with pytest.raises(jl.BudgetError) as info:
        jl.evaluate({"map": [{"var": "xs"}, {"+": [{"var": ""}, 1]}]}, {"xs": _range(200_000)})
    assert info.value.limit == "max_array"
    with pytest.raises(jl.BudgetError) as info:
        jl.evaluate({"map": [{"var": "xs"}, {"+": [{"var": ""}, 1]}]}, {"xs": _range(60_000)})
    assert info.value.limit == "max_steps"
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"some": [{"var": "xs"}, False]}, {"xs": _range(200_000)})
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"missing": {"var": "xs"}}, {"xs": [str(i) for i in range(200_000)]})


def test_data_nested_deeper_than_the_stack_is_handled() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"cat": [{"var": "d"}]}, {"d": deep})
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"==": [{"var": "d"}, ""]}, {"d": deep})
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"cat": [{"var": "c"}]}, {"c": cyclic})
    with pytest.raises(jl.BudgetError):
        jl.evaluate({"var": "c"}, {"c": cyclic})


def test_steps_are_counted_exactly() -> None:
    # map: 1, plus per item 1 + ("+": 1, var: 1)
    rule = {"map": [[1, 2, 3], {"+": [{"var": ""}, 1]}]}
    assert jl.evaluate(rule, None, jl.Limits(max_steps=10)) == [2, 3, 4]
    with pytest.raises(jl.BudgetError, match="more than 9 steps") as info:
        jl.evaluate(rule, None, jl.Limits(max_steps=9))
    assert info.value.limit == "max_steps"
    # only the branch taken is paid for: if 1, ">" 1, var 1, then "cat" 1
    costly = {"+": [{"-": [1, 2]}, {"*": [3, 4]}, {"/": [5, 6]}]}
    rule = {"if": [{">": [{"var": "x"}, 0]}, {"cat": "pos"}, costly]}
    assert jl.evaluate(rule, {"x": 1}, jl.Limits(max_steps=4)) == "pos"
    with pytest.raises(jl.BudgetError):
        jl.evaluate(rule, {"x": -1}, jl.Limits(max_steps=4))
    assert jl.evaluate(rule, {"x": -1}, jl.Limits(max_steps=7)) == pytest.approx(-1 + 12 + 5 / 6)


def test_a_budget_is_per_evaluation() -> None:
    rule = jl.compile({"reduce": [{"var": "xs"}, {"+": [ACC, 1]}, 0]}, jl.Limits(max_steps=50))
    for _ in range(100):
        assert rule({"xs": _range(10)}) == 10
    with pytest.raises(jl.BudgetError):
        rule({"xs": _range(30)})
    assert rule({"xs": _range(10)}) == 10  # and the next evaluation starts afresh


# --------------------------------------------------------------------------- API


def test_limits_are_a_frozen_dataclass_with_checked_fields() -> None:
    limits = jl.Limits()
    assert (limits.max_depth, limits.max_nodes, limits.max_steps) == (64, 10_000, 100_000)
    assert (limits.max_array, limits.max_string) == (100_000, 1 << 20)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_steps = 5  # type: ignore[misc]
    for bad in ({"max_steps": 0}, {"max_array": -1}, {"max_nodes": True}, {"max_depth": 10_000}):
        with pytest.raises(ValueError):
            jl.Limits(**bad)


def test_a_compiled_rule_is_reused() -> None:
    source: dict[str, Any] = {
        "==": [{"var": "event.index"}, {"var": "context.current.correctIndex"}]
    }
    rule = jl.compile(source)
    assert isinstance(rule, jl.CompiledRule) and rule.limits == jl.Limits()
    right = {"event": {"index": 2}, "context": {"current": {"correctIndex": 2}}}
    wrong = {"event": {"index": 1}, "context": {"current": {"correctIndex": 2}}}
    for _ in range(3):
        assert rule(right) is True and rule.evaluate(wrong) is False
    source["=="] = [1, 1]  # the compiled rule does not see later edits
    assert rule(wrong) is False


def test_literal_arrays_are_fresh_for_each_evaluation() -> None:
    rule = jl.compile([1, [2]])
    first, second = rule(None), rule(None)
    assert first == second == [1, [2]] and first is not second and first[1] is not second[1]


def test_in_against_a_literal_list() -> None:
    rule = jl.compile({"in": [{"var": "exit"}, ["north", "south", 1, None]]})
    assert rule({"exit": "north"}) is True
    assert rule({"exit": "east"}) is False
    assert rule({"exit": 1.0}) is True
    assert rule({"exit": True}) is False
    assert rule({}) is True  # var gives null, and null is in the list

"""Declarative bundles, effects and rooms, without I/O: bad bundles are refused with the
JSON path of every problem; effects are checked against the state schema; an event that
errors applies nothing; patches replay to the state; the quiz's fixes hold."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from driver.dsl.bundle import BundleError, compile_bundle
from driver.dsl.room import Room
from driver.dsl.state import apply_patch

QUIZ = json.loads(
    (Path(__file__).resolve().parents[2] / "world-src" / "rooms" / "quiz.json").read_text()
)

MINI: dict[str, Any] = {
    "state": {
        "classes": {
            "P": {"name": "string", "score": "number"},
            "State": {
                "phase": "string",
                "count": "integer",
                "players": {"map": "P"},
                "tags": {"array": "string"},
            },
        }
    },
    "events": {
        "bump": {
            "schema": {
                "type": "object",
                "properties": {"by": {"type": "integer"}},
                "additionalProperties": False,
            }
        }
    },
    "actions": {"bump": {"type": "inc", "params": {"path": "count", "by": {"var": "event.by"}}}},
    "machine": {
        "id": "m",
        "initial": "a",
        "states": {"a": {"on": {"bump": {"actions": ["bump"]}}}},
    },
}


def refused(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(BundleError) as caught:
        compile_bundle(doc)
    return caught.value.problems


def mini(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(MINI)
    doc.update(changes)
    return doc


def test_the_quiz_compiles() -> None:
    bundle = compile_bundle(QUIZ)
    assert set(bundle.events) == {"start", "answer"}
    assert bundle.lifecycle_event("join") == "join"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"machine": {"initial": "a"}}, "$.machine", "'states' is a required property"),
        (
            {"actions": {"bump": {"type": "inc", "params": {"path": "phase"}}}},
            "$.actions.bump.params.path",
            "inc needs a number",
        ),
        (
            {"actions": {"bump": {"type": "set", "params": {"path": "nope", "value": 1}}}},
            "$.actions.bump.params.path",
            "has no field 'nope'",
        ),
        (
            {"actions": {"bump": {"type": "explode"}}},
            "$.actions.bump.type",
            "unknown effect 'explode'",
        ),
        (
            {
                "actions": {
                    "bump": {
                        "type": "set",
                        "params": {"path": "phase", "value": {"method": ["x", "y"]}},
                    }
                }
            },
            "$.actions.bump.params.value",
            "method",
        ),
        (
            {"actions": {"bump": {"type": "mapSet", "params": {"path": "count", "key": "k"}}}},
            "$.actions.bump.params.path",
            "mapSet needs a map",
        ),
        (
            {"machine": {"initial": "a", "states": {"a": {"on": {"bump": {"target": "zz"}}}}}},
            "$.machine.states.a.on.bump.target",
            "unknown target 'zz'",
        ),
        (
            {"machine": {"initial": "a", "states": {"a": {"entry": ["nosuch"]}}}},
            "$.machine.states.a.entry[0]",
            "unknown action 'nosuch'",
        ),
        (
            {"machine": {"initial": "a", "states": {"a": {"on": {"bump": {"guard": {"log": 1}}}}}}},
            "$.machine.states.a.on.bump.guard",
            "log",
        ),
        ({"commands": {"bump": {"event": "jump"}}}, "$.commands.bump.event", "no event 'jump'"),
        (
            {"events": {"bump": {"schema": {"type": "wobbly"}}}},
            "$.events.bump.schema.type",
            "not a JSON Schema",
        ),
        (
            {"state": {"classes": {"State": {"x": "colour"}}}},
            "$.state.classes.State.x",
            "unknown type 'colour'",
        ),
    ],
)
def test_bad_bundles_are_refused_with_the_path(
    change: dict[str, Any], path: str, words: str
) -> None:
    problems = refused(mini(**change))
    assert any(p == path and words in m for p, m in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    doc = mini(
        actions={"bump": {"type": "inc", "params": {"path": "phase"}}},
        commands={"bump": {"event": "jump"}},
    )
    paths = {p for p, _ in refused(doc)}
    assert {"$.actions.bump.params.path", "$.commands.bump.event"} <= paths


def test_not_json_and_not_an_object() -> None:
    assert refused(b"{nope")[0][0] == "$"
    assert "a bundle is a JSON object" in refused(b"[1]")[0][1]


def room(doc: dict[str, Any] | None = None) -> Room:
    r = Room(compile_bundle(doc or MINI), "r1")
    assert r.start().ok
    assert r.join("c1", "Ann") is None
    r.take_patch()
    return r


def test_effects_write_typed_state_and_record_patches() -> None:
    r = room()
    before = copy.deepcopy(r.state)
    assert r.dispatch("c1", "bump", {"by": 2}).ok
    assert r.state["count"] == 2
    ops = r.take_patch()
    assert ops == [{"op": "replace", "path": "/count", "value": 2}]
    assert apply_patch(before, ops) == r.state


def test_an_event_that_errors_applies_nothing() -> None:
    doc = mini(
        actions={
            "bump": [
                {"type": "inc", "params": {"path": "count", "by": 1}},
                {
                    "type": "mapSet",
                    "params": {"path": "players", "key": "x", "fields": {"name": "X"}},
                },
                {"type": "say", "params": {"text": "bumped"}},
                {"type": "set", "params": {"path": "count", "value": "not a number"}},
            ]
        }
    )
    r = room(doc)
    before = copy.deepcopy(r.state)
    step = r.dispatch("c1", "bump", {})
    assert step.error is not None and "expected integer, got a string" in step.error[1]
    assert r.state == before
    assert r.take_patch() == [] and r.take_outputs() == []


def test_bad_payloads_and_strangers_change_nothing() -> None:
    r = room()
    assert r.dispatch("c1", "bump", {"by": "x"}).error[0] == "bad-event"  # type: ignore[index]
    assert r.dispatch("c1", "bump", {"oops": 1}).error[0] == "bad-event"  # type: ignore[index]
    assert r.dispatch("c1", "fly", {}).error[0] == "unknown-event"  # type: ignore[index]
    assert r.dispatch("zz", "bump", {}).error[0] == "no-seat"  # type: ignore[index]
    assert r.state["count"] == 0 and r.take_patch() == []


def test_a_runaway_machine_is_stopped_and_undone() -> None:
    count = {"type": "inc", "params": {"path": "count"}}
    doc = mini(
        machine={
            "id": "m",
            "initial": "a",
            "states": {
                "a": {"on": {"bump": {"target": "b", "actions": [count]}}},
                "b": {
                    "always": {"target": "a", "actions": [count]},
                    "entry": [{"type": "xstate.raise", "params": {"event": "bump"}}],
                },
            },
        }
    )
    r = room(doc)
    step = r.dispatch("c1", "bump", {"by": 1})
    assert step.error is not None and step.error[0] in ("limit", "too-many-steps")
    assert r.state["count"] == 0 and "a" in r.machine.configuration


def test_seats_lock_and_limit() -> None:
    doc = mini(config={"maxClients": 1}, actions={"bump": {"type": "lockRoom"}})
    r = room(doc)
    assert r.join("c2", "Bob") == "full"
    r.max_clients = 5
    r.dispatch("c1", "bump", {})
    assert r.locked and r.join("c2", "Bob") == "locked"


def play_question(r: Room, answers: list[tuple[str, int]]) -> None:
    for client, choice in answers:
        assert r.dispatch(client, "answer", {"choice": choice}).ok


def test_the_quiz_fixes_the_seed() -> None:
    r = Room(compile_bundle(QUIZ), "q", now_ms=0)
    r.start()
    r.join("a", "Ann")
    r.join("b", "Bob")
    r.dispatch("a", "start", {})
    assert r.state["phase"] == "question" and r.state["timer"]["remainingSec"] == 20
    # the `after` timer re-arms: it ticks every second, not once
    r.advance_to(3000)
    assert r.state["timer"]["remainingSec"] == 17
    # a correct answer scores and advances
    play_question(r, [("b", 2), ("a", 1)])
    assert r.state["stepIndex"] == 1 and r.state["players"]["a"]["score"] == 10
    # time running out advances too
    r.advance_to(3000 + 21_000)
    assert r.state["stepIndex"] == 2
    # everyone wrong advances
    play_question(r, [("a", 1), ("b", 1)])
    assert r.state["stepIndex"] == 3
    # and `finished` is reached, with a scoreboard
    play_question(r, [("b", 3)])
    play_question(r, [("b", 1)])
    assert "finished" in r.machine.configuration and r.state["phase"] == "finished"
    assert [x["name"] for x in r.state["ranking"]] == ["Bob", "Ann"]
    texts = [o[2] for o in r.take_outputs() if o[0] == "text"]
    assert any("The quiz is over! Final scores:\n  Bob: 20\n  Ann: 10" in t for t in texts)


def test_a_room_survives_its_dump_and_a_new_version() -> None:
    bundle = compile_bundle(QUIZ)
    r = Room(bundle, "q", now_ms=0)
    r.start()
    r.join("a", "Ann")
    r.dispatch("a", "start", {})
    r.dispatch("a", "answer", {"choice": 1})
    newer = copy.deepcopy(QUIZ)
    newer["state"]["classes"]["State"]["mood"] = "string"  # a new field gets its default
    again = Room.load(compile_bundle(newer), json.loads(json.dumps(r.dump())))
    assert again.state["players"]["a"]["score"] == 10 and again.state["mood"] == ""
    assert again.machine.configuration == r.machine.configuration
    assert again.next_due_ms() == r.next_due_ms()


@pytest.mark.parametrize(
    "rule",
    [
        {"var": "a.b"},
        {"var": "a.list"},
        {"var": "a.list.1"},
        {"var": "missing.x"},
        {"var": "a.s.length"},
        {"==": [{"var": "a.b"}, 3]},
        {"==": [{"var": "a.b"}, "3"]},
        {"==": [{"var": "a.n"}, 0]},
        {"<=": [{"var": "a.b"}, {"var": "a.f"}]},
        {">": [{"var": "a.s"}, "abc"]},
        {"!==": [{"var": "a.t"}, 1]},
        {"<": [{"var": "a.s"}, 5]},
        7,
        "text",
        None,
        {
            "cat": [
                {"var": "a.b"},
                " and ",
                {"var": "a.f"},
                {"var": "a.n"},
                {"var": "a.t"},
                {"var": "a.list"},
            ]
        },
        {"cat": ["x", {"var": "a.z"}, {"var": "a.big"}]},
        {"cat": [{"var": "a.long"}, {"var": "a.long"}]},
        {"if": [{"var": "a.t"}, {"var": "a.b"}, {"var": "a.n"}, "n", "else"]},
        {"if": [{"var": "a.list"}, 1]},
        {"if": [{"var": "a.n"}, 1, {"var": "a.empty"}, 2, {"var": "a.d"}, 3]},
        {"if": [{"var": "a.s"}]},
        {"+": [{"var": "a.b"}, 1]},
        {"+": [{"var": "a.f"}, {"var": "a.b"}, {"var": "a.big"}]},
        {"+": [{"var": "a.z"}]},
        {"-": [{"var": "a.b"}, {"var": "a.f"}]},
        {"-": [{"var": "a.b"}]},
        {"-": [{"var": "a.z"}]},
        {"-": [{"var": "a.nz"}]},
        {"+": [{"var": "a.nz"}, 0]},
        {"cat": [{"var": "a.nz"}]},
        {"!": [{"var": "a.list"}]},
        {"!!": [{"var": "a.d"}]},
        {"!": {"var": "a.empty"}},
        {"var": [{"cat": ["a.", {"var": "a.key"}]}]},
        {"var": [{"cat": ["a.list.", {"+": [{"var": "a.b"}, -2]}]}, "dflt"]},
        {"var": ["a.missing", 5]},
        {"var": "a.nested"},
        {"var": "a.many"},
        {"var": "a.s.1"},
        {"<": [{"var": "a.u"}, {"var": "a.s"}]},
        {">=": [{"var": "a.u"}, "\ue000"]},
        {"==": [{"var": "a.long"}, {"var": "a.long"}]},
        {"==": [{"var": "a.n"}, {"var": "a.z"}]},
        {"!=": [{"var": "a.n"}, None]},
        {"===": [{"var": "a.t"}, True]},
        {"<": [{"var": "a.t"}, True]},
        {"==": [{"var": "a.d"}, {"var": "a.d"}]},
    ],
)
def test_rule_shortcuts_agree_with_jsonlogic(rule: Any) -> None:
    import math

    from driver.dsl import jsonlogic
    from driver.dsl.fastrules import compile_rule

    for data in (
        {
            "a": {
                "b": 3,
                "f": 3.5,
                "s": "abd",
                "t": True,
                "n": None,
                "list": [1, 2],
                "big": 2**60,
                "long": "x" * 700,
                "nz": -0.0,
                "empty": [],
                "d": {"k": 1},
                "key": "b",
                "u": "\U0001f600",
                "nested": [[1]],
                "many": list(range(20)),
            }
        },
        {
            "a": {
                "b": "3",
                "f": [1],
                "s": 2,
                "t": 1,
                "n": 0,
                "list": "xy",
                "big": 1.5,
                "long": 1e21,
                "nz": 0.0,
                "empty": "",
                "d": None,
                "key": "list.length",
                "u": "\ue000",
                "many": [1.0],
            }
        },
        {
            "a": {
                "b": 2.0,
                "f": -1,
                "s": "\ue000",
                "t": False,
                "n": "",
                "list": ["p", "q", "r"],
                "key": "nz",
                "nz": 1e-7,
            }
        },
        {"a": None},
        None,
    ):
        got, want = compile_rule(rule, jsonlogic.Limits())(data), jsonlogic.evaluate(rule, data)
        assert type(got) is type(want), (rule, data, got, want)
        if isinstance(want, float) and math.isnan(want):
            assert math.isnan(got), (rule, data)
        else:
            assert got == want, (rule, data, got, want)
            if isinstance(want, float):
                assert math.copysign(1, got) == math.copysign(1, want), (rule, data)


def test_generated_rules_agree_with_jsonlogic_on_random_rules() -> None:
    """Random loop-free rules over awkward values (floats, -0, NaN, big integers, long
    and non-ASCII strings, nested and long lists): the generated functions give what
    the evaluator gives, value and type, or fail as it fails."""
    import math
    import random

    from driver.dsl import jsonlogic
    from driver.dsl.fastrules import compile_rule

    rng = random.Random(14)
    values: list[Any] = [
        0,
        1,
        -1,
        2,
        3,
        2**53,
        2**60,
        0.5,
        -0.0,
        1.0,
        1e21,
        float("nan"),
        "",
        "a",
        "abc",
        "3",
        "\ue000",
        "\U0001f600",
        "x" * 600,
        True,
        False,
        None,
        [],
        [1, 2],
        [[1]],
        ["p", "q"],
        {},
        {"k": 1},
        list(range(20)),
    ]
    paths = [
        "a",
        "b",
        "a.b",
        "a.list",
        "a.list.0",
        "a.list.1",
        "a.s.length",
        "a.s.0",
        "missing",
        "a.missing.x",
        "c.0",
        "c.length",
        "c.01",
    ]
    ops = ["var", "cat", "if", "+", "-", "!", "!!", "==", "===", "!=", "!==", "<", "<=", ">", ">="]

    def rule(depth: int) -> Any:
        if depth > 3 or rng.random() < 0.3:
            return rng.choice(values[:-3]) if rng.random() < 0.5 else {"var": rng.choice(paths)}
        op = rng.choice(ops)
        if op == "var":
            return {
                "var": [
                    {"cat": ["a.", rng.choice(["b", "list", "s", "list.1"])]},
                    rng.choice([None, 5, "d"]),
                ]
            }
        n = {
            "cat": rng.randint(0, 4),
            "if": rng.randint(1, 5),
            "+": rng.randint(0, 3),
            "-": rng.randint(1, 2),
            "!": 1,
            "!!": 1,
        }.get(op, 2)
        return {op: [rule(depth + 1) for _ in range(n)]}

    def outcome(fn: Any, data: Any) -> tuple[str, Any]:
        try:
            return "ok", fn(data)
        except jsonlogic.JsonLogicError as exc:
            return "error", type(exc).__name__

    def same(a: Any, b: Any) -> bool:
        if type(a) is not type(b):
            return False
        if isinstance(a, float):
            return (math.isnan(a) and math.isnan(b)) or (
                a == b and math.copysign(1, a) == math.copysign(1, b)
            )
        return bool(a == b)

    for _ in range(600):
        spec = rule(0)
        fast = compile_rule(spec, jsonlogic.Limits())
        for _ in range(4):
            data = {
                "a": {"b": rng.choice(values), "list": rng.choice(values), "s": rng.choice(values)},
                "b": rng.choice(values),
                "c": rng.choice(values),
            }
            want = outcome(jsonlogic.compile(spec).evaluate, data)
            got = outcome(fast, data)
            assert want[0] == got[0] and same(want[1], got[1]), (spec, data, want, got)

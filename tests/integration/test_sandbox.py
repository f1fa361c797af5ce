"""The sandbox against hostile guests, admission, and its two calling conventions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import pytest

from sandbox.protocol import HOOKS, AdmissionError, Limits
from sandbox.runtime.host import Sandbox
from sandbox.runtime.offline import OfflineWorld

from ..guests import GUESTS

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = sorted(n for n, g in GUESTS.items() if g.hook not in (None, "admission"))
REFUSED = sorted(n for n, g in GUESTS.items() if g.hook == "admission")

# Arguments (after self-id) for calling each hook in these tests.
ARGS = {
    "on-load": (), "on-reload": ("0" * 64,), "on-enter": ("/player/ann", None),
    "on-leave": ("/player/ann", "/rooms/hall"), "heartbeat": (), "reset": (),
    "on-command": ("/player/ann", "go", ""), "on-callout": ("tick", cbor2.dumps(None)),
    "on-message": ("/npc/x", "tell", cbor2.dumps("hi")),
}


class RaisingWorld(OfflineWorld):
    """An offline world whose `query` fails, as a buggy host function would."""

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        raise RuntimeError("the world's query broke")


@pytest.fixture(params=["fast", "stock"])
def any_sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return Sandbox(call_path=request.param, cache_dir=tmp_path_factory.getbasetemp() / "wasm-cache-any")


def small_limits() -> Limits:
    # Tight enough that each hostile guest hits its limit in milliseconds.
    return Limits(fuel=20_000_000, deadline_ms=100, memory_bytes=16 * 1024 * 1024)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_guest_gets_the_right_error_and_changes_nothing(name, guest_components, any_sandbox):
    guest = GUESTS[name]
    sandbox = any_sandbox
    version = sandbox.admit(guest_components[name].read_bytes())
    world = RaisingWorld("/obj/guest#000001") if name == "query_target" else OfflineWorld("/obj/guest#000001")
    state = {"keep": cbor2.dumps("me")}
    started = time.perf_counter()
    outcome = sandbox.invoke(version, "/obj/guest#000001", guest.hook, ARGS[guest.hook], state, small_limits(), world)
    took = time.perf_counter() - started
    assert outcome.error is not None, f"{name} should fail"
    assert str(outcome.error.kind) == guest.expect, outcome.error
    assert outcome.effects == [] and outcome.state_changes == {}
    assert state == {"keep": cbor2.dumps("me")}
    assert took < 2.0, f"{name} took {took:.2f}s to stop"
    # The same version still works, on a fresh instance, for a normal hook.
    if guest.hook != "on-command":
        ok = sandbox.invoke(version, "/obj/guest#000001", "on-command", ("/player/ann", "ping", ""), state, small_limits(), OfflineWorld("/x"))
        assert ok.ok and ok.result is True
        assert [e.to_json() for e in ok.effects] == [{"op": "tell", "target": "/player/ann", "text": "pong"}]
    else:
        ok = sandbox.invoke(version, "/obj/guest#000001", "heartbeat", (), state, small_limits(), OfflineWorld("/x"))
        assert ok.ok and cbor2.loads(ok.state_changes["beats"]) == 1


def test_the_epoch_ticker_rests_between_deadlines_and_wakes_for_the_next(guest_components, tmp_path):
    """The ticker stops once every deadline set has passed (an idle worker
    wakes nobody), and a call made while it rests still meets its deadline."""
    sandbox = Sandbox(cache_dir=tmp_path)
    shared = sandbox.shared
    version = sandbox.admit(guest_components["spin_heartbeat"].read_bytes())
    deadline = time.monotonic() + 10  # admission's instantiation allowance is 5 s of ticks
    while not shared._resting and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shared._resting
    resting_at = shared._ticks
    time.sleep(0.1)
    assert shared._ticks == resting_at  # not a tick while resting
    limits = Limits(fuel=10**12, deadline_ms=100)
    started = time.perf_counter()
    outcome = sandbox.invoke(version, "/obj/guest#000001", "heartbeat", (), {}, limits, OfflineWorld("/x"))
    took = time.perf_counter() - started
    assert outcome.error is not None and str(outcome.error.kind) == "deadline"
    assert 0.09 < took < 1.0
    assert shared._ticks > resting_at
    shared.close()


@pytest.mark.parametrize("name", REFUSED)
def test_refused_at_admission_with_a_clear_reason(name, guest_components, sandbox):
    with pytest.raises(AdmissionError) as info:
        sandbox.admit(guest_components[name].read_bytes())
    message = str(info.value)
    expected = {
        "evil_import": "jitrealm:realm/evil@0.1.0",
        "wrong_world": "on-load",
        "core_module": "core module",
    }[name]
    assert expected in message


def test_garbage_and_oversized_components_are_refused(sandbox, guest_components):
    with pytest.raises(AdmissionError, match="not a WebAssembly binary"):
        sandbox.admit(b"hello, not wasm")
    with pytest.raises(AdmissionError, match="not a valid component"):
        sandbox.admit(b"\0asm\x0d\x00\x01\x00" + b"\xff" * 64)
    small = Sandbox(max_component_bytes=1000, engine=sandbox.shared)
    with pytest.raises(AdmissionError, match="over the 1000-byte limit"):
        small.admit(guest_components["counter"].read_bytes())


def test_fast_and_stock_paths_agree(guest_components, tmp_path):
    """The example counter, every hook, on both conventions. Import by import,
    with edge cases and errors: tests/integration/test_conventions.py."""
    data = guest_components["counter"].read_bytes()
    results = []
    for path in ("fast", "stock"):
        sandbox = Sandbox(call_path=path, cache_dir=tmp_path)
        version = sandbox.admit(data)
        state = {"count": cbor2.dumps(41)}
        per_hook = {}
        for hook in HOOKS:
            args = ARGS[hook] if hook != "on-command" else ("/player/ann", "push", "")
            outcome = sandbox.invoke(version, "/examples/counter", hook, args, state, Limits(), OfflineWorld("/examples/counter"))
            assert outcome.ok, (path, hook, outcome.error)
            per_hook[hook] = (outcome.result, [e.to_json() for e in outcome.effects], outcome.state_changes)
        results.append(per_hook)
    assert results[0] == results[1]
    assert cbor2.loads(results[0]["on-command"][2]["count"]) == 42


def test_unknown_hook_and_version(sandbox, guest_components):
    version = sandbox.admit(guest_components["counter"].read_bytes())
    assert sandbox.invoke(version, "/x", "explode", (), {}, Limits(), OfflineWorld("/x")).error.kind == "no-such-hook"
    assert sandbox.invoke("f" * 64, "/x", "reset", (), {}, Limits(), OfflineWorld("/x")).error.kind == "instantiate"


def _invoke_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driver.cli", "invoke", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def test_cli_invoke_prints_effects(guest_components):
    done = _invoke_cli(str(guest_components["counter"]), "on-command", "/player/ann", "push", "", "--state", '{"count": 1}')
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["ok"] is True and outcome["error"] is None and outcome["result"] is True
    assert outcome["state"]["count"] == 2
    assert {"op": "tell", "target": "/player/ann", "text": "You push the button. Click!"} in outcome["effects"]
    assert outcome["fuel_used"] > 0 and outcome["wall_ms"] >= 0


def test_cli_invoke_on_a_looping_guest_exits_3_within_a_second(guest_components):
    started = time.perf_counter()
    done = _invoke_cli(str(guest_components["spin_heartbeat"]), "heartbeat")
    assert done.returncode == 3, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["ok"] is False and outcome["error"]["kind"] in ("fuel", "deadline")
    assert outcome["effects"] == [] and outcome["state"] == {}
    # The guest itself is stopped by fuel in well under a second; the rest
    # is interpreter start-up.
    assert outcome["wall_ms"] < 1000
    assert time.perf_counter() - started < 20


def test_cli_invoke_bad_input_exits_2(guest_components, tmp_path):
    missing = _invoke_cli(str(tmp_path / "nope.wasm"), "reset")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"not a component")
    assert _invoke_cli(str(junk), "reset").returncode == 2
    refused = _invoke_cli(str(guest_components["evil_import"]), "reset")
    assert refused.returncode == 2 and "jitrealm:realm/evil@0.1.0" in refused.stderr
    bad_state = _invoke_cli(str(guest_components["counter"]), "reset", "--state", "[1, 2]")
    assert bad_state.returncode == 2
    too_many = _invoke_cli(str(guest_components["counter"]), "reset", "extra")
    assert too_many.returncode == 2

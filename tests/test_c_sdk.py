"""The C author SDK (world-src/include/realm.h) against a minimal host.

``tests/guests/sdk_probe.c`` runs groups of checks inside wasm and reports
each result as a tell (``name=value``) to the actor. The host here is the
smallest thing that can run a blueprint: wasmtime-py's component API with a
Python function for each of the 17 imports, recording what the guest did.
It is deliberately independent of ``sandbox.host``: this tests the header's
canonical-ABI bindings, not the sandbox.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cbor2
import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from sandbox.api import HOOKS

from .guests import build_guest

HOST = "jitrealm:realm/host@0.1.0"
OBJECT = "jitrealm:realm/object@0.1.0"


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    return wasmtime.Engine(wasmtime.Config())


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_guest("sdk_probe", tmp_path_factory.getbasetemp() / "guests")


@pytest.fixture(scope="module")
def probe(engine: wasmtime.Engine, probe_path: Path) -> wc.Component:
    return wc.Component.from_file(engine, str(probe_path))


class ProbeHost:
    """The 17 host imports, answering from fixed test data and recording."""

    def __init__(self, engine: wasmtime.Engine, component: wc.Component) -> None:
        self.state: dict[str, bytes] = {}
        self.events: list[tuple[Any, ...]] = []
        self.tells: list[tuple[str, str]] = []
        self._handles = itertools.count(41)
        linker = wc.Linker(engine)
        with linker.root() as root, root.add_instance(HOST) as host:
            for name, fn in self._imports().items():
                host.add_func(name, fn)
        self.store = wasmtime.Store(engine)
        self.instance = linker.instantiate(self.store, component)
        self._object = self.instance.get_export_index(self.store, OBJECT)

    def _imports(self) -> dict[str, Any]:
        ev = self.events.append

        def clone(_s: Any, blueprint: str) -> wc.Variant:
            if "sword" in blueprint:
                return wc.Variant("ok", blueprint + "#000001")
            return wc.Variant("err", f"cannot clone {blueprint}")

        return {
            "tell": lambda _s, target, text: self.tells.append((target, text)),
            "say": lambda _s, text: ev(("say", text)),
            "emote": lambda _s, text: ev(("emote", text)),
            "gmcp": lambda _s, target, package, payload: ev(("gmcp", target, package, payload)),
            "state-get": lambda _s, key: self.state.get(key),
            "state-set": lambda _s, key, value: self.state.__setitem__(key, value),
            "state-delete": lambda _s, key: ev(("deleted", key, self.state.pop(key, None))) and None,
            "callout": lambda _s, method, delay, args: (ev(("callout", method, delay, args)), next(self._handles))[1],
            "cancel-callout": lambda _s, handle: handle == 41,
            "set-heartbeat": lambda _s, ms: ev(("heartbeat", ms)),
            "clone": clone,
            "destruct": lambda _s, t: None if "sword" in t else f"{t} is not yours",
            "move": lambda _s, t, d: None if d == "/rooms/meadow" else f"no way into {d}",
            "environment": lambda _s, t: "/rooms/meadow" if t.startswith("/player/") else None,
            "contents": lambda _s, t: ["/player/ann", "/obj/box#000002"] if t == "/rooms/meadow" else [],
            "query": lambda _s, t, k: cbor2.dumps("a sunny meadow") if k == "short" else None,
            "now-ms": lambda _s: 1_800_000_000_123,
            "log": lambda _s, level, text: ev(("log", level, text)),
        }  # fmt: skip

    def call(self, hook: str, *args: Any) -> Any:
        index = self.instance.get_export_index(self.store, hook, self._object)
        func = self.instance.get_func(self.store, index)
        result = func(self.store, "/obj/probe", *args)
        func.post_return(self.store)
        return result

    def command(self, verb: str, args: str = "") -> dict[str, list[str]]:
        """Run a probe verb; its reports as name -> values (in order)."""
        self.tells.clear()
        assert self.call("on-command", "/player/ann", verb, args) is True
        reports: dict[str, list[str]] = {}
        for target, text in self.tells:
            assert target == "/player/ann"
            name, _, value = text.partition("=")
            reports.setdefault(name, []).append(value)
        return reports


@pytest.fixture
def host(engine: wasmtime.Engine, probe: wc.Component) -> ProbeHost:
    return ProbeHost(engine, probe)


def one(reports: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in reports.items() if len(v) == 1}


# --------------------------------------------------------------------------
# Shape of the component
# --------------------------------------------------------------------------


def test_exports_every_hook_and_imports_only_the_host(
    engine: wasmtime.Engine, probe: wc.Component
) -> None:
    ctype = probe.type
    assert set(ctype.imports(engine)) == {HOST}
    hooks = ctype.exports(engine)[OBJECT].ty.exports(engine)
    assert set(hooks) == set(HOOKS)


def test_counter_example_is_small(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = build_guest("counter", tmp_path_factory.getbasetemp() / "guests")
    assert path.stat().st_size < 32 * 1024


# --------------------------------------------------------------------------
# CBOR
# --------------------------------------------------------------------------

INTS = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1,
        -1, -24, -25, -256, -257, -65537, -(2**63)]  # fmt: skip


def test_cbor_writer_matches_cbor2_byte_for_byte(host: ProbeHost) -> None:
    reports = one(host.command("cbor-write"))
    s = host.state
    assert s["ints"] == cbor2.dumps(INTS)  # shortest encodings, like cbor2
    assert s["uint"] == cbor2.dumps(2**64 - 1)
    assert s["exits"] == cbor2.dumps({"north": "/rooms/forest", "south": "/rooms/meadow"})
    assert s["ids"] == cbor2.dumps(["probe", "brass probe"])
    assert s["misc"] == cbor2.dumps([True, False, None, b"\x00\xff", "héllo", {}, []])
    assert cbor2.loads(s["long"]) == ["0123456789"] * 300
    assert cbor2.loads(s["count"]) == 42
    assert cbor2.loads(s["negative"]) == -1_000_000
    assert s["flag"] == cbor2.dumps(True)
    assert s["title"] == cbor2.dumps("Sir")
    assert s["fixed"] == cbor2.dumps("short")
    assert reports["overflow"] == "true"
    assert reports["overflow_len"] == "0"


def render(value: Any) -> str:
    """What sdk_probe's C renderer prints for a decoded CBOR value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return str(value)
        return "big" if value > 0 else "huge-negative"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bytes):
        return f"h'{value.hex()}'"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{render(k)}:{render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, cbor2.CBORTag):
        return "tag"
    raise TypeError(value)


def read_back(host: ProbeHost, data: bytes) -> dict[str, str]:
    host.state["input"] = data
    return one(host.command("cbor-read"))


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, -2, True, None, b"\x01\x02"]},
        2**64 - 1,
        -(2**64),
        -(2**63),
        1.5,
        cbor2.CBORTag(1, 1_700_000_000),
        [[[[]]], {}],
        {"north": {"to": "/rooms/forest", "door": False}},
        "",
        b"",
    ],
)
def test_cbor_reader_decodes_what_cbor2_writes(host: ProbeHost, value: Any) -> None:
    assert read_back(host, cbor2.dumps(value))["input"] == render(value)


@pytest.mark.parametrize(
    "data",
    [
        b"\x82\x01",  # array of 2 with 1 item
        b"\x63ab",  # text of 3 with 2 bytes
        b"\x9f\x01\xff",  # indefinite-length array
        b"\x1c",  # reserved additional info
        b"\x1b\x00\x00",  # truncated 8-byte integer
        b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff",  # map claiming 2**64-1 entries
    ],
)
def test_cbor_reader_rejects_malformed_data(host: ProbeHost, data: bytes) -> None:
    host.state["bad"] = data
    assert read_back(host, b"\x01")["bad"] == "!malformed"


def test_cbor_reader_helpers(host: ProbeHost) -> None:
    host.command("cbor-write")  # exits, count, title, flag
    r = read_back(host, b"\xf6")
    assert r["missing"] == "unset"
    assert r["south"] == "/rooms/meadow"
    assert r["up_found"] == "false" and r["still_map"] == "true"
    assert r["int_on_map"] == "false" and r["mismatch_error"] == "false"
    assert r["skip_map"] == "true" and r["at_end"] == "true"
    assert r["count"] == "42"
    assert r["get_int_on_text"] == "false" and r["preset"] == "99"
    assert r["title"] == "Sir" and r["flag"] == "true"


cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=cbor_values)
def test_cbor_reader_round_trips_anything(host: ProbeHost, value: Any) -> None:
    assert read_back(host, cbor2.dumps(value))["input"] == render(value)


# --------------------------------------------------------------------------
# Strings
# --------------------------------------------------------------------------


def test_string_helpers(host: ProbeHost) -> None:
    reports = host.command("strings", "  get   red ball ")
    r = one(reports)
    assert r["eq"] == "true" and r["ne"] == "false" and r["eqz"] == "true"
    assert (r["cmp_lt"], r["cmp_prefix"], r["cmp_eq"], r["cmp_high"]) == ("-1", "-1", "0", "1")
    assert r["starts"] == "true"
    assert (r["find"], r["find_missing"]) == ("6", "-1")
    assert r["trim"] == "padded"
    assert (r["word1"], r["word2"], r["rest"]) == ("get", "red", "ball")
    assert reports["to_int"] == [
        "ok:0", "ok:42", "ok:-17", "ok:8", "ok:9223372036854775807", "ok:-9223372036854775808",
        "no:0", "no:0", "no:0", "no:0", "no:0", "no:0",
    ]  # fmt: skip
    assert (r["int_min"], r["int_zero"], r["int_neg"]) == ("-9223372036854775808", "0", "-5")
    assert (r["copy"], r["copied"]) == ("trunc", "5")
    assert (r["concat"], r["dup"]) == ("foobar", "twin")
    assert (r["fixed_buf"], r["fixed_truncated"]) == ("12345678", "true")
    assert r["big_len"] == "1000"


# --------------------------------------------------------------------------
# The host API: every import, both outcomes where there are two
# --------------------------------------------------------------------------


def test_every_host_import(host: ProbeHost) -> None:
    reports = host.command("host")
    r = one(reports)
    assert ("say", "said") in host.events and ("emote", "waves.") in host.events
    assert r["clone_ok"] == "/obj/sword#000001"
    assert r["clone_err"] == "cannot clone /obj/forbidden"
    assert r["destruct_ok"] == "true"
    assert r["destruct_err"] == "/rooms/void is not yours"
    assert r["move_ok"] == "true"
    assert r["move_err"] == "no way into /rooms/void"
    assert (r["env_some"], r["env"]) == ("true", "/rooms/meadow")
    assert (r["env_none"], r["env_none_len"]) == ("false", "0")
    assert r["contents_n"] == "2"
    assert reports["content"] == ["/player/ann", "/obj/box#000002"]
    assert r["contents_empty"] == "0"
    assert r["query"] == "a sunny meadow" and r["query_none"] == "false"
    assert ("callout", "tick", 1000, b"\x82\x01\x02") in host.events
    assert ("callout", "tock", 0, b"") in host.events
    assert (r["handle1"], r["handle2"]) == ("41", "42")  # u64 results
    assert (r["cancel_yes"], r["cancel_no"]) == ("true", "false")
    assert ("heartbeat", 2500) in host.events
    assert (r["now_big"], r["now"]) == ("true", "1800000000123")
    logs = [e[1:] for e in host.events if e[0] == "log"]
    assert logs == [("debug", "d"), ("info", "i"), ("warn", "w"), ("error", "e")]
    assert r["state_set_then_get"] == "true"
    assert (r["state_deleted"], r["deleted_len"]) == ("false", "0")


# --------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------


def test_hooks_receive_their_arguments(host: ProbeHost) -> None:
    host.call("on-load")
    assert host.state["loaded_as"] == cbor2.dumps("/obj/probe")
    host.call("on-enter", "/player/ann", None)
    host.call("on-enter", "/player/ann", "/rooms/meadow")
    host.call("on-leave", "/player/bob", "/rooms/hall")
    host.call("on-leave", "/player/bob", None)
    host.call("on-reload", "abc123")
    host.call("on-callout", "tick", b"\x01\xff")
    host.call("on-message", "/npc/tom", "tell", cbor2.dumps("hello there"))
    assert host.tells == [
        ("/log", "enter=/obj/probe /player/ann (none)"),
        ("/log", "enter=/obj/probe /player/ann /rooms/meadow"),
        ("/log", "leave=/obj/probe /player/bob /rooms/hall"),
        ("/log", "leave=/obj/probe /player/bob (none)"),
        ("/log", "reload=/obj/probe from abc123"),
        ("/log", "callout=tick:01ff"),
        ("/log", "message=/npc/tom tell hello there"),
    ]


def test_hooks_the_author_did_not_write_do_nothing(host: ProbeHost) -> None:
    assert host.call("heartbeat") is None
    assert host.call("reset") is None
    assert host.tells == [] and host.events == [] and host.state == {}


def test_unknown_command_is_not_handled(host: ProbeHost) -> None:
    assert host.call("on-command", "/player/ann", "dance", "") is False


# --------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------


def test_arena_is_emptied_after_every_call(host: ProbeHost) -> None:
    pages = {one(host.command("alloc"))["pages"] for _ in range(5)}
    assert len(pages) == 1  # 3 MiB per call, and memory does not grow
    r = one(host.command("alloc"))
    assert (r["released"], r["zeroed"], r["aligned"]) == ("true", "0", "0")
    assert int(r["pages"]) < 3 * 16 + 16


def test_running_out_of_memory_traps_in_realm_out_of_memory(host: ProbeHost) -> None:
    host.store.set_limits(memory_size=8 * 1024 * 1024)
    with pytest.raises(wasmtime.WasmtimeError) as caught:
        host.call("on-command", "/player/ann", "oom", "")
    assert "realm_out_of_memory" in str(caught.value)


def test_core_module_is_named_after_the_source(probe_path: Path) -> None:
    """Trap backtraces say "sdk_probe.wasm!realm_on_command"."""
    assert b"sdk_probe.wasm" in probe_path.read_bytes()

"""The C author SDK (world-src/include/realm.h) against a minimal host.

``tests/guests/sdk_probe.c`` runs groups of checks inside wasm and reports
each result as a tell (``name=value``) to the actor. The host here is the
smallest thing that can run a blueprint: wasmtime-py's component API with a
Python function for each of the 17 imports, recording what the guest did.
It is deliberately independent of ``sandbox.runtime.host``: this tests the header's
canonical-ABI bindings, not the sandbox.

The everyday helpers (``realm_noun_of``, ``realm_announce``, ``realm_stock``
and the rest) have a probe of their own, ``HELPERS_PROBE`` below, run by
``WorldHost``: the same host with a meadow whose contents, public state,
clones and moves the helpers can see.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any

import cbor2
import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime import component as wc

from sandbox.build import toolchain
from sandbox.protocol import HOOKS

from ..guests import INCLUDE, WIT, build_guest

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


# --------------------------------------------------------------------------
# Everyday helpers (realm.h sections 7 and 8), against a small world
# --------------------------------------------------------------------------

#: A second probe, for the helpers built on the host API. Each verb runs one
#: helper on the tab-separated fields of its arguments and reports results
#: as tells to "/report" (so that tells the helper itself makes stand apart).
HELPERS_PROBE = r"""
#include "realm.h"

static void report(const char *name, realm_str value) {
    realm_buf b;
    realm_buf_init(&b, NULL, 0);
    realm_buf_z(&b, name);
    realm_buf_char(&b, '=');
    realm_buf_add(&b, value);
    realm_tell(RS("/report"), realm_buf_str(&b));
}

static void report_bool(const char *name, bool value) { report(name, value ? RS("true") : RS("false")); }

/* The i-th tab-separated field of `args` (empty past the end). */
static realm_str field(realm_str args, size_t i) {
    size_t start = 0, n = 0;
    for (size_t k = 0; k <= args.len; k++) {
        if (k < args.len && args.ptr[k] != '\t') continue;
        if (n++ == i) return realm_str_of(args.ptr + start, k - start);
        start = k + 1;
    }
    return RS("");
}

/* A NUL-terminated copy in the arena. */
static const char *cstr(realm_str s) {
    char *p = (char *)realm_alloc(s.len + 1);
    realm_str_copy(p, s.len + 1, s);
    return p;
}

static void query(realm_str target, realm_str key) {
    realm_str text = RS("preset");
    bool flag = true;
    report_bool("text_ok", realm_query_text(target, key, &text));
    report("text", text);
    report_bool("bool_ok", realm_query_bool(target, key, &flag));
    report_bool("bool", flag);
}

static void text_maps(void) {
    static const char *const EXITS[] = {"north", "/rooms/forest", "south", "/rooms/meadow"};
    static const char *const DETAILS[] = {
        "well|old well|rim", "The well.",
        "bucket||rope|well", "A bucket.",
        "", "Nothing.",
        "geese|goose|", "Geese.",
    };
    realm_state_set_text_map(RS("exits"), EXITS, REALM_LEN(EXITS) / 2);
    realm_state_set_text_map(RS("details"), DETAILS, REALM_LEN(DETAILS) / 2);
    realm_state_set_text_map(RS("empty"), NULL, 0);
    /* Built at run time and big enough that the arena has to grow. */
    const size_t n = 400;
    const char **pairs = (const char **)realm_alloc(2 * n * sizeof *pairs);
    for (size_t i = 0; i < n; i++) {
        realm_buf b;
        realm_buf_init(&b, NULL, 0);
        realm_buf_z(&b, "k");
        realm_buf_int(&b, (int64_t)i);
        realm_buf_z(&b, "|alias");
        realm_buf_int(&b, (int64_t)i);
        pairs[2 * i] = cstr(realm_buf_str(&b));
        pairs[2 * i + 1] = cstr(realm_str_concat(RS("v"), realm_int_str((int64_t)i)));
    }
    realm_state_set_text_map(RS("big"), pairs, n);
    report("len", realm_int_str((int64_t)REALM_LEN(EXITS)));
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self;
    (void)actor;
    realm_str a = field(args, 0), b = field(args, 1), c = field(args, 2);
    if (realm_str_eqz(verb, "one-of")) report_bool("one_of", realm_one_of(cstr(a), b));
    else if (realm_str_eqz(verb, "noun")) report("noun", realm_noun_of(args));
    else if (realm_str_eqz(verb, "lower")) report("lower", realm_str_lower(args));
    else if (realm_str_eqz(verb, "is-player")) report_bool("is_player", realm_is_player(args));
    else if (realm_str_eqz(verb, "name-of")) report("name", realm_name_of(args));
    else if (realm_str_eqz(verb, "query")) query(a, b);
    else if (realm_str_eqz(verb, "tell-others")) realm_tell_others(a, b, c);
    else if (realm_str_eqz(verb, "announce")) realm_announce(a, b, c);
    else if (realm_str_eqz(verb, "present")) {
        report("present", realm_present(a, b, c));
        report_bool("holds", realm_holds(a, b, c));
    } else if (realm_str_eqz(verb, "stock")) report_bool("stock", realm_stock(a, b, c));
    else if (realm_str_eqz(verb, "text-map")) text_maps();
    else if (realm_str_eqz(verb, "pages")) report("pages", realm_int_str((int64_t)__builtin_wasm_memory_size(0)));
    else return false;
    return true;
}
"""

MEADOW = "/rooms/meadow"


class WorldHost(ProbeHost):
    """ProbeHost with a meadow to look at: where things are, their public
    state, and clones and moves that really happen."""

    def __init__(self, engine: wasmtime.Engine, component: wc.Component) -> None:
        # In arrival order: the pebble that calls itself "coin" is met first.
        self.env = {
            "/player/ann": MEADOW,
            "/npc/tom#000003": MEADOW,
            "/obj/pebble#000005": MEADOW,
            "/obj/coin#000004": MEADOW,
            "/player/bob": MEADOW,
            "/player/cy": MEADOW,
        }
        self.public: dict[str, dict[str, Any]] = {
            "/player/ann": {"name": "Annabel"},
            "/player/bob": {"name": "Bob", "lit": True},
            "/player/dee": {"name": ""},
            "/npc/tom#000003": {"name": "Tom"},
            "/obj/pebble#000005": {"name": "coin"},
            "/obj/coin#000004": {"name": "silver", "lit": False},
        }
        super().__init__(engine, component)

    def _imports(self) -> dict[str, Any]:
        imports = super()._imports()
        ev = self.events.append

        def clone(_s: Any, blueprint: str) -> wc.Variant:
            if "forbidden" in blueprint:
                return wc.Variant("err", f"cannot clone {blueprint}")
            ev(("clone", blueprint))
            return wc.Variant("ok", blueprint + "#000100")

        def move(_s: Any, target: str, dest: str) -> str | None:
            if dest == "/rooms/void":
                return f"no way into {dest}"
            ev(("move", target, dest))
            self.env[target] = dest
            return None

        def query(_s: Any, target: str, key: str) -> bytes | None:
            value = self.public.get(target, {}).get(key)
            return None if value is None else cbor2.dumps(value)

        imports.update(
            clone=clone,
            move=move,
            query=query,
            environment=lambda _s, t: self.env.get(t),
            contents=lambda _s, t: [o for o, where in self.env.items() if where == t],
        )
        return imports

    def run(self, verb: str, *fields: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Run a helper verb: (its reports, the tells it made to others)."""
        self.tells.clear()
        assert self.call("on-command", "/player/ann", verb, "\t".join(fields)) is True
        reports = {}
        others = []
        for target, text in self.tells:
            if target == "/report":
                name, _, value = text.partition("=")
                reports[name] = value
            else:
                others.append((target, text))
        return reports, others


@pytest.fixture(scope="module")
def helpers_probe(
    engine: wasmtime.Engine, tmp_path_factory: pytest.TempPathFactory
) -> wc.Component:
    out_dir = tmp_path_factory.getbasetemp() / "guests"
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [*sorted(INCLUDE.glob("*.h")), *sorted(WIT.glob("*.wit"))]
    digest = hashlib.sha256(HELPERS_PROBE.encode() + toolchain.c_fingerprint().encode())
    for f in inputs:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    out = out_dir / f"sdk_helpers_probe-{digest.hexdigest()[:16]}.wasm"
    if not out.is_file():
        source = out_dir / "sdk_helpers_probe.c"
        source.write_text(HELPERS_PROBE)
        warnings = toolchain.compile_c(source, out, wit_dir=WIT, include_dirs=[INCLUDE])
        assert "warning" not in warnings
    return wc.Component.from_file(engine, str(out))


@pytest.fixture
def world(engine: wasmtime.Engine, helpers_probe: wc.Component) -> WorldHost:
    return WorldHost(engine, helpers_probe)


@pytest.mark.parametrize(
    ("alts", "word", "expected"),
    [
        ("lamp|brass lamp|lantern", "lamp", True),
        ("lamp|brass lamp|lantern", "brass lamp", True),
        ("lamp|brass lamp|lantern", "lantern", True),
        ("lamp|brass lamp|lantern", "brass", False),  # whole alternatives only
        ("lamp|brass lamp|lantern", "lam", False),
        ("lamp|brass lamp|lantern", "Lamp", False),  # byte-wise: lower-case the word first
        ("lamp", "lamp", True),
        ("lamp|", "", False),
        ("", "", False),
    ],
)
def test_one_of_matches_whole_alternatives(
    world: WorldHost, alts: str, word: str, expected: bool
) -> None:
    assert world.run("one-of", alts, word)[0]["one_of"] == str(expected).lower()


@pytest.mark.parametrize(
    ("args", "noun"),
    [
        ("lamp", "lamp"),
        ("  at the Old Well  ", "old well"),
        ("into the well", "well"),
        ("from my bag", "bag"),
        ("at at the a well", "well"),  # however many
        ("on the table", "table"),
        ("to Marta", "marta"),
        ("an apple", "apple"),
        ("the", "the"),  # a lone word is kept: it is the noun
        ("at", "at"),
        ("atlas", "atlas"),  # whole words only
        ("theatre", "theatre"),
        ("coin into well", "coin into well"),  # only leading words go
        ("", ""),
        ("CAFÉ Noir", "cafÉ noir"),  # ASCII letters only
    ],
)
def test_noun_of_strips_leading_words_and_lowers(world: WorldHost, args: str, noun: str) -> None:
    assert world.run("noun", args)[0]["noun"] == noun


def test_str_lower(world: WorldHost) -> None:
    assert world.run("lower", "Hello, WORLD [AZ@az] Ünï")[0]["lower"] == "hello, world [az@az] Ünï"
    assert world.run("lower", "")[0]["lower"] == ""


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("/player/ann", True),
        ("/player/", True),
        ("/npc/tom#000003", False),
        ("/players/ann", False),
        ("", False),
    ],
)
def test_is_player(world: WorldHost, who: str, expected: bool) -> None:
    assert world.run("is-player", who)[0]["is_player"] == str(expected).lower()


@pytest.mark.parametrize(
    ("who", "name"),
    [
        ("/player/ann", "Annabel"),  # its `name` wins
        ("/player/cy", "Cy"),  # no name: the id, capitalised
        ("/player/dee", "Dee"),  # an empty name counts as none
        ("/player/9lives", "9lives"),
        ("/player/", "Someone"),
        ("/npc/tom#000003", "Tom"),
        ("/obj/thing#000009", "Someone"),
    ],
)
def test_name_of(world: WorldHost, who: str, name: str) -> None:
    assert world.run("name-of", who)[0]["name"] == name


@pytest.mark.parametrize(
    ("target", "key", "text", "flag"),
    [
        ("/player/ann", "name", ("true", "Annabel"), ("false", "true")),
        ("/player/bob", "lit", ("false", "preset"), ("true", "true")),
        ("/obj/coin#000004", "lit", ("false", "preset"), ("true", "false")),
        # Not set: *out is left alone.
        ("/obj/coin#000004", "secret", ("false", "preset"), ("false", "true")),
        ("/obj/nothing#000001", "name", ("false", "preset"), ("false", "true")),
    ],
)
def test_query_text_and_bool(
    world: WorldHost, target: str, key: str, text: tuple[str, str], flag: tuple[str, str]
) -> None:
    r, _ = world.run("query", target, key)
    assert (r["text_ok"], r["text"]) == text
    assert (r["bool_ok"], r["bool"]) == flag


def test_tell_others_tells_only_the_other_players(world: WorldHost) -> None:
    _, told = world.run("tell-others", MEADOW, "/player/ann", "A cloud passes.")
    assert told == [("/player/bob", "A cloud passes."), ("/player/cy", "A cloud passes.")]
    _, told = world.run("tell-others", "/rooms/empty", "/player/ann", "Anyone?")
    assert told == []


def test_announce_tells_the_actor_and_the_room(world: WorldHost) -> None:
    _, told = world.run("announce", "/player/ann", "You wave.", "waves.")
    assert told == [
        ("/player/ann", "You wave."),
        ("/player/bob", "Annabel waves."),
        ("/player/cy", "Annabel waves."),
    ]
    # Nowhere at all: only the actor hears of it.
    _, told = world.run("announce", "/player/lost", "You wave.", "waves.")
    assert told == [("/player/lost", "You wave.")]


@pytest.mark.parametrize(
    ("where", "blueprint", "name", "found"),
    [
        (MEADOW, "/obj/coin", "", "/obj/coin#000004"),  # a clone of the blueprint
        (MEADOW, "", "coin", "/obj/pebble#000005"),  # anything called "coin"
        (MEADOW, "/obj/coin", "coin", "/obj/pebble#000005"),  # whichever comes first
        (MEADOW, "/npc/tom", "Marta", "/npc/tom#000003"),
        (MEADOW, "/obj/co", "", ""),  # a clone of /obj/coin is not one of /obj/co
        (MEADOW, "/obj/lamp", "lamp", ""),
        (MEADOW, "", "", ""),
        ("/rooms/empty", "/obj/coin", "coin", ""),
    ],
)
def test_present_and_holds(
    world: WorldHost, where: str, blueprint: str, name: str, found: str
) -> None:
    r, _ = world.run("present", where, blueprint, name)
    assert r["present"] == found
    assert r["holds"] == str(bool(found)).lower()


def test_stock_clones_only_what_is_missing(world: WorldHost) -> None:
    assert world.run("stock", MEADOW, "/obj/coin", "coin")[0]["stock"] == "true"
    assert world.events == []  # one is there already
    assert world.run("stock", MEADOW, "/obj/sword", "sword")[0]["stock"] == "true"
    assert world.events == [("clone", "/obj/sword"), ("move", "/obj/sword#000100", MEADOW)]
    world.events.clear()
    assert world.run("stock", MEADOW, "/obj/sword", "sword")[0]["stock"] == "true"
    assert world.events == []  # the new one counts


def test_stock_logs_a_refusal(world: WorldHost) -> None:
    assert world.run("stock", "/rooms/void", "/obj/sword", "sword")[0]["stock"] == "false"
    assert world.events[-1] == ("log", "warn", "cannot stock: no way into /rooms/void")
    assert world.run("stock", MEADOW, "/obj/forbidden", "thing")[0]["stock"] == "false"
    assert world.events[-1] == ("log", "warn", "cannot stock: cannot clone /obj/forbidden")


def test_state_set_text_map(world: WorldHost) -> None:
    r, _ = world.run("text-map")
    assert r["len"] == "4"  # REALM_LEN of a four-string array
    s = world.state
    assert s["exits"] == cbor2.dumps({"north": "/rooms/forest", "south": "/rooms/meadow"})
    # Alternatives become keys of their own; empty ones are skipped and a
    # repeated key ("well") keeps its first value.
    assert s["details"] == cbor2.dumps(
        {"well": "The well.", "old well": "The well.", "rim": "The well.",
         "bucket": "A bucket.", "rope": "A bucket.", "geese": "Geese.", "goose": "Geese."}
    )  # fmt: skip
    assert s["empty"] == cbor2.dumps({})
    big = {}
    for i in range(400):
        big[f"k{i}"] = big[f"alias{i}"] = f"v{i}"
    assert s["big"] == cbor2.dumps(big)


def test_helpers_use_only_the_per_call_arena(world: WorldHost) -> None:
    """Whatever the helpers allocate is gone when the hook returns, so
    memory does not grow however often they run."""
    pages = set()
    for _ in range(30):
        world.run("text-map")
        world.run("noun", "at the " + "Old Well " * 500)
        pages.add(world.run("pages")[0]["pages"])
    assert len(pages) == 1


def test_describe_runs_first_in_on_load_and_on_reload(tmp_path):
    """realm_describe (optional) runs before realm_on_load, and alone in
    on-reload when the file has no realm_on_reload."""

    from sandbox.build import toolchain
    from sandbox.protocol import Limits
    from sandbox.runtime.host import Sandbox
    from sandbox.runtime.offline import OfflineWorld

    source = tmp_path / "described.c"
    source.write_text(
        '#include "realm.h"\n'
        "void realm_describe(realm_str self) { (void)self;\n"
        '    realm_state_set_text(RS("short"), RS("a described thing"));\n'
        '    realm_state_set_text(RS("order"), RS("describe")); }\n'
        "void realm_on_load(realm_str self) { (void)self;\n"
        "    realm_str seen;\n"
        '    realm_state_get_text(RS("order"), &seen);\n'
        '    realm_state_set_text(RS("order"), realm_str_concat(seen, RS(" then load"))); }\n'
    )
    out = tmp_path / "described.wasm"
    toolchain.compile_c(source, out, wit_dir=WIT, include_dirs=[INCLUDE])
    sandbox = Sandbox()
    version = sandbox.admit(out.read_bytes())
    loaded = sandbox.invoke(version, "/x", "on-load", (), {}, Limits(), OfflineWorld("/x"))
    assert loaded.ok, loaded.error
    assert cbor2.loads(loaded.state_changes["order"]) == "describe then load"
    reloaded = sandbox.invoke(version, "/x", "on-reload", ("0" * 64,), {}, Limits(), OfflineWorld("/x"))
    assert reloaded.ok and cbor2.loads(reloaded.state_changes["short"]) == "a described thing"
    assert cbor2.loads(reloaded.state_changes["order"]) == "describe"

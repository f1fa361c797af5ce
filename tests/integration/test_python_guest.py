"""Python blueprints end to end: build with componentize-py, run with wasmtime.

componentize-py builds take seconds each, so the blueprints this module needs
are built once, in parallel, by the ``built`` fixture, and kept in pytest's
cache across sessions. Each test then instantiates a fresh copy (about a
millisecond) against :class:`RecordingHost`, a minimal implementation of the
18 ``host`` imports that records every call and keeps the object's state in
a dict.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cbor2
import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st
from wasmtime import component as wc

from sandbox.build.compile_python import compile_python
from sandbox.protocol import CompileError

ROOT = Path(__file__).resolve().parents[2]
WIT = ROOT / "wit"
LIB = ROOT / "world-src" / "lib"
GREETER = ROOT / "world-src" / "examples" / "greeter.py"
COMPILER = ROOT / "sandbox" / "build" / "compile_python.py"
HOST = "jitrealm:realm/host@0.1.0"
OBJECT = "jitrealm:realm/object@0.1.0"


def _load_guest_codec():
    """The guest's CBOR codec is plain Python: load it here without putting
    the guest SDK (which needs componentize-py's bindings) on sys.path."""
    spec = importlib.util.spec_from_file_location("realm_cbor", LIB / "realm_cbor.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


realm_cbor = _load_guest_codec()

PROBE_SOURCE = """\
import realm


class Probe(realm.Blueprint):
    def on_load(self):
        print("loading", self.id)
        self.state["items"] = ["a"]

    def on_command(self, actor, verb, args):
        if verb == "fail":
            realm.say("this is never heard")
            raise RuntimeError("kaboom")
        if verb == "add":
            self.state["items"].append(args)
            return True
        if verb == "move":
            try:
                realm.move(actor, args)
            except realm.Refused as refusal:
                realm.tell(actor, f"refused: {refusal}")
            return True
        if verb == "clone":
            realm.tell(actor, realm.clone(args))
            return True
        if verb == "look":
            here = realm.environment(self.id)
            realm.tell(actor, f"{here} {realm.contents(here)} {realm.query(here, 'short')!r}")
            return True
        if verb == "later":
            realm.tell(actor, str(realm.callout("ding", 250, {"n": 2})))
            return True
        if verb == "import":
            import csv  # too late: a running guest has no files to import from
        if verb == "forget":
            del self.state["items"]
            return "items" not in self.state
        return None

    def ding(self, args):
        self.state["dinged"] = args

    def on_enter(self, who, origin):
        self.state["entered"] = [who, origin]
"""

NAME_ERROR_SOURCE = "import realm\n\nGREETING = 'hi'\nFAREWELL = undefined_name\n"


# -- building ---------------------------------------------------------------


def _build_key(name: str, source_text: str) -> str:
    """Everything a build's result depends on, hashed."""
    h = hashlib.sha256()
    inputs = [*sorted(LIB.glob("*.py")), *sorted(WIT.glob("*.wit")), COMPILER]
    for path in inputs:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(importlib.metadata.version("componentize-py").encode() + b"\0")
    h.update(name.encode() + b"\0" + source_text.encode())
    return h.hexdigest()[:24]


def _write_atomically(path: Path, data: bytes) -> None:
    """Other pytest sessions may share the cache: never show a half file."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def _cached_build(cache: Path, name: str, source_text: str) -> Path | CompileError:
    """Build ``source_text`` as ``<name>.py``, or reuse an earlier result
    (a component or a CompileError) for exactly the same inputs."""
    stem = cache / f"{name}-{_build_key(name, source_text)}"
    component, error = stem.with_suffix(".wasm"), stem.with_suffix(".error.json")
    if component.is_file():
        return component
    if error.is_file():
        return CompileError(**json.loads(error.read_text()))
    source = cache / f"{stem.name}.src" / f"{name}.py"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(source_text)
    try:
        compile_python(source, component, wit_dir=WIT, lib_dir=LIB, display_name=f"{name}.py")
    except CompileError as exc:
        record = {"message": exc.args[0], "file": exc.file, "line": exc.line}
        _write_atomically(error, json.dumps(record).encode())
        return exc
    return component


@pytest.fixture(scope="session")
def built(request: pytest.FixtureRequest):
    """Every componentize-py build this module needs: run in parallel, once
    per session, and kept in pytest's cache (when it is on) for later
    sessions, keyed by all their inputs."""
    cache_plugin = getattr(request.config, "cache", None)
    if cache_plugin is not None:
        yield _build_all(cache_plugin.mkdir("python-guests"))
    else:
        # Not tmp_path_factory: concurrent pytest sessions prune each
        # other's old base temp directories, and these live all session.
        with tempfile.TemporaryDirectory(prefix="jitrealm-python-guests-") as cache:
            yield _build_all(Path(cache))


def _build_all(cache: Path) -> dict[str, Path | CompileError]:
    jobs = {
        "greeter": GREETER.read_text(),
        "probe": PROBE_SOURCE,
        "broken": NAME_ERROR_SOURCE,
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {
            name: pool.submit(_cached_build, cache, name, text) for name, text in jobs.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    current = {f"{name}-{_build_key(name, text)}" for name, text in jobs.items()}
    for entry in cache.iterdir():
        if entry.name.split(".")[0] not in current:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
    return results


@pytest.fixture(scope="session")
def engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True
    return wasmtime.Engine(config)


def _component(engine: wasmtime.Engine, built: dict[str, Any], name: str) -> wc.Component:
    """The compiled component, from a ``.cwasm`` beside the build if an
    earlier session left one (Cranelift takes seconds on these)."""
    result = built[name]
    if isinstance(result, CompileError):
        raise AssertionError(f"build of {name} failed: {result}")
    compiled = result.with_suffix(".cwasm")
    if compiled.is_file():
        try:
            return wc.Component.deserialize_file(engine, str(compiled))
        except wasmtime.WasmtimeError:
            pass  # another wasmtime version or configuration: compile again
    component = wc.Component.from_file(engine, result)
    _write_atomically(compiled, bytes(component.serialize()))
    return component


@pytest.fixture(scope="session")
def greeter_component(engine, built) -> wc.Component:
    return _component(engine, built, "greeter")


@pytest.fixture(scope="session")
def probe_component(engine, built) -> wc.Component:
    return _component(engine, built, "probe")


# -- a host to run them against ---------------------------------------------


class RecordingHost:
    """The 18 host imports, recording each call as ``(name, *args)``.

    State lives in ``state`` (key -> CBOR bytes). ``refuse`` makes clone,
    destruct and move fail with that message; ``world`` answers environment,
    contents and query.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.state: dict[str, bytes] = {}
        self.refuse: str | None = None
        self.environments: dict[str, str] = {}
        self.public: dict[tuple[str, str], bytes] = {}
        self.next_handle = 41

    def effects(self, *names: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] in names]

    def link(self, linker: wc.Linker) -> None:
        def record(name: str, result: Any = None):
            def func(_store, *args):
                self.calls.append((name, *args))
                return result() if callable(result) else result

            return func

        def state_set(_store, key: str, value: bytes) -> None:
            self.calls.append(("state-set", key, value))
            self.state[key] = value

        def state_delete(_store, key: str) -> None:
            self.calls.append(("state-delete", key))
            self.state.pop(key, None)

        def callout(_store, method: str, delay_ms: int, args: bytes) -> int:
            self.calls.append(("callout", method, delay_ms, args))
            self.next_handle += 1
            return self.next_handle

        def world_op(name: str, ok: Any = None):
            def func(_store, *args):
                self.calls.append((name, *args))
                if self.refuse is not None:
                    # result<string, string> is tagged (both arms are str);
                    # result<_, string> takes None for ok, a str for err.
                    return wc.Variant("err", self.refuse) if ok is not None else self.refuse
                return wc.Variant("ok", ok) if ok is not None else None

            return func

        def contents(_store, target: str) -> list[str]:
            return [who for who, env in self.environments.items() if env == target]

        with linker.root() as root, root.add_instance(HOST) as host:
            for name in ("tell", "say", "emote", "gmcp", "set-heartbeat", "log"):
                host.add_func(name, record(name))
            host.add_func("state-get", lambda _store, key: self.state.get(key))
            host.add_func("state-set", state_set)
            host.add_func("state-delete", state_delete)
            host.add_func("callout", callout)
            host.add_func("cancel-callout", record("cancel-callout", True))
            host.add_func("clone", world_op("clone", ok="/obj/thing#000001"))
            host.add_func("destruct", world_op("destruct"))
            host.add_func("move", world_op("move"))
            host.add_func("environment", lambda _store, target: self.environments.get(target))
            host.add_func("contents", contents)
            host.add_func("query", lambda _store, target, key: self.public.get((target, key)))
            host.add_func("now-ms", record("now-ms", 1_700_000_000_000))


class Guest:
    """One instance of a component, with a fresh RecordingHost."""

    def __init__(self, engine: wasmtime.Engine, component: wc.Component) -> None:
        self.host = RecordingHost()
        linker = wc.Linker(engine)
        self.host.link(linker)
        self.store = wasmtime.Store(engine)
        self.store.set_fuel(10**10)
        self.instance = linker.instantiate(self.store, component)
        self._object = self.instance.get_export_index(self.store, OBJECT)

    def call(self, hook: str, *args: Any) -> Any:
        index = self.instance.get_export_index(self.store, hook, self._object)
        func = self.instance.get_func(self.store, index)
        return func(self.store, *args)


@pytest.fixture
def greeter(engine, greeter_component) -> Guest:
    return Guest(engine, greeter_component)


@pytest.fixture
def probe(engine, probe_component) -> Guest:
    return Guest(engine, probe_component)


# -- the component's shape --------------------------------------------------


def test_python_component_imports_only_the_host_api(engine, greeter_component):
    component_type = greeter_component.type
    assert set(component_type.imports(engine)) == {HOST}
    assert OBJECT in component_type.exports(engine)


# -- the example ------------------------------------------------------------


def test_greeter_on_load_sets_conventional_keys(greeter):
    greeter.call("on-load", "/examples/greeter")
    assert greeter.host.effects("state-set") == [
        ("state-set", "name", cbor2.dumps("greeter")),
        ("state-set", "short", cbor2.dumps("a cheerful greeter")),
        ("state-set", "long", cbor2.dumps("A cheerful greeter beams at everyone. Try 'greet'.")),
        ("state-set", "ids", cbor2.dumps(["greeter", "man"])),
        ("state-set", "gettable", cbor2.dumps(False)),
    ]


def test_greeter_greets_and_counts(greeter):
    assert greeter.call("on-command", "/examples/greeter", "/player/bob", "greet", "Bob") is True
    assert greeter.host.effects("state-set", "say") == [
        ("state-set", "greetings", cbor2.dumps(1)),
        ("say", "Hello, Bob! I have greeted once."),
    ]
    greeter.host.calls.clear()
    assert greeter.call("on-command", "/examples/greeter", "/player/bob", "greet", "") is True
    assert greeter.host.effects("state-set", "say") == [
        ("state-set", "greetings", cbor2.dumps(2)),
        ("say", "Hello, everyone! I have greeted 2 times."),
    ]


def test_greeter_ignores_other_verbs(greeter):
    assert greeter.call("on-command", "/examples/greeter", "/player/bob", "dance", "") is False
    assert greeter.host.effects("state-set", "say") == []


def test_greeter_remembers_last_sender(greeter):
    greeter.call("on-message", "/examples/greeter", "/obj/parrot#000007", "tell", cbor2.dumps("hi"))
    assert greeter.host.state == {"last_sender": cbor2.dumps("/obj/parrot#000007")}


# -- the SDK ----------------------------------------------------------------


def test_random_is_reseeded_from_the_world_clock_per_instance(greeter):
    greeter.call("on-message", "/examples/greeter", "/player/bob", "tell", cbor2.dumps("hi"))
    greeter.call("on-message", "/examples/greeter", "/player/bob", "tell", cbor2.dumps("hi"))
    assert greeter.host.effects("now-ms") == [("now-ms",)]


def test_print_goes_to_the_log(probe):
    probe.call("on-load", "/obj/probe")
    assert ("log", "info", "loading /obj/probe") in probe.host.calls


def test_exception_logs_traceback_and_traps(probe):
    with pytest.raises(wasmtime.WasmtimeError):
        probe.call("on-command", "/obj/probe", "/player/bob", "fail", "")
    (log,) = probe.host.effects("log")
    assert log[1] == "error"
    assert 'File "probe.py", line 12, in on_command' in log[2]
    assert 'raise RuntimeError("kaboom")' in log[2]
    assert log[2].endswith("RuntimeError: kaboom")


def test_import_inside_a_hook_is_a_clear_error(probe):
    with pytest.raises(wasmtime.WasmtimeError):
        probe.call("on-command", "/obj/probe", "/player/bob", "import", "")
    (log,) = probe.host.effects("log")
    # The message names the module and says why, and what may be imported.
    assert "ImportError: cannot import 'csv': a running blueprint has no files" in log[2]
    assert "realm_runtime.PRELOADED" in log[2]


def test_in_place_changes_are_written_back(probe):
    probe.call("on-load", "/obj/probe")
    probe.call("on-command", "/obj/probe", "/player/bob", "add", "b")
    assert probe.host.state["items"] == cbor2.dumps(["a", "b"])


def test_state_delete_and_membership(probe):
    probe.call("on-load", "/obj/probe")
    assert probe.call("on-command", "/obj/probe", "/player/bob", "forget", "") is True
    assert ("state-delete", "items") in probe.host.calls
    assert "items" not in probe.host.state


def test_refusal_is_an_exception_the_author_can_catch(probe):
    probe.host.refuse = "you cannot go there"
    probe.call("on-command", "/obj/probe", "/player/bob", "move", "/rooms/void")
    assert probe.host.effects("move", "tell") == [
        ("move", "/player/bob", "/rooms/void"),
        ("tell", "/player/bob", "refused: you cannot go there"),
    ]


def test_clone_returns_the_new_id(probe):
    probe.call("on-command", "/obj/probe", "/player/bob", "clone", "/obj/thing")
    assert probe.host.effects("clone", "tell") == [
        ("clone", "/obj/thing"),
        ("tell", "/player/bob", "/obj/thing#000001"),
    ]


def test_environment_contents_and_query(probe):
    probe.host.environments = {"/obj/probe": "/rooms/hall", "/player/bob": "/rooms/hall"}
    probe.host.public[("/rooms/hall", "short")] = cbor2.dumps("the great hall")
    probe.call("on-command", "/obj/probe", "/player/bob", "look", "")
    assert probe.host.effects("tell") == [
        ("tell", "/player/bob", "/rooms/hall ['/obj/probe', '/player/bob'] 'the great hall'")
    ]


def test_callout_round_trip(probe):
    probe.call("on-command", "/obj/probe", "/player/bob", "later", "")
    (callout,) = probe.host.effects("callout")
    assert callout == ("callout", "ding", 250, cbor2.dumps({"n": 2}))
    assert ("tell", "/player/bob", "42") in probe.host.calls
    probe.call("on-callout", "/obj/probe", "ding", callout[3])
    assert probe.host.state["dinged"] == cbor2.dumps({"n": 2})


def test_unknown_callout_method_is_logged(probe):
    probe.call("on-callout", "/obj/probe", "nope", cbor2.dumps(None))
    assert probe.host.effects("log") == [
        ("log", "warn", "callout 'nope': Probe has no such method")
    ]


def test_unhandled_command_returns_false(probe):
    assert probe.call("on-command", "/obj/probe", "/player/bob", "dance", "") is False


def test_option_arguments(probe):
    probe.call("on-enter", "/rooms/hall", "/player/bob", None)
    assert probe.host.state["entered"] == cbor2.dumps(["/player/bob", None])
    probe.call("on-enter", "/rooms/hall", "/player/bob", "/rooms/yard")
    assert probe.host.state["entered"] == cbor2.dumps(["/player/bob", "/rooms/yard"])


# -- compile errors -----------------------------------------------------------


def test_syntax_error_names_file_and_line(tmp_path):
    source = tmp_path / "broken.py"
    source.write_text("import realm\n\n\ndef f(:\n    pass\n")
    with pytest.raises(CompileError) as info:
        compile_python(source, tmp_path / "out.wasm", wit_dir=WIT, lib_dir=LIB)
    assert info.value.file == str(source)
    assert info.value.line == 4
    assert "SyntaxError" in str(info.value)
    assert not (tmp_path / "out.wasm").exists()


def test_error_while_importing_names_file_and_line(built):
    error = built["broken"]
    assert isinstance(error, CompileError)
    assert error.file is not None and Path(error.file).name == "broken.py"
    assert error.line == 4
    assert "NameError: name 'undefined_name' is not defined" in str(error)


# -- the guest's CBOR codec ---------------------------------------------------

state_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(state_values)
def test_guest_codec_writes_what_cbor2_writes(value):
    assert realm_cbor.dumps(value) == cbor2.dumps(value)
    assert realm_cbor.loads(cbor2.dumps(value)) == value


def test_guest_codec_reads_what_it_does_not_write():
    assert realm_cbor.loads(bytes.fromhex("9f0102ff")) == [1, 2]  # indefinite array
    assert realm_cbor.loads(bytes.fromhex("f93c00")) == 1.0  # half float
    assert realm_cbor.loads(cbor2.dumps(float("inf"))) == float("inf")
    assert realm_cbor.loads(bytes.fromhex("c11a514b67b0")) == realm_cbor.Tag(1, 1363896240)


@pytest.mark.parametrize("data", ["", "18", "ff", "0102", "61ff", "1c"])
def test_guest_codec_rejects_malformed_cbor(data):
    with pytest.raises(realm_cbor.CBORError):
        realm_cbor.loads(bytes.fromhex(data))


def test_sandbox_reports_the_python_exception(built, sandbox):
    """Through the real sandbox: the trap carries the exception's own words,
    nothing is applied, and the same version keeps working."""
    from sandbox.protocol import Limits
    from sandbox.runtime.offline import OfflineWorld

    version = sandbox.admit(built["probe"].read_bytes())
    outcome = sandbox.invoke(version, "/obj/probe", "on-command", ("/player/bob", "fail", ""), {}, Limits(), OfflineWorld("/obj/probe"))
    assert outcome.error is not None and outcome.error.kind == "trap"
    assert outcome.error.message == "RuntimeError: kaboom"
    assert outcome.effects == [] and outcome.state_changes == {}
    again = sandbox.invoke(version, "/obj/probe", "on-load", (), {}, Limits(), OfflineWorld("/obj/probe"))
    assert again.ok, again.error

"""``jitrealm build``: discovery, incremental content-addressed builds, the
manifest, and errors that say where they are.

Each test builds a small world in a temporary directory: the real SDK
header, the counter example, a room written here, a declarative bundle and
the files a world has that are not blueprints. C compiles take tens of
milliseconds (zig caches), so the tests compile for real; only Python
blueprints are faked (componentize-py takes seconds and is tested in
test_python_guest.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest

from sandbox.build import manifest as build_manifest
from sandbox.build import toolchain, worldbuild
from sandbox.build.worldbuild import build_world, compile_one
from sandbox.protocol import CompileError

ROOT = Path(__file__).resolve().parents[2]
WIT = ROOT / "wit"
SDK = ROOT / "world-src" / "include"
COUNTER = ROOT / "world-src" / "examples" / "counter.c"

MEADOW = """\
#include "realm.h"

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("A meadow"));
}
"""

BROKEN = """\
#include "realm.h"

void realm_on_load(realm_str self) {
    realm_say(RS("missing semicolon"))
}
"""

GARDEN = {"id": "garden", "initial": "quiet", "states": {"quiet": {}}}


def make_world(w: Path) -> Path:
    shutil.copytree(SDK, w / "include")
    (w / "lib").mkdir()
    (w / "lib" / "helper.py").write_text("X = 1\n")  # SDK code, not a blueprint
    (w / "examples").mkdir()
    shutil.copy(COUNTER, w / "examples" / "counter.c")
    (w / "rooms").mkdir()
    (w / "rooms" / "meadow.c").write_text(MEADOW)
    (w / "rooms" / "garden.json").write_text(json.dumps(GARDEN, indent=2))
    (w / "rooms" / "notes.txt").write_text("not a source\n")
    (w / ".hidden").mkdir()
    (w / ".hidden" / "secret.c").write_text("this is not C\n")
    (w / "world.json").write_text('{"title": "Test", "start": "/rooms/meadow"}')
    return w


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return make_world(tmp_path / "world")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "build"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The test world built once; ``prebuilt`` hands each test a copy."""
    base = tmp_path_factory.mktemp("template")
    w, b = make_world(base / "world"), base / "build"
    assert build(w, b).ok
    return w, b


@pytest.fixture
def prebuilt(template: tuple[Path, Path], world: Path, out: Path) -> tuple[Path, Path]:
    """``world`` and ``out`` as a finished build of it (copied, not compiled:
    build keys do not depend on where the world is)."""
    shutil.copytree(template[1], out)
    assert build(world, out).built == []
    return world, out


def build(world: Path, out: Path, paths: list[Path] | None = None) -> worldbuild.BuildResult:
    return build_world(world, out, paths, wit_dir=WIT, progress=None)


def built_names(result: worldbuild.BuildResult) -> list[str]:
    return sorted(a.blueprint for a in result.built)


# --------------------------------------------------------------------------
# A clean build
# --------------------------------------------------------------------------


def test_builds_every_blueprint_and_writes_the_manifest(world: Path, out: Path) -> None:
    progress = io.StringIO()
    result = build_world(world, out, wit_dir=WIT, progress=progress)
    assert result.ok, result.failed
    assert built_names(result) == ["/examples/counter", "/rooms/garden", "/rooms/meadow"]

    entries = build_manifest.load(out)
    assert set(entries) == {"/examples/counter", "/rooms/garden", "/rooms/meadow"}
    counter = entries["/examples/counter"]
    assert counter.language == "c" and counter.source == "examples/counter.c"
    data = (out / counter.component).read_bytes()
    assert data[:8] == b"\0asm\x0d\x00\x01\x00"  # a component
    assert counter.version == hashlib.sha256(data).hexdigest()
    assert counter.component == f"components/{counter.version}.wasm"

    garden = entries["/rooms/garden"]
    assert garden.language == "json" and garden.component is None
    assert json.loads((out / garden.bundle).read_text()) == GARDEN

    raw = json.loads((out / "manifest.json").read_text())
    assert raw["format"] == 1 and raw["world_dir"] == str(world.resolve())

    text = progress.getvalue()
    assert "[1/3] compiling " in text and "[3/3] compiling " in text
    assert "3 built, 0 up to date" in text


def test_version_is_the_sandbox_content_hash(world: Path, out: Path) -> None:
    from sandbox.runtime.engine import content_hash

    result = build(world, out)
    for artifact in result.built:
        assert artifact.version == content_hash(artifact.read())


def test_discovery_skips_sdk_config_hidden_and_other_files(world: Path, tmp_path: Path) -> None:
    (world / "rooms" / "__pycache__").mkdir()
    (world / "rooms" / "__pycache__" / "meadow.py").write_text("")
    found = worldbuild.discover(world)
    assert [(s.blueprint, s.language) for s in found] == [
        ("/examples/counter", "c"),
        ("/rooms/garden", "json"),
        ("/rooms/meadow", "c"),
    ]


def test_blueprint_id() -> None:
    w = Path("/srv/world")
    assert worldbuild.blueprint_id(w, w / "rooms" / "meadow.c") == "/rooms/meadow"
    assert worldbuild.blueprint_id(w, w / "obj" / "sword.v2.py") == "/obj/sword.v2"
    with pytest.raises(CompileError, match="cannot be part of a blueprint path"):
        worldbuild.blueprint_id(w, w / "rooms" / "my room.c")
    with pytest.raises(CompileError, match="not inside the world"):
        worldbuild.blueprint_id(w, Path("/elsewhere/x.c"))


# --------------------------------------------------------------------------
# Incremental builds
# --------------------------------------------------------------------------


def test_second_build_compiles_nothing(
    world: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build(world, out)
    monkeypatch.setattr(toolchain, "compile_c", _must_not_compile)
    second = build(world, out)
    assert second.ok and second.built == []
    assert sorted(second.artifacts) == sorted(a.blueprint for a in first.built)
    assert build_manifest.load(out) == {
        a.blueprint: worldbuild._entry(a, out.resolve(), world.resolve()) for a in first.built
    }


def _must_not_compile(*args: object, **kwargs: object) -> str:
    raise AssertionError("compiled although nothing changed")


def test_editing_a_source_rebuilds_only_it(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    before = build_manifest.load(out)
    (world / "rooms" / "meadow.c").write_text(MEADOW.replace("A meadow", "A wide meadow"))
    result = build(world, out)
    assert built_names(result) == ["/rooms/meadow"]
    after = build_manifest.load(out)
    assert after["/rooms/meadow"].version != before["/rooms/meadow"].version
    assert after["/examples/counter"] == before["/examples/counter"]
    # The old output stays: a running world may still use that version.
    assert (out / before["/rooms/meadow"].component).is_file()


def test_a_change_that_compiles_to_the_same_bytes_keeps_the_version(
    prebuilt: tuple[Path, Path],
) -> None:
    world, out = prebuilt
    before = build_manifest.load(out)["/rooms/meadow"]
    (world / "rooms" / "meadow.c").write_text(MEADOW + "\n/* a comment */\n")
    result = build(world, out)
    assert built_names(result) == ["/rooms/meadow"]  # new key: compiled
    after = build_manifest.load(out)["/rooms/meadow"]
    assert after.key != before.key and after.version == before.version


def test_changing_the_sdk_rebuilds_every_c_blueprint(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    with (world / "include" / "realm.h").open("a") as f:
        f.write("\n/* SDK change */\n")
    assert built_names(build(world, out)) == ["/examples/counter", "/rooms/meadow"]


def test_changing_the_wit_rebuilds_wasm_but_not_bundles(
    world: Path, out: Path, tmp_path: Path
) -> None:
    wit = tmp_path / "wit"
    shutil.copytree(WIT, wit)
    build_world(world, out, wit_dir=wit, progress=None)
    with (wit / "realm.wit").open("a") as f:
        f.write("\n// a comment\n")
    result = build_world(world, out, wit_dir=wit, progress=None)
    assert built_names(result) == ["/examples/counter", "/rooms/meadow"]


def test_a_lost_output_is_rebuilt(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (out / build_manifest.load(out)["/rooms/meadow"].component).unlink()
    assert built_names(build(world, out)) == ["/rooms/meadow"]


def test_a_deleted_source_leaves_the_manifest(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "garden.json").unlink()
    build(world, out)
    assert "/rooms/garden" not in build_manifest.load(out)


def test_paths_build_only_what_they_name(world: Path, out: Path) -> None:
    result = build(world, out, [world / "rooms" / "meadow.c"])
    assert built_names(result) == ["/rooms/meadow"]
    result = build(world, out, [world / "rooms"])
    assert built_names(result) == ["/rooms/garden"]
    assert set(build_manifest.load(out)) == {"/rooms/meadow", "/rooms/garden"}
    with pytest.raises(FileNotFoundError):
        build(world, out, [world / "rooms" / "nope.c"])
    with pytest.raises(ValueError, match="not a blueprint source"):
        build(world, out, [world / "include" / "realm.h"])


def test_a_corrupt_manifest_means_a_full_rebuild(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (out / "manifest.json").write_text("{not json")
    with pytest.raises(build_manifest.ManifestError):
        build_manifest.load(out)
    result = build(world, out)
    assert result.ok and len(result.built) == 3
    assert len(build_manifest.load(out)) == 3


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_a_c_syntax_error_names_file_and_line(world: Path, out: Path) -> None:
    (world / "rooms" / "broken.c").write_text(BROKEN)
    progress = io.StringIO()
    result = build_world(world, out, wit_dir=WIT, progress=progress)
    assert not result.ok
    err = result.failed["/rooms/broken"]
    assert isinstance(err, CompileError)
    assert (err.file, err.line) == ("rooms/broken.c", 4)
    assert "expected ';'" in str(err)
    # Everything else was still built, and the broken one is not in the manifest.
    assert built_names(result) == ["/examples/counter", "/rooms/garden", "/rooms/meadow"]
    assert "/rooms/broken" not in build_manifest.load(out)
    text = progress.getvalue()
    assert "compiling /rooms/broken (rooms/broken.c) ... FAILED" in text
    assert "rooms/broken.c:4:" in text and "1 failed" in text
    assert str(world) not in "".join(err.__notes__)  # no server paths for tenants


def test_a_broken_blueprint_keeps_its_last_good_version(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    good = build_manifest.load(out)["/rooms/meadow"]
    (world / "rooms" / "meadow.c").write_text(BROKEN)
    result = build(world, out)
    assert "/rooms/meadow" in result.failed
    assert build_manifest.load(out)["/rooms/meadow"] == good


def test_an_undefined_function_is_a_link_error_on_the_source(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "linky.c").write_text(
        '#include "realm.h"\nvoid nowhere(void);\nvoid realm_reset(realm_str s) { (void)s; nowhere(); }\n'
    )
    err = build(world, out).failed["/rooms/linky"]
    assert err.file == "rooms/linky.c" and err.line is None
    assert "undefined symbol: nowhere" in str(err)
    assert ".o:" not in str(err)  # zig's cache paths are scrubbed


def test_a_foreign_import_is_refused_by_the_component_step(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "sneaky.c").write_text(
        '#include "realm.h"\n'
        '__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))\n'
        "int fd_write(int, int, int, int);\n"
        "void realm_reset(realm_str s) { (void)s; fd_write(1, 0, 0, 0); }\n"
    )
    err = build(world, out).failed["/rooms/sneaky"]
    assert err.file == "rooms/sneaky.c"
    assert "wasi_snapshot_preview1" in "".join(err.__notes__)


def test_a_bad_json_bundle_names_the_line(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "garden.json").write_text('{\n  "id": "garden",\n  "initial": ,\n}\n')
    err = build(world, out).failed["/rooms/garden"]
    assert (err.file, err.line) == ("rooms/garden.json", 3)
    assert "invalid JSON" in str(err)
    assert str(err).startswith("rooms/garden.json:3: ")


def test_a_bundle_must_be_an_object(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "garden.json").write_text("[1, 2]")
    err = build(world, out).failed["/rooms/garden"]
    assert "must be a JSON object" in str(err) and err.line == 1


def test_two_sources_for_one_blueprint_fail_both(world: Path, out: Path) -> None:
    (world / "rooms" / "meadow.json").write_text("{}")
    result = build(world, out)
    assert "2 sources define /rooms/meadow" in str(result.failed["/rooms/meadow"])
    assert "/rooms/meadow" not in build_manifest.load(out)


def test_a_file_name_that_cannot_be_a_blueprint_fails(prebuilt: tuple[Path, Path]) -> None:
    world, out = prebuilt
    (world / "rooms" / "my room.c").write_text(MEADOW)
    result = build(world, out)
    assert any("cannot be part of a blueprint path" in str(e) for e in result.failed.values())
    assert len(result.artifacts) == 3


# --------------------------------------------------------------------------
# compile_one (hot reload)
# --------------------------------------------------------------------------


def test_compile_one_builds_caches_and_updates_the_manifest(
    world: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = compile_one(
        world / "rooms" / "meadow.c", world_dir=world, build_dir=out, wit_dir=WIT
    )
    assert artifact.blueprint == "/rooms/meadow" and artifact.output.is_file()
    assert build_manifest.load(out)["/rooms/meadow"].version == artifact.version
    # A later full build has nothing to do for it ...
    assert built_names(build(world, out)) == ["/examples/counter", "/rooms/garden"]
    # ... and neither has compile_one again.
    monkeypatch.setattr(toolchain, "compile_c", _must_not_compile)
    again = compile_one(world / "rooms" / "meadow.c", world_dir=world, build_dir=out, wit_dir=WIT)
    assert again.version == artifact.version


def test_compile_one_raises_with_file_and_line(world: Path, out: Path) -> None:
    (world / "rooms" / "meadow.c").write_text(BROKEN)
    with pytest.raises(CompileError) as caught:
        compile_one(world / "rooms" / "meadow.c", world_dir=world, build_dir=out, wit_dir=WIT)
    assert (caught.value.file, caught.value.line) == ("rooms/meadow.c", 4)
    assert "/rooms/meadow" not in build_manifest.load(out)


# --------------------------------------------------------------------------
# Python blueprints (compile_python is faked here)
# --------------------------------------------------------------------------


def test_python_sources_go_to_compile_python(
    world: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake_compile_python(
        source: Path, dest: Path, *, wit_dir: Path, lib_dir: Path, display_name: str
    ) -> None:
        calls.append((source, wit_dir, lib_dir, display_name))
        dest.write_bytes(b"\0asm\x0d\x00\x01\x00fake")

    monkeypatch.setattr(worldbuild, "_load_compile_python", lambda: fake_compile_python)
    (world / "npc").mkdir()
    (world / "npc" / "parrot.py").write_text("import realm\n")
    result = build(world, out)
    assert result.ok
    assert calls == [
        (
            (world / "npc" / "parrot.py").resolve(),
            WIT.resolve(),
            (world / "lib").resolve(),
            "npc/parrot.py",
        )
    ]
    assert build_manifest.load(out)["/npc/parrot"].language == "python"
    # lib/ is the Python SDK: changing it rebuilds Python blueprints only.
    (world / "lib" / "helper.py").write_text("X = 2\n")
    assert built_names(build(world, out)) == ["/npc/parrot"]


def test_python_sources_are_skipped_without_compile_python(
    world: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable() -> None:
        raise worldbuild.Skipped("Python blueprints need sandbox.compile_python")

    monkeypatch.setattr(worldbuild, "_load_compile_python", unavailable)
    (world / "npc").mkdir()
    (world / "npc" / "parrot.py").write_text("import realm\n")
    progress = io.StringIO()
    result = build_world(world, out, wit_dir=WIT, progress=progress)
    assert result.ok and "/npc/parrot" in result.skipped
    assert "skipped" in progress.getvalue()


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def test_main_exit_status(prebuilt: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    world, out = prebuilt
    args = ["--world", str(world), "--out", str(out), "--wit", str(WIT)]
    assert worldbuild.main(args) == 0
    assert worldbuild.main([*args, "-q"]) == 0
    assert "0 built, 3 up to date" in capsys.readouterr().err
    (world / "rooms" / "broken.c").write_text(BROKEN)
    assert worldbuild.main([*args, "-q"]) == 1
    err = capsys.readouterr().err
    assert "rooms/broken.c:4:" in err and "... ok" not in err
    assert worldbuild.main([*args, str(world / "missing.c")]) == 2
    assert worldbuild.main(["--no-such-option"]) == 2


# --------------------------------------------------------------------------
# Diagnostics parsing (no compiler needed)
# --------------------------------------------------------------------------


def test_parse_diagnostics() -> None:
    output = (
        "In file included from rooms/a.c:1:\n"
        "include/realm.h:10:2: warning: something odd [-Wodd]\n"
        "rooms/a.c:3:11: error: expected ';' after return statement\n"
        "    3 |   return 1\n"
        "rooms/a.c:5:1: fatal error: 'nope.h' file not found\n"
        "2 errors generated.\n"
    )
    diags = toolchain.parse_diagnostics(output)
    assert [(d.file, d.line, d.severity) for d in diags] == [
        ("include/realm.h", 10, "warning"),
        ("rooms/a.c", 3, "error"),
        ("rooms/a.c", 5, "fatal error"),
    ]
    err = toolchain.compile_error(output, "rooms/a.c")
    assert (err.file, err.line) == ("rooms/a.c", 3)
    assert str(err) == "rooms/a.c:3: expected ';' after return statement (and 1 more error)"
    assert err.__notes__ == [output.strip()]

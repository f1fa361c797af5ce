"""The authors' loop (issue 13): new files brought in by `reload` and
`clone`, misspelled hooks warned about at build, logs an author can read
(offline, live, in game), `jitrealm invoke` by blueprint id or source
path, traps that point at the source, and the guide's lever example."""

from __future__ import annotations

import json
import shutil

import pytest
import trio

from driver import cli
from driver.persistence.commit import Persistence
from driver.store.sqlite import SqliteStore
from sandbox.build import lint, worldbuild
from sandbox.runtime.host import trap_frames

from ..driver_support import (
    BASIC_WORLD,
    DEMO_WORLD,
    WIT,
    build,
    copy_world,
    login,
    make_realm,
    running,
    send,
)

COMPILE_TIMEOUT = 30

KNOB = """#include "realm.h"
void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("a brass knob"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("knob")}, 1);
}
"""

TYPOS = """#include "realm.h"

void realm_on_lod(realm_str self) { (void)self; }

bool realm_on_comand(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self; (void)actor; (void)verb; (void)args;
    return false;
}

void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("a typo"));
    realm_set_heartbeat(1000);
}
"""

BOOM = """#include "realm.h"
static int poke(volatile int *p) {
    return *p + 1;
}
void realm_on_load(realm_str self) {
    (void)self;
    realm_state_set_text(RS("short"), RS("a fragile lever"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("lever")}, 1);
    realm_state_set_bool(RS("gettable"), false);
}
bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self; (void)actor; (void)args;
    if (!realm_str_eqz(verb, "yank")) return false;
    realm_log(REALM_WARN, RS("about to poke"));
    return poke((volatile int *)0x7ffffff0) > 0;
}
"""


@pytest.fixture
async def world_realm(sandbox, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    build(world, tmp_path / "build")
    realm = await make_realm(sandbox, world, tmp_path / "build")
    return world, realm


async def test_reload_and_clone_bring_in_a_new_file(world_realm):
    world, realm = world_realm
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        seen = await send(
            wiz, wh, "clone /newbie/nothing", "no such blueprint", timeout=COMPILE_TIMEOUT
        )
        (world / "newbie").mkdir()
        (world / "newbie" / "knob.c").write_text(KNOB)
        seen = await send(
            wiz, wh, "reload /newbie/knob", "Loaded the new blueprint", timeout=COMPILE_TIMEOUT
        )
        assert "newbie/knob.c" in seen
        assert realm.tenant.blueprints.get("/newbie/knob") is not None
        (world / "newbie" / "handle.c").write_text(KNOB.replace("knob", "handle"))
        seen = await send(wiz, wh, "clone /newbie/handle", "Cloned", timeout=COMPILE_TIMEOUT)
        assert "/newbie/handle#" in seen and "a brass handle" in seen
        (world / "newbie" / "bad.c").write_text('#include "realm.h"\n\nthis is not C;\n')
        seen = await send(wiz, wh, "clone /newbie/bad", "was not loaded", timeout=COMPILE_TIMEOUT)
        assert "newbie/bad.c:3:" in seen
        seen = await send(wiz, wh, "reload /newbie/bad", "Compile error", timeout=COMPILE_TIMEOUT)
        assert "newbie/bad.c:3:" in seen
        assert realm.tenant.blueprints.get("/newbie/bad") is None


async def test_misspelled_hooks_are_warned_about_with_file_and_line(world_realm, tmp_path, capsys):
    world, realm = world_realm
    (world / "obj" / "typo.c").write_text(TYPOS)
    assert worldbuild.main([str(world / "obj" / "typo.c"), "--world", str(world), "--out",
                            str(tmp_path / "build"), "--wit", str(WIT)]) == 0  # fmt: skip
    said = capsys.readouterr().err
    assert "obj/typo.c:3: warning: realm_on_lod() looks like the hook realm_on_load()" in said
    assert "obj/typo.c:5: warning: realm_on_comand() looks like the hook realm_on_command()" in said
    (world / "obj" / "typo.c").write_text(TYPOS.replace("a typo", "a typo, again"))
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        seen = await send(
            wiz, wh, "reload /obj/typo", "Loaded the new blueprint", timeout=COMPILE_TIMEOUT
        )
        assert "obj/typo.c:5: warning: realm_on_comand()" in seen
        await send(wiz, wh, "clone /obj/typo", "Cloned", timeout=COMPILE_TIMEOUT)
        seen = await send(wiz, wh, "stat /obj/typo#000001", "heartbeat")
        assert "hooks:       on-load" in seen and "on-command" not in seen
        assert "defines no heartbeat hook" in seen


def test_misspelled_python_hooks_are_warned_about():
    source = (
        "import realm\n\n\nclass Lever(realm.Blueprint):\n    def on_load(self):\n        pass\n\n"
        "    def hearbeat(self):\n        pass\n\n    def on_pull(self):\n        pass\n\n"
        "    def helper(self):\n        pass\n"
    )
    report = lint.lint_python(source, "obj/lever.py")
    assert report.hooks == ("on-load",)
    assert [str(f).split(" looks")[0].split(" has")[0] for f in report.findings] == [
        "obj/lever.py:8: warning: hearbeat()",
        "obj/lever.py:11: warning: on_pull()",
    ]


async def test_a_c_trap_points_at_the_source_for_wizards_and_gives_players_a_ref(world_realm):
    world, realm = world_realm
    (world / "obj" / "boom.c").write_text(BOOM)
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        await send(wiz, wh, "clone /obj/boom", "Cloned", timeout=COMPILE_TIMEOUT)
        ann, ah = await login(realm, "create ann secret99")
        await send(ann, ah, "goto /rooms/start" if False else "look", "Obvious exits")
        wiz_room = realm.tenant.graph.get("/player/admin").env
        realm.tenant.move(realm.tenant.graph.get("/player/ann"), wiz_room)
        seen = await send(ann, ah, "yank lever", "Something went wrong")
        assert "a fragile lever" in seen and "(ref " in seen
        assert "boom.c" not in seen and "poke" not in seen and "wasm" not in seen
        ref = seen.split("(ref ")[1].split(")")[0]
        seen = await send(wiz, wh, f"errors {ref}", "detail")
        assert "at poke (obj/boom.c:3)" in seen
        assert "realm_on_command (obj/boom.c:15)" in seen
        infos = realm.tenant.error_infos()
        assert "poke (obj/boom.c:3)" in infos[-1].message  # the API's errors carry the frames
        assert (
            realm.tenant.log_lines(blueprint="/obj/boom")[-1].text == "about to poke"
        )  # kept on failure


def test_trap_frames_without_line_tables_name_the_functions():
    message = (
        "error while executing at wasm backtrace:\n    0:    0x8c6 - boom.wasm!realm_on_command\n"
        "    1:    0x842 - boom.wasm!realm__export_on_command\n\nCaused by:\n    0: wasm trap: unreachable\n"
    )
    assert trap_frames(message) == ["realm_on_command"]


async def test_logs_readable_offline_live_and_in_game_filtered(world_realm, tmp_path, capsys):
    world, realm = world_realm
    (world / "obj" / "boom.c").write_text(BOOM)
    store = SqliteStore(tmp_path / "data")
    persistence = Persistence(store, realm.loop)
    realm.tenant.committer = persistence
    try:
        async with running(realm) as nursery:
            nursery.start_soon(persistence.run)
            wiz, wh = await login(realm, "connect admin wizardly")
            await send(wiz, wh, "clone /obj/boom", "Cloned", timeout=COMPILE_TIMEOUT)
            await send(wiz, wh, "yank lever", "Something went wrong")
            seen = await send(wiz, wh, "logs /obj/boom warn", "about to poke")
            assert "/obj/boom#000001 [/obj/boom@" in seen
            seen = await send(wiz, wh, "logs /obj/stone", "No log lines")
            assert [ln.text for ln in realm.tenant.log_lines(level="error")] == []
            line = realm.tenant.log_lines(blueprint="/obj/boom", level="warn")[-1]
            assert (line.level, line.blueprint, line.version) == (
                "warn",
                "/obj/boom",
                realm.tenant.blueprints.get("/obj/boom").version,
            )
            assert realm.tenant.log_lines(since=line.at) == []
            log_file = tmp_path / "data" / "logs" / f"{realm.name}.jsonl"
            with trio.fail_after(10):
                while not log_file.exists():
                    await trio.sleep(0.05)
    finally:
        store.close()
    capsys.readouterr()
    data = str(tmp_path / "data")
    assert (
        cli.main(["logs", "--data", data, "--tenant", realm.name, "--blueprint", "/obj/boom"]) == 0
    )
    out = capsys.readouterr().out
    assert "warn" in out and "about to poke" in out and "[/obj/boom@" in out
    assert cli.main(["logs", "--data", data, "--tenant", realm.name, "--level", "error"]) == 0
    assert "about to poke" not in capsys.readouterr().out


def _invoke(capsys, *argv: str) -> dict:
    capsys.readouterr()
    status = cli.main(["invoke", *argv])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out)


def test_invoke_by_blueprint_id_and_by_source_path(tmp_path, capsys, wasm_cache):
    common = [
        "--world",
        str(DEMO_WORLD),
        "--build",
        str(tmp_path / "build"),
        "--cache-dir",
        str(wasm_cache),
    ]
    # As world-src/examples/counter.c says.
    result = _invoke(capsys, "/examples/counter", "on-command", "/player/ann", "push", "", *common)
    assert result["result"] is True and result["state"]["count"] == 1
    assert (tmp_path / "build" / "manifest.json").is_file()  # built as `jitrealm build` would
    result = _invoke(capsys, str(DEMO_WORLD / "examples" / "counter.c"), "on-load", *common)
    assert result["state"]["short"] == "a brass counter"
    assert cli.main(["invoke", "/examples/nothing", "on-load", *common]) == 2


async def test_the_guides_lever_opens_the_vault(sandbox, tmp_path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    (world / "examples").mkdir()
    for name in ("lever.c", "vault.c"):
        shutil.copy(DEMO_WORLD / "examples" / name, world / "examples" / name)
    build(world, tmp_path / "build")
    realm = await make_realm(sandbox, world, tmp_path / "build")
    async with running(realm):
        wiz, wh = await login(realm, "connect admin wizardly")
        seen = await send(wiz, wh, "goto /examples/vault", "Obvious exits")
        assert "an iron lever" in seen and "north" not in seen.split("Obvious exits")[1]
        seen = await send(wiz, wh, "pull lever", "swings open")
        assert "chains rattle" in seen
        seen = await send(wiz, wh, "look", "Obvious exits")
        assert "north" in seen.split("Obvious exits")[1]
        assert realm.tenant.log_lines(blueprint="/examples/vault")[-1].text.startswith(
            "door opened by /examples/lever#"
        )

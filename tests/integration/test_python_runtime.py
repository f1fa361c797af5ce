"""Python blueprints as source run by one shared runtime (issue 13, parts 1
and 3): a version is a few KB, the runtime is compiled once for every
blueprint and tenant, a hostile blueprint is contained by the same limits,
and an edited blueprint, reloaded live, keeps its clones' state and answers
its new verb at once (C too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from sandbox import pysource
from sandbox.build.compile_python import compile_python_source
from sandbox.protocol import AdmissionError, ErrorKind, Limits
from sandbox.runtime.host import _NO_WORLD, Sandbox

from ..driver_support import BASIC_WORLD, ROOT, build, copy_world, login, make_realm, running, send

LIB = ROOT / "world-src" / "lib"
WIT = ROOT / "wit"

SNAKE = """import realm


class Snake(realm.Blueprint):
    def describe(self):
        self.state["name"] = "snake"
        self.state["short"] = "a green snake"
        self.state["ids"] = ["snake"]
        self.state["verbs"] = VERBS
        self.state["gettable"] = False

    def on_command(self, actor, verb, args):
        if verb not in VERBS:
            return False
        self.state["petted"] = self.state.get("petted", 0) + 1
        realm.tell(actor, f"The snake hisses at your {verb} (ANSWER {self.state['petted']}).")
        return True
"""

GADGET = r"""#include "realm.h"

void realm_describe(realm_str self) {
    (void)self;
    realm_state_set_text(RS("name"), RS("gadget"));
    realm_state_set_text(RS("short"), RS("a brass gadget"));
    realm_state_set_strs(RS("ids"), (realm_str[]){RS("gadget")}, 1);
    realm_state_set_strs(RS("verbs"), (realm_str[]){RS("VERB")}, 1);
}

bool realm_on_command(realm_str self, realm_str actor, realm_str verb, realm_str args) {
    (void)self; (void)args;
    if (!realm_str_eqz(verb, "VERB")) return false;
    realm_tell(actor, RS("The gadget answers VERB."));
    return true;
}
"""

HOSTILE = """import realm


class Hostile(realm.Blueprint):
    def on_command(self, actor, verb, args):
        if verb == "loop":
            while True:
                pass
        if verb == "bomb":
            return len(bytearray(512 << 20)) > 0
        if verb == "recurse":
            def f(n):
                return f(n + 1)
            f(0)
        if verb == "huge":
            realm.tell(actor, "x" * 10_000_000)
        return True
"""


def snake(verbs: list[str], answer: str) -> str:
    return f"VERBS = {verbs!r}\n" + SNAKE.replace("ANSWER", answer)


def source_version(tmp_path: Path, cache: Path, name: str, text: str) -> bytes:
    src, out = tmp_path / f"{name}.py", tmp_path / f"{name}.wasm"
    src.write_text(text)
    compile_python_source(
        src, out, wit_dir=WIT, lib_dir=LIB, cache_dir=cache, display_name=src.name
    )
    return out.read_bytes()


def test_the_runtime_is_compiled_once_for_every_python_blueprint(tmp_path: Path, wasm_cache: Path):
    versions = [
        source_version(tmp_path, wasm_cache, f"bp{i}", snake([f"pet{i}"], f"v{i}"))
        for i in range(6)
    ]
    assert all(len(v) <= 64 * 1024 for v in versions)
    assert len({pysource.decode(v).runtime for v in versions}) == 1  # type: ignore[union-attr]
    sb = Sandbox(cache_dir=wasm_cache)
    admitted = [sb.admit(v) for v in versions]
    assert len(sb.runtimes) == 1 and sum(sb.runtime_loads.values()) == 1
    # Each (tenant, version) gets an instance of its own, all of one runtime.
    for tenant in ("acme", "zeta"):
        for i, version in enumerate(admitted):
            out = sb.invoke(
                version, "/obj/snake", "on-command", ("/p", f"pet{i}", ""), {}, Limits(), _NO_WORLD,
                tenant=tenant,
            )  # fmt: skip
            assert out.error is None and out.result is True
    assert len(sb._live) == 2 * len(admitted)
    assert sum(sb.runtime_loads.values()) == 1


def test_an_error_at_top_level_refuses_the_version(tmp_path: Path, wasm_cache: Path):
    sb = Sandbox(cache_dir=wasm_cache)
    for text, expected in [
        ("import realm\nx = undefined_name\n", "NameError"),
        ("import realm\nimport sqlite3\n", "cannot import 'sqlite3'"),
        ("import realm\nwhile True:\n    pass\n", "fuel"),
        ("import realm\n", "exactly one class"),
    ]:
        with pytest.raises(AdmissionError, match=expected):
            sb.admit(source_version(tmp_path, wasm_cache, "bad", text))


@pytest.mark.parametrize(
    ("verb", "kinds"),
    [
        ("loop", {ErrorKind.FUEL, ErrorKind.DEADLINE}),
        ("bomb", {ErrorKind.MEMORY}),
        ("recurse", {ErrorKind.TRAP}),
        ("huge", {ErrorKind.BAD_GUEST_DATA, ErrorKind.HOST_LIMIT}),
    ],
)
async def test_a_hostile_python_blueprint_is_contained(
    backend, tmp_path: Path, wasm_cache: Path, verb: str, kinds: set[ErrorKind]
):
    version = await backend.admit(source_version(tmp_path, wasm_cache, "hostile", HOSTILE))
    out = await backend.invoke(
        version, "/obj/hostile", "on-command", ("/p", verb, ""), {}, Limits(), _NO_WORLD, tenant="t"
    )
    assert out.error is not None and out.error.kind in kinds, out.error
    assert not out.effects and not out.state_changes
    # The next call gets a fresh instance and works.
    fine = await backend.invoke(
        version,
        "/obj/hostile",
        "on-command",
        ("/p", "fine", ""),
        {},
        Limits(),
        _NO_WORLD,
        tenant="t",
    )
    assert fine.error is None and fine.result is True


async def test_edits_reloaded_live_keep_state_and_answer_new_verbs_at_once(backend, tmp_path: Path):
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    os.symlink(LIB, world / "lib")
    py, c = world / "obj" / "snake.py", world / "obj" / "gadget.c"
    py.write_text(snake(["pet"], "v1"))
    c.write_text(GADGET.replace("VERB", "kick"))
    build_dir = tmp_path / "build"
    build(world, build_dir)
    from sandbox.build import manifest as build_manifest

    entry = build_manifest.load(build_dir)["/obj/snake"]
    assert (build_dir / entry.output).stat().st_size <= 64 * 1024
    realm = await make_realm(backend, world, build_dir)
    async with running(realm):
        wiz, handler = await login(realm, "connect admin wizardly")
        await send(wiz, handler, "clone /obj/snake", "snake")
        await send(wiz, handler, "clone /obj/gadget", "gadget")
        await send(wiz, handler, "pet snake", "v1 1")
        await send(wiz, handler, "pet snake", "v1 2")
        await send(wiz, handler, "kick gadget", "answers kick")
        await send(wiz, handler, "twist gadget", "What?")
        await send(wiz, handler, "coil snake", "What?")

        py.write_text(snake(["pet", "coil"], "v2"))
        c.write_text(GADGET.replace("VERB", "twist"))
        with trio.fail_after(120):
            await send(wiz, handler, "reload /obj/snake", "Reloaded /obj/snake", timeout=120)
            await send(wiz, handler, "reload /obj/gadget", "Reloaded /obj/gadget", timeout=120)
        # The new verbs work on the clones made before, at once; state kept.
        await send(wiz, handler, "coil snake", "v2 3")
        await send(wiz, handler, "twist gadget", "answers twist")
        await send(wiz, handler, "pet snake", "v2 4")

"""Builds off the event loop: `jitrealm build` in a child process under a time
limit and a memory cap; a compile bomb is cut off and the old build stands."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import trio

from driver import compiles
from sandbox.build import manifest as build_manifest

from ..driver_support import BASIC_WORLD, ROOT, copy_world

BOMB = Path(__file__).resolve().parents[1] / "guests" / "bombs" / "macro_bomb.c"


def _dirs(tmp_path: Path) -> compiles.BuildDirs:
    world = copy_world(BASIC_WORLD, tmp_path / "world")
    return compiles.BuildDirs(world, tmp_path / "build", ROOT / "wit")


async def test_a_build_in_a_child_process_reports_errors_with_file_and_line(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    assert await compiles.build(dirs) == []
    stone = dirs.world / "obj" / "stone.c"
    stone.write_text(stone.read_text() + "\nthis is not C;\n")
    errors = await compiles.build(dirs, [stone])
    assert len(errors) == 1
    assert errors[0].file is not None and errors[0].file.endswith("stone.c")
    assert errors[0].line is not None and errors[0].line > 1


async def test_a_compile_bomb_is_cut_off_and_the_old_build_stands(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    assert await compiles.build(dirs) == []
    before = build_manifest.load(dirs.build)["/obj/stone"]
    stone = dirs.world / "obj" / "stone.c"
    shutil.copy(BOMB, stone)
    limits = compiles.BuildLimits(seconds=8, memory_mb=768)
    started = time.monotonic()
    with trio.fail_after(60):
        errors = await compiles.build(dirs, [stone], limits)
    took = time.monotonic() - started
    assert len(errors) == 1
    message = str(errors[0])
    assert "longer than 8 s" in message or "memory" in message or "MiB" in message, message
    assert took < 30  # stopped by the limit, not by finishing
    after = build_manifest.load(dirs.build)["/obj/stone"]
    assert after.component == before.component  # the old version is still the one built


async def test_the_loop_keeps_running_while_a_build_runs(tmp_path: Path) -> None:
    dirs = _dirs(tmp_path)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.01)
            ticks += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        assert await compiles.build(dirs) == []
        nursery.cancel_scope.cancel()
    assert ticks >= 5  # the trio loop was free the whole time

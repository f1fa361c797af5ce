"""Compiling world sources off the event loop.

A build runs `jitrealm build` (:mod:`sandbox.build.worldbuild`) in a child
process under a time limit and a memory cap, and comes back with its compile
errors as :class:`~sandbox.protocol.CompileError` records (file and line
when the compiler said). The server awaits it and keeps serving meanwhile:
a Python blueprint's compile takes tens of seconds, and a hostile source can
make a compiler run forever or eat memory. What happens to a build that
overruns is what happens to one that fails: the old version keeps running.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trio

from sandbox.protocol import CompileError


@dataclass(frozen=True, slots=True)
class BuildLimits:
    seconds: float = 300.0  # a Python blueprint takes 20-60 s on a busy machine
    memory_mb: int = 4096


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build said: its compile errors, and the warnings (``file:line:
    warning: ...``) of what it compiled, e.g. a misspelled hook."""

    errors: list[CompileError]
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class BuildDirs:
    world: Path
    build: Path
    wit: Path


async def build(
    dirs: BuildDirs, paths: list[Path] | None = None, limits: BuildLimits = BuildLimits()
) -> list[CompileError]:
    """Build ``paths`` (default: the whole world) in a child process; return
    the compile errors (empty when everything built)."""
    return (await build_report(dirs, paths, limits)).errors


async def build_report(
    dirs: BuildDirs, paths: list[Path] | None = None, limits: BuildLimits = BuildLimits()
) -> BuildReport:
    """:func:`build`, with the warnings of what was compiled."""
    with tempfile.TemporaryDirectory(prefix="jitrealm-build-") as scratch:
        report = Path(scratch) / "errors.json"
        warned = Path(scratch) / "warnings.json"
        command = [
            sys.executable, "-m", "sandbox.build.worldbuild",
            "--world", str(dirs.world), "--out", str(dirs.build), "--wit", str(dirs.wit),
            "--quiet", "--errors-json", str(report), "--warnings-json", str(warned),
            "--memory-mb", str(limits.memory_mb),
            *(str(p) for p in paths or ()),
        ]  # fmt: skip
        with trio.move_on_after(limits.seconds) as timer:
            # Cancelling run_process kills the child (and so the compile).
            done = await trio.run_process(
                command, check=False, capture_stdout=True, capture_stderr=True
            )
        if timer.cancelled_caught:
            stopped = CompileError(f"the build took longer than {limits.seconds:g} s and was stopped")
            return BuildReport([stopped], [])
        try:
            failures = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            failures = None
        try:
            warnings = [str(w) for entry in json.loads(warned.read_text(encoding="utf-8"))
                        for w in entry["warnings"]]  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            warnings = []
    if failures is None or (done.returncode not in (0, 1)):
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        why = "; ".join(tail) or f"exit status {done.returncode}"
        if done.returncode < 0 or "MemoryError" in why or "out of memory" in why.lower():
            why += f" (the build may have run out of its {limits.memory_mb} MiB)"
        return BuildReport([CompileError(f"the build failed: {why}")], warnings)
    errors = [CompileError(f["message"], f["file"], f["line"]) for f in failures]
    return BuildReport(errors, warnings)

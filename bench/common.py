"""Helpers shared by the benchmarks: timing with medians, building guests."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_call_us(fn: Callable[[], object], calls: int = 2000, batches: int = 7) -> float:
    """Median over ``batches`` of the mean µs per call; the median resists
    the noise of a shared machine."""
    for _ in range(min(200, calls)):
        fn()
    results = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        results.append((time.perf_counter_ns() - start) / calls / 1000)
    return round(statistics.median(results), 3)


def build_guests(world: Path, build_dir: Path) -> dict[str, bytes]:
    """Build a directory of guest sources; returns component bytes by blueprint."""
    from sandbox.build import manifest as build_manifest
    from sandbox.build import worldbuild

    result = worldbuild.build_world(world, build_dir, wit_dir=ROOT / "wit", progress=sys.stderr, quiet=True)
    if not result.ok:
        raise SystemExit(f"bench guests failed to build: {result.failed}")
    return {
        path: (build_dir / entry.component).read_bytes()
        for path, entry in build_manifest.load(build_dir).items()
        if entry.component
    }

"""Helpers shared by the benchmarks: timing with medians, building guests.

The per-call timers (:func:`per_call_us`, :func:`marginal_us`) count the
calling thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``), not the wall clock:
a hook call is a few microseconds of work in this thread, and on a shared
machine the wall clock of a batch mostly counts the time other programs had
the CPU. On an idle machine the two agree. (Anything a call does in another
thread or process would be missed; the calls timed here do not.)"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def per_call_us(fn: Callable[[], object], calls: int = 2000, batches: int = 7) -> float:
    """Median over ``batches`` of the mean µs of this thread's CPU time per
    call; the median resists the noise of a shared machine."""
    for _ in range(min(200, calls)):
        fn()
    results = []
    for _ in range(batches):
        start = time.thread_time_ns()
        for _ in range(calls):
            fn()
        results.append((time.thread_time_ns() - start) / calls / 1000)
    return round(statistics.median(results), 3)


def marginal_us(base: Callable[[], object], fn: Callable[[], object], calls: int, batches: int = 9) -> float:
    """Median over ``batches`` of (mean µs of ``fn`` - mean µs of ``base``)
    in this thread's CPU time, the two timed back to back in each batch so
    that drift on a shared machine cancels."""
    for _ in range(min(200, calls)):
        base()
        fn()
    diffs = []
    for _ in range(batches):
        start = time.thread_time_ns()
        for _ in range(calls):
            base()
        middle = time.thread_time_ns()
        for _ in range(calls):
            fn()
        end = time.thread_time_ns()
        diffs.append(((end - middle) - (middle - start)) / calls / 1000)
    return statistics.median(diffs)


def unthrottled_quotas() -> tuple[Any, list[str]]:
    """A tenant's default quotas with every rate budget (a ``*_per_second``
    field: fuel, messages, callouts, clones per second...) raised out of
    reach, and the names of those raised. A benchmark that drives one world
    at thousands of commands a second needs a tenant whose admin allowed
    that; the budgets are still kept (their cost is paid), they just never
    refuse. Every other quota keeps its default."""
    import dataclasses

    from driver.tenancy.quotas import Quotas

    quotas = Quotas()
    raised = {f.name: 1e12 for f in dataclasses.fields(quotas) if f.name.endswith("_per_second")}
    return dataclasses.replace(quotas, **raised), sorted(raised)


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

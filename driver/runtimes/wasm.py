"""The WebAssembly runtime: in a pool of worker processes, or in this process.

In worker mode (the default for `jitrealm run`) the driver process never
maps wasmtime: the sandbox runs in separate processes started by exec, and
the driver speaks :mod:`sandbox.wire` to them. In-process mode imports the
sandbox here, when the runtime is made, never by importing the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import trio

from driver.runtimes import Runtime

SandboxMode = Literal["workers", "inproc"]


async def start_wasm_runtime(
    nursery: trio.Nursery, mode: SandboxMode, *, workers: int = 1, cache_dir: Path | None = None
) -> Runtime:
    """Start a WebAssembly runtime whose background work (the worker pool)
    lives in ``nursery``."""
    if mode == "inproc":
        from driver.runtimes.inproc import InprocRuntime

        return InprocRuntime(cache_dir=cache_dir)
    from driver.runtimes.workers import WorkerPool

    pool = WorkerPool(workers, cache_dir=cache_dir)
    await nursery.start(pool.run)
    return pool

"""The WebAssembly runtime: the sandbox, created on demand.

The import of :mod:`sandbox.runtime` (and so of wasmtime) happens inside
:func:`wasm_runtime`, not at module import, so the rest of the driver can be
imported, type-checked and tested without mapping the engine.
"""

from __future__ import annotations

from pathlib import Path

from driver.runtimes import Runtime


def wasm_runtime(cache_dir: Path | None = None) -> Runtime:
    """A WebAssembly runtime that runs hooks in this process."""
    from sandbox.runtime.host import Sandbox

    return Sandbox(cache_dir=cache_dir)

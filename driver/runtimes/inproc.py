"""The in-process WebAssembly runtime: the sandbox in the driver's own process.

For development and for the lowest latency of a single call. A hook runs to
completion on the calling thread (the sandbox's deadline bounds it), so
:meth:`InprocRuntime.invoke` finishes without ever yielding to trio.
Admission compiles, which can take a while for a big component, so it runs
in a thread: the loop keeps serving meanwhile.

The sandbox (and so wasmtime) is imported here, when this runtime is made,
never by importing the driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from sandbox.protocol import Hook, HostWorld, Limits, Outcome

if TYPE_CHECKING:
    from sandbox.runtime.host import Sandbox


class InprocRuntime:
    """A :class:`~driver.runtimes.Runtime` over an in-process sandbox."""

    def __init__(self, sandbox: Sandbox | None = None, *, cache_dir: Path | None = None) -> None:
        if sandbox is None:
            from sandbox.runtime.host import Sandbox

            sandbox = Sandbox(cache_dir=cache_dir)
        self.sandbox = sandbox

    async def admit(self, code: bytes) -> str:
        return await trio.to_thread.run_sync(self.sandbox.admit, code)

    async def invoke(
        self,
        version: str,
        self_id: str,
        hook: Hook,
        args: Sequence[Any],
        state: Mapping[str, bytes],
        limits: Limits,
        world: HostWorld,
        *,
        tenant: str,
    ) -> Outcome:
        return self.sandbox.invoke(version, self_id, hook, args, state, limits, world, tenant=tenant)

    def release(self, version: str) -> None:
        self.sandbox.release(version)

    def memory_of(self, tenant: str) -> int:
        """Bytes ``tenant``'s live instances are charged (see :class:`ReportsMemory`)."""
        return self.sandbox.memory_of(tenant)

    def sweep(self, idle_seconds: float = 60.0) -> None:
        self.sandbox.sweep(idle_seconds)

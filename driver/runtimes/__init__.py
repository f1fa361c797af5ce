"""The runtimes that run blueprint code, behind one protocol.

A tenant never knows *how* a blueprint's hooks run. It admits a blueprint's
code with :meth:`Runtime.admit`, gets an :class:`~sandbox.protocol.Outcome`
from :meth:`Runtime.invoke` (all or nothing), and gives a version back with
:meth:`Runtime.release`. The WebAssembly sandbox is one runtime
(:mod:`driver.runtimes.wasm`); declarative rooms are another kind, keyed by
:class:`RuntimeKind`.

The vocabulary (outcomes, effects, limits, the host world) is
:mod:`sandbox.protocol`: plain data, no wasmtime, so importing the driver
never loads the WebAssembly engine.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from sandbox.protocol import Hook, HostWorld, Limits, Outcome


class RuntimeKind(enum.StrEnum):
    """What runs a blueprint's code."""

    WASM = "wasm"  # a WebAssembly component in the sandbox
    DECLARATIVE = "declarative"  # a statechart bundle (declarative rooms)


def kind_of_code(code: bytes) -> RuntimeKind:
    """Which runtime admits ``code``: a WebAssembly binary starts with its magic
    number; anything else is a declarative bundle (JSON). Restoring a world from
    the store needs this: a stored version is only bytes."""
    return RuntimeKind.WASM if code[:4] == b"\0asm" else RuntimeKind.DECLARATIVE


class Runtime(Protocol):
    """Admits blueprint code and runs its hooks (see module docstring)."""

    async def admit(self, code: bytes) -> str:
        """Check ``code`` and make it runnable; return its version (content
        hash). Raises :class:`sandbox.protocol.AdmissionError` when refused.
        Never blocks the event loop: the work happens in a thread or a worker."""
        ...

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
        """Run one hook for one object and return what it asked for; the
        caller applies nothing unless it returned. A tenant never has two
        invocations in flight; different tenants may."""
        ...

    def release(self, version: str) -> None:
        """Forget one admission of ``version``."""
        ...

    def sweep(self, idle_seconds: float = 60.0) -> None:
        """Drop instances idle that long, so memory a burst of activity took
        goes back to the system."""
        ...


@runtime_checkable
class ReportsMemory(Protocol):
    """A runtime that knows what memory each tenant's instances take (the
    in-process sandbox exactly; a worker pool as its workers last reported
    it, after each sweep)."""

    def memory_of(self, tenant: str) -> int:
        """Bytes ``tenant``'s live instances are charged (each its memory cap)."""
        ...

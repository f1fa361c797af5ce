"""The loop: every tenant's events, each tenant on a trio task of its own.

A tenant's task collects its due timers, runs a turn (bounded in time, see
:meth:`Tenant.run_turn`), yields to trio so sockets and other tenants are
served, and when it has nothing to do sleeps until its next timer or until
an event is queued (:attr:`Tenant.has_work`). One tenant's events therefore
stay strictly in order, one at a time, while different tenants run side by
side: while one awaits a sandbox worker, another runs.

When the store cannot save (a full disk), persistence calls :meth:`pause`:
no event runs until :meth:`resume`.

Tenants come and go while the loop runs (an admin creates, suspends or
deletes one): :meth:`add` starts a tenant's task, :meth:`remove` cancels it
between two awaits, so an event in flight is abandoned exactly as when the
server stops (nothing of an unfinished event is applied or saved).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import trio

from driver.tenancy.tenant import Tenant


class Loop:
    """See module docstring. ``announce`` tells every player something now."""

    def __init__(self, tenants: list[Tenant], announce: Callable[[str], None]) -> None:
        self.tenants = tenants
        self.announce = announce
        self.paused: str | None = None  # why the world is stopped (the store cannot write)
        self._resumed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._scopes: dict[str, trio.CancelScope] = {}

    def add(self, tenant: Tenant) -> None:
        """Serve ``tenant`` too (from now on, if the loop is running)."""
        if tenant in self.tenants:
            return
        self.tenants.append(tenant)
        if self._nursery is not None:
            self._nursery.start_soon(self._serve_scoped, tenant)

    def remove(self, tenant: Tenant) -> None:
        """Stop serving ``tenant``: its events and timers stop at once."""
        if tenant in self.tenants:
            self.tenants.remove(tenant)
        scope = self._scopes.pop(tenant.name, None)
        if scope is not None:
            scope.cancel()

    def wake(self) -> None:
        """Let every tenant look at its queue and timers now."""
        for tenant in self.tenants:
            tenant.has_work.set()

    def pause(self, why: str) -> None:
        """Stop running events (the store cannot save them) and say why."""
        if self.paused is None:
            self.announce(f"{{red}}{why}{{/}}\n")
            self._resumed = trio.Event()
        self.paused = why

    def resume(self) -> None:
        if self.paused is not None:
            self.paused = None
            self.announce("{green}The world can save again. Carry on!{/}\n")
            self._resumed.set()

    async def step(self) -> bool:
        """One round over every tenant, one after another: collect due
        timers, give each busy tenant a turn. Returns True if any tenant
        still has work queued. (For tools and tests that drive the world
        without running the loop.)"""
        for tenant in self.tenants:
            tenant.collect_due(tenant.clock())
        for tenant in list(self.tenants):
            if tenant.busy:
                await tenant.run_turn()
        return any(t.busy for t in self.tenants)

    async def run(self) -> None:
        """Serve every tenant until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                for tenant in self.tenants:
                    nursery.start_soon(self._serve_scoped, tenant)
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def _serve_scoped(self, tenant: Tenant) -> None:
        with trio.CancelScope() as scope:
            self._scopes[tenant.name] = scope
            await self.serve(tenant)

    async def serve(self, tenant: Tenant) -> None:
        """Run one tenant's events and timers until cancelled."""
        while True:
            if self.paused is not None:
                await self._resumed.wait()
                continue
            tenant.collect_due(tenant.clock())
            if tenant.busy:
                await tenant.run_turn()
                await trio.sleep(0)  # let I/O and other tenants in between turns
                continue
            tenant.has_work = trio.Event()
            if tenant.busy:
                continue  # queued just before the event was replaced
            due = tenant.next_due()
            seconds = math.inf if due is None else max(0.0, (due - tenant.clock()) / 1000)
            with trio.move_on_after(seconds):
                await tenant.has_work.wait()

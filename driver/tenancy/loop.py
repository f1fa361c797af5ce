"""The loop that runs tenants' events on one trio task.

Each round collects every tenant's due timers, then gives each tenant with
work a turn (bounded in time, see :meth:`Tenant.run_turn`), rotating who
goes first. Between rounds the loop yields to trio, so sockets are served;
when no tenant has work it sleeps until the next timer or until
:meth:`Loop.wake` (input arrived).

When the store cannot save (a full disk), persistence calls :meth:`pause`:
no event runs until :meth:`resume`.
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
        self._wake = trio.Event()

    def wake(self) -> None:
        """Input arrived: let the loop run it now."""
        self._wake.set()

    def pause(self, why: str) -> None:
        """Stop running events (the store cannot save them) and say why."""
        if self.paused is None:
            self.announce(f"{{red}}{why}{{/}}\n")
        self.paused = why

    def resume(self) -> None:
        if self.paused is not None:
            self.paused = None
            self.announce("{green}The world can save again. Carry on!{/}\n")
            self.wake()

    def step(self) -> bool:
        """Run one round: collect due timers, give each busy tenant a turn.
        Returns True if any tenant still has work queued."""
        tenants = self.tenants
        for tenant in tenants:
            tenant.collect_due(tenant.clock())
        for tenant in list(tenants):
            if tenant.busy:
                tenant.run_turn()
        # Rotate so that the same tenant does not always go first.
        if len(tenants) > 1:
            tenants.append(tenants.pop(0))
        return any(t.busy for t in tenants)

    def _sleep_seconds(self) -> float:
        soonest = math.inf
        for tenant in self.tenants:
            due = tenant.next_due()
            if due is not None:
                soonest = min(soonest, (due - tenant.clock()) / 1000)
        return max(0.0, soonest)

    async def run(self) -> None:
        while True:
            if self.paused is not None:
                self._wake = trio.Event()
                with trio.move_on_after(0.5):
                    await self._wake.wait()
                continue
            if self.step():
                await trio.sleep(0)  # let I/O in between turns
                continue
            self._wake = trio.Event()
            with trio.move_on_after(self._sleep_seconds()):
                await self._wake.wait()

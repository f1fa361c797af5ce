"""Guest work yields the CPU to the driver.

Sandbox workers and compiles run beside the driver, often on the same core.
When a player's command wakes the driver while a worker burns a heartbeat's
fuel, the driver should run at once, not after the worker's time slice:
that wait was most of the tail of a bystander's latency while another
tenant ran hostile code (bench/tenants.py). So a worker or a compile lowers
its own priority (a positive nice, which any process may do) and tells the
scheduler it is batch work (SCHED_BATCH: it does not preempt on wakeup).
Fairness *between* tenants is the budgets' job, not the scheduler's.
"""

from __future__ import annotations

import os

#: How much nicer than the driver guest work runs (CFS weight 1024 vs ~110 at 10).
GUEST_NICE = 10


def yield_to_driver(nice: int = GUEST_NICE) -> None:
    """Lower this process's priority below the driver's (best effort: a
    platform without these calls keeps its priority)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    except (AttributeError, OSError):
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass

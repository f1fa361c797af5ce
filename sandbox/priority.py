"""Guest work yields the CPU to the driver, and to other guests' short calls.

Sandbox workers and compiles run beside the driver, often on the same core.
When a player's command wakes the driver while a worker burns a heartbeat's
fuel, the driver should run at once, not after the worker's time slice:
that wait was most of the tail of a bystander's latency while another
tenant ran hostile code (bench/tenants.py). So a worker or a compile lowers
its own priority (the highest nice, which any process may set) and tells the
scheduler it is batch work (SCHED_BATCH: it does not preempt on wakeup).

Workers of different tenants share the cores at the same priority, so a
tenant's short call could still wait out another tenant's long one for a
whole time slice (1.4 ms by default). Where the kernel takes a custom slice
for ordinary tasks (Linux 6.12+, ``sched_setattr``'s ``sched_runtime``), a
worker asks for a short one, so a waking worker with a quick call gets the
core within about half a millisecond. Fairness *between* tenants over time
is the budgets' job, not the scheduler's.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

#: How much nicer than the driver guest work runs (the most a process may set).
GUEST_NICE = 19
#: The time slice a worker asks for, in nanoseconds (the kernel allows 0.1-100 ms).
GUEST_SLICE_NS = 500_000

_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
_SCHED_BATCH = 3
# struct sched_attr: size, policy, flags, nice, priority, runtime, deadline,
# period, util_min, util_max.
_SCHED_ATTR = struct.Struct("IIQiIQQQII")


def yield_to_driver(nice: int = GUEST_NICE, slice_ns: int = GUEST_SLICE_NS) -> None:
    """Lower this process's priority below the driver's and shorten its time
    slice (best effort: a platform without these calls keeps its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    except (AttributeError, OSError):
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        return
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        current = os.getpriority(os.PRIO_PROCESS, 0)
        attr = ctypes.create_string_buffer(
            _SCHED_ATTR.pack(_SCHED_ATTR.size, _SCHED_BATCH, 0, current, 0, slice_ns, 0, 0, 0, 0),
            _SCHED_ATTR.size,
        )
        libc.syscall(number, 0, attr, 0)  # an older kernel refuses (EINVAL): keep its slice
    except (OSError, AttributeError):
        pass

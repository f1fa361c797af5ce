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

Within that, a call that has run long gives way (:class:`LongCalls`): once
a guest call has run :data:`LONG_CALL_S`, the worker's thread drops to
``SCHED_IDLE`` until the call ends, so a quick call of another tenant (a
player's command) that wakes on the same core preempts it at once instead
of sharing the core with it. Only a machine with no idle time slows the long
call down further; the deadline still bounds it, as ever.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import threading
import time

#: How much nicer than the driver guest work runs (the most a process may set).
GUEST_NICE = 19
#: The time slice a worker asks for, in nanoseconds (the kernel allows 0.1-100 ms).
GUEST_SLICE_NS = 500_000
#: How long a guest call runs before it gives way to every other process.
LONG_CALL_S = 0.002

_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}
_SCHED_BATCH = 3
_SCHED_IDLE = 5
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
    _set_attr(0, _SCHED_BATCH, os.getpriority(os.PRIO_PROCESS, 0), slice_ns)


def _set_attr(tid: int, policy: int, nice: int, slice_ns: int) -> bool:
    """``sched_setattr`` for one thread (0: the caller); False where the
    kernel or the platform refuses."""
    number = _SCHED_SETATTR.get(platform.machine())
    if number is None:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        attr = ctypes.create_string_buffer(
            _SCHED_ATTR.pack(_SCHED_ATTR.size, policy, 0, nice, 0, slice_ns, 0, 0, 0, 0),
            _SCHED_ATTR.size,
        )
        # An older kernel refuses a custom slice (EINVAL): keep its own.
        return int(libc.syscall(number, tid, attr, 0)) == 0
    except (OSError, AttributeError):
        return False


class LongCalls:
    """Demotes the thread that runs guest calls while a call runs long.

    The worker's main thread brackets each call with :meth:`begin` and
    :meth:`end`; :meth:`check`, from the engine's epoch ticker (another
    thread, which runs while wasm does), moves the main thread to
    ``SCHED_IDLE`` once the call has run ``after_s``, and :meth:`end` puts
    it back as it was. One lock keeps a demotion from landing after the
    call it was for has ended.
    """

    def __init__(self, after_s: float = LONG_CALL_S, slice_ns: int = GUEST_SLICE_NS) -> None:
        self.after_s = after_s
        self.slice_ns = slice_ns
        self.tid = threading.get_native_id()
        self.demotions = 0
        self._lock = threading.Lock()
        self._since: float | None = None
        self._demoted = False
        self._nice = GUEST_NICE
        #: Whether demotions happen at all: leaving SCHED_IDLE needs
        #: CAP_SYS_NICE or a high enough RLIMIT_NICE, and a thread that could
        #: not come back would run every later call as idle work.
        self.enabled = _can_leave_idle(slice_ns)

    def begin(self) -> None:
        with self._lock:
            self._since = time.perf_counter()

    def end(self) -> None:
        with self._lock:
            self._since = None
            if self._demoted:
                self._demoted = False
                if not _set_attr(self.tid, _SCHED_BATCH, self._nice, self.slice_ns):
                    _set_attr(self.tid, _SCHED_BATCH, self._nice, 0)

    def check(self) -> None:
        with self._lock:
            since = self._since
            if (
                since is None
                or self._demoted
                or not self.enabled
                or time.perf_counter() - since < self.after_s
            ):
                return
            try:
                self._nice = os.getpriority(os.PRIO_PROCESS, self.tid)
            except OSError:
                return
            # The nice value is kept, for the way back.
            if _set_attr(self.tid, _SCHED_IDLE, self._nice, 0):
                self._demoted = True
                self.demotions += 1


def _can_leave_idle(slice_ns: int) -> bool:
    """Whether a thread of this process, at its nice value, may go to
    SCHED_IDLE and back. Tried for real in a thread of its own, which is
    left behind (it exits) if the way back is refused."""
    answer: list[bool] = []

    def probe() -> None:
        try:
            nice = os.getpriority(os.PRIO_PROCESS, 0)
        except OSError:
            answer.append(False)
            return
        answer.append(
            _set_attr(0, _SCHED_IDLE, nice, 0)
            and (_set_attr(0, _SCHED_BATCH, nice, slice_ns) or _set_attr(0, _SCHED_BATCH, nice, 0))
        )

    thread = threading.Thread(target=probe, name="jitrealm-sched-probe")
    thread.start()
    thread.join()
    return answer == [True]

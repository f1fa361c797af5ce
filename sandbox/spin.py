"""Adaptive spinning: wait for the other end of a channel by polling, briefly.

Every crossing between the driver and a sandbox worker is a round trip
over a socketpair, and on a virtual machine whose idle CPUs halt at once
(no halt polling), waking a process that sleeps in ``recv`` or
``epoll_wait`` costs tens of microseconds of latency and of CPU on both
sides: a measured Python ping-pong between two processes takes ~95 µs a
round trip when both block and ~15 µs when both poll. A light guest's whole
call costs less than one such wake-up, so one tenant's chain of light calls
spent most of its time waking processes up.

So a side that expects an answer soon polls for it for at most
``limit_s`` before it blocks, the way an adaptive mutex spins before it
sleeps. Polling only pays on a core nobody else wants, so it stops:

* when none of the last few waits ended within the limit (the other side
  is running long calls, or a player is simply not typing): polling would
  only burn CPU; a single short wait turns it on again;
* while the process may run on one CPU only (it would spin on the core the
  other side needs to answer);
* while this thread has been kept waiting for a CPU (its run-queue delay,
  from ``/proc/thread-self/schedstat``, over the last
  :data:`PROBE_PERIOD_S`): other programs, or the other side, want the
  core it would spin on. Where that file does not exist it never polls.

The class is sans-IO as far as the channel goes: the caller polls and
reports how long each wait took.
"""

from __future__ import annotations

import os
import time
from typing import Final

#: Waits remembered: after this many long ones in a row, stop polling.
MEMORY: Final = 4
#: How often the run-queue delay is read, and the share of that time spent
#: waiting for a CPU above which the core is taken to be wanted.
PROBE_PERIOD_S: Final = 0.05
CONTENDED_SHARE: Final = 0.05
SCHEDSTAT: Final = "/proc/thread-self/schedstat"


class AdaptiveSpin:
    """Whether the next wait should poll first, from how the last ones went
    and whether this thread had to wait for a CPU lately. Made in the
    thread that waits (it reads that thread's scheduler statistics)."""

    __slots__ = (
        "limit_s",
        "cpus",
        "_recent",
        "_schedstat",
        "_probed_at",
        "_delay_ns",
        "_contended",
    )

    def __init__(self, limit_s: float, schedstat: str = SCHEDSTAT) -> None:
        self.limit_s = limit_s
        # One bit per recent wait, newest lowest: 1 if it ended within the
        # limit. Starts as if they all had: the first waits poll.
        self._recent = (1 << MEMORY) - 1
        # Opened for each reading, not kept: a worker holds no descriptor
        # but its channel.
        self._schedstat: str | None = schedstat
        self._contended = False
        self._probed_at = time.perf_counter()
        self._delay_ns = self._run_delay()
        #: The CPUs this process may run on, as of the last reading.
        self.cpus = _cpus()

    @property
    def polling(self) -> bool:
        """Whether to poll before blocking."""
        if self._recent == 0:
            return False
        if self._schedstat is not None:
            now = time.perf_counter()
            if now - self._probed_at >= PROBE_PERIOD_S:
                delay = self._run_delay()
                if self._schedstat is None:
                    return False
                waited = (delay - self._delay_ns) / 1e9
                self._contended = waited > CONTENDED_SHARE * (now - self._probed_at)
                self._probed_at, self._delay_ns = now, delay
                self.cpus = _cpus()
        return not self._contended and self.cpus > 1

    def waited(self, seconds: float) -> None:
        """Record one wait, whether it was spent polling or blocked."""
        self._recent = ((self._recent << 1) | (seconds <= self.limit_s)) & ((1 << MEMORY) - 1)

    def _run_delay(self) -> int:
        """Nanoseconds this thread has spent runnable but not running (if
        the statistics cannot be read, polling stops for good)."""
        assert self._schedstat is not None
        try:
            with open(self._schedstat, "rb", buffering=0) as f:
                return int(f.read(128).split()[1])
        except (OSError, IndexError, ValueError):
            self._schedstat = None
            self._contended = True
            return 0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

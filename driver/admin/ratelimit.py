"""Failed authentications, counted per client address, so nobody can guess
tokens at line rate.

An address with ``limit`` failures within ``window`` seconds is refused
(429) until the oldest of them is ``window`` old, without its token even
being looked at. At most ``max_addresses`` addresses are remembered (the
least recently failing are forgotten first), so a flood from many
addresses costs bounded memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        *,
        max_addresses: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 if it may now."""
        times = self._failures.get(address)
        if times is None:
            return 0.0
        now = self._clock()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return 0.0
        if len(times) < self.limit:
            return 0.0
        return max(times[0] + self.window - now, 0.0)

    def failed(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        times = self._failures.pop(address, None)
        if times is None:
            times = deque(maxlen=self.limit)
        times.append(self._clock())
        self._failures[address] = times  # most recent last
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)

    def __len__(self) -> int:
        return len(self._failures)

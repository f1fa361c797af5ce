"""Input rate limiting shared by the transports."""

from __future__ import annotations

import trio


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up, on trio's clock.

    Each input line (or message) takes a token; a client that types faster
    than ``rate`` gets its excess dropped instead of queueing work."""

    # One per connection, idle most of the time: no __dict__.
    __slots__ = ("_rate", "_burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._stamp = trio.current_time()

    def take(self, now: float | None = None) -> bool:
        """Take a token if there is one. ``now``: trio's clock, when the
        caller has just read it."""
        if now is None:
            now = trio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

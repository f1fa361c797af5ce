"""Time-based events of one tenant: callouts, heartbeats and resets.

All three are entries in :class:`TimerQueue`, a binary heap ordered by (due
time, sequence number), so entries that fall due at the same millisecond come
out in the order they were scheduled (FIFO). Cancelling marks an entry dead
instead of searching the heap; dead entries are skipped when they surface.

Times are milliseconds on the tenant's monotonic clock. Zero-delay callouts
do not come through here: the tenant runs them as follow-ups of the current
event (see :mod:`driver.tenancy.tenant`).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


#: A heap entry: [due, sequence, item, alive] (a list, so cancelling can mark it).
Entry = list[Any]


class TimerQueue(Generic[T]):
    """A heap of (due, seq, item) with lazy cancellation."""

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def push(self, due: float, item: T) -> Entry:
        entry = [due, next(self._seq), item, True]
        heapq.heappush(self._heap, entry)
        self._live += 1
        return entry

    def cancel(self, entry: Entry) -> bool:
        if not entry[3]:
            return False
        entry[3] = False
        self._live -= 1
        return True

    def next_due(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][3]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> Iterator[T]:
        """Yield every live item due at or before ``now``, in order."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if entry[3]:
                entry[3] = False
                self._live -= 1
                yield entry[2]


@dataclass(slots=True)
class Callout:
    handle: int
    object_id: str
    method: str
    args: bytes
    due: float
    entry: Entry | None = field(default=None, repr=False)


class Callouts:
    """Pending callouts with handles, cancel, and per-object lookup."""

    def __init__(self) -> None:
        self.queue: TimerQueue[Callout] = TimerQueue()
        self.by_handle: dict[int, Callout] = {}

    def __len__(self) -> int:
        return len(self.by_handle)

    def schedule(self, callout: Callout) -> None:
        callout.entry = self.queue.push(callout.due, callout)
        self.by_handle[callout.handle] = callout

    def cancel(self, handle: int, owner: str | None = None) -> bool:
        callout = self.by_handle.get(handle)
        if callout is None or (owner is not None and callout.object_id != owner):
            return False
        del self.by_handle[handle]
        if callout.entry is not None:
            self.queue.cancel(callout.entry)
        return True

    def pending(self, handle: int, owner: str) -> bool:
        callout = self.by_handle.get(handle)
        return callout is not None and callout.object_id == owner

    def pop_due(self, now: float) -> Iterator[Callout]:
        for callout in self.queue.pop_due(now):
            self.by_handle.pop(callout.handle, None)
            yield callout

    def for_object(self, object_id: str) -> list[Callout]:
        return sorted(
            (c for c in self.by_handle.values() if c.object_id == object_id),
            key=lambda c: (c.due, c.handle),
        )

    def drop_object(self, object_id: str) -> list[int]:
        """Cancel every callout of ``object_id``; returns their handles."""
        doomed = [c.handle for c in self.by_handle.values() if c.object_id == object_id]
        for handle in doomed:
            self.cancel(handle)
        return doomed

    def next_due(self) -> float | None:
        return self.queue.next_due()


class Periodic:
    """Per-object periodic events (heartbeats, resets): one entry per object."""

    def __init__(self, jitter: float = 0.0, rng: random.Random | None = None) -> None:
        self.queue: TimerQueue[str] = TimerQueue()
        self.entries: dict[str, tuple[float, Entry]] = {}  # object id -> (interval, entry)
        self.jitter = jitter
        self.rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self.entries)

    def _delay(self, interval: float) -> float:
        if not self.jitter:
            return interval
        return interval * (1 + self.rng.uniform(-self.jitter, self.jitter))

    def set(self, object_id: str, interval: float, now: float) -> None:
        """Start (or change, or with interval 0 stop) ``object_id``'s period."""
        self.stop(object_id)
        if interval > 0:
            entry = self.queue.push(now + self._delay(interval), object_id)
            self.entries[object_id] = (interval, entry)

    def restore(self, object_id: str, interval: float, due: float) -> None:
        """Re-arm ``object_id`` for ``due`` (a restored schedule)."""
        self.stop(object_id)
        self.entries[object_id] = (interval, self.queue.push(due, object_id))

    def stop(self, object_id: str) -> None:
        old = self.entries.pop(object_id, None)
        if old is not None:
            self.queue.cancel(old[1])

    def interval(self, object_id: str) -> float:
        found = self.entries.get(object_id)
        return found[0] if found else 0

    def due_at(self, object_id: str) -> float | None:
        found = self.entries.get(object_id)
        return found[1][0] if found else None

    def pop_due(self, now: float) -> Iterator[str]:
        """Yield due object ids and re-arm each for its next period."""
        for object_id in list(self.queue.pop_due(now)):
            interval, _ = self.entries[object_id]
            # Re-arm from now, not from the due time: a tenant that fell behind
            # does not get a burst of catch-up heartbeats.
            self.entries[object_id] = (interval, self.queue.push(now + self._delay(interval), object_id))
            yield object_id

    def next_due(self) -> float | None:
        return self.queue.next_due()

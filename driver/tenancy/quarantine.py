"""Quarantine: stop what keeps failing, until a new version or a wizard.

An object that fails (traps, runs out of fuel, passes its deadline) or hits
its budgets ``quarantine_strikes`` times within ``quarantine_window_s`` is
quarantined: its timers are dropped and no hook of it runs. A blueprint whose
objects together strike three times as often is quarantined whole: that
catches storms of many short-lived objects (a clone storm), each of which
strikes only once. Publishing a new version of a blueprint lifts its
quarantine and its objects'; so does a wizard's ``release``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from driver.tenancy.quotas import Quotas

#: A blueprint's objects strike together: it takes this many times an
#: object's strikes to quarantine the blueprint.
BLUEPRINT_FACTOR = 3


class Quarantine:
    """Strikes and quarantined objects and blueprints of one tenant."""

    def __init__(self, quotas: Quotas, clock: Callable[[], float]) -> None:
        self.quotas = quotas
        self.clock = clock  # milliseconds
        self.objects: set[str] = set()
        self.blueprints: set[str] = set()
        self._strikes: dict[str, deque[float]] = {}

    def holds(self, object_id: str, blueprint: str | None) -> bool:
        return object_id in self.objects or (blueprint is not None and blueprint in self.blueprints)

    def _count(self, key: str, now: float) -> int:
        times = self._strikes.get(key)
        if times is None:
            times = self._strikes[key] = deque()
        times.append(now)
        horizon = now - self.quotas.quarantine_window_s * 1000
        while times and times[0] < horizon:
            times.popleft()
        return len(times)

    def strike(self, object_id: str, blueprint: str | None) -> list[str]:
        """Count a failure or budget hit; return what is newly quarantined
        (an object id and/or a blueprint path)."""
        now = self.clock()
        limit = self.quotas.quarantine_strikes
        caught: list[str] = []
        if object_id not in self.objects and self._count(object_id, now) >= limit:
            self.objects.add(object_id)
            self._strikes.pop(object_id, None)
            caught.append(object_id)
        if blueprint is not None and blueprint not in self.blueprints:
            if self._count("bp:" + blueprint, now) >= limit * BLUEPRINT_FACTOR:
                self.blueprints.add(blueprint)
                self._strikes.pop("bp:" + blueprint, None)
                caught.append(blueprint)
        if len(self._strikes) > 10_000:
            self._prune(now)
        return caught

    def _prune(self, now: float) -> None:
        horizon = now - self.quotas.quarantine_window_s * 1000
        for key in [k for k, t in self._strikes.items() if not t or t[-1] < horizon]:
            del self._strikes[key]

    def release(self, name: str) -> bool:
        """Lift the quarantine of an object id or a blueprint path."""
        found = name in self.objects or name in self.blueprints
        self.objects.discard(name)
        self.blueprints.discard(name)
        self._strikes.pop(name, None)
        self._strikes.pop("bp:" + name, None)
        return found

    def release_blueprint(self, blueprint: str, object_ids: list[str]) -> None:
        """A new version: the blueprint and its objects start afresh."""
        self.release(blueprint)
        for object_id in object_ids:
            self.release(object_id)

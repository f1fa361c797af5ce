"""What changed in a tenant since the last commit.

The tenant marks what its events touch; the persistence layer turns the
marks into rows (reading the live objects at that moment) and writes them in
one transaction. Marks are ids, not copies, so tracking costs a set insert
per change whether or not anything persists.
"""

from __future__ import annotations


class Changes:
    """Ids of what changed (see module docstring)."""

    __slots__ = (
        "objects", "deleted", "callouts", "callouts_gone", "resets", "blueprints", "counters", "errors",
    )  # fmt: skip

    def __init__(self) -> None:
        self.objects: set[str] = set()  # created or changed (record or state)
        self.deleted: set[str] = set()
        self.callouts: set[int] = set()  # scheduled
        self.callouts_gone: set[int] = set()  # fired or cancelled
        self.resets: set[str] = set()  # reset schedule (re)armed
        self.blueprints: set[str] = set()  # published a new version
        self.counters = False  # clone counter or callout handle counter moved
        self.errors = False  # guest errors recorded (the tenant's error log has rows to save)

    def __bool__(self) -> bool:
        return bool(
            self.objects or self.deleted or self.callouts or self.callouts_gone
            or self.resets or self.blueprints or self.counters or self.errors
        )

    def object(self, object_id: str) -> None:
        self.objects.add(object_id)
        self.deleted.discard(object_id)

    def delete(self, object_id: str) -> None:
        self.objects.discard(object_id)
        self.deleted.add(object_id)

    def callout(self, handle: int) -> None:
        self.callouts.add(handle)
        self.callouts_gone.discard(handle)

    def callout_gone(self, handle: int) -> None:
        self.callouts.discard(handle)
        self.callouts_gone.add(handle)

    def take(self) -> Changes:
        """Hand over everything marked so far and start afresh."""
        taken = Changes()
        for name in self.__slots__:
            setattr(taken, name, getattr(self, name))
        self.__init__()  # type: ignore[misc]
        return taken

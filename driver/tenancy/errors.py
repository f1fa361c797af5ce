"""What goes wrong in a tenant's world: refusals the caller shows, and the
record of a guest's failure that the tenant keeps for its wizards."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


class WorldError(Exception):
    """A request the world cannot carry out; the message is for the asker."""


class NoSuchBlueprint(WorldError):
    """No blueprint by that path, or it has no version that can run."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no such blueprint: {path}")
        self.path = path


class NotBuilt(WorldError):
    """The blueprint's source exists, but the build produced nothing to run."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no built component for {path}")
        self.path = path


class QuotaExceeded(WorldError):
    """Carrying the request out would break one of the tenant's quotas."""


@dataclass(slots=True, frozen=True)
class GuestErrorRecord:
    """One hook call that failed: kept (bounded) for the tenant's wizards.

    ``ref`` is the short reference the player who met the failure was
    shown instead of the details ("The lever jams. (ref 7f3a2c)"), so a
    wizard can find the record from a player's report; ``actor`` is that
    player (None when no player's action caused it: a callout, a heartbeat).
    ``blueprint`` and ``version`` say which code failed (an author reading
    errors after publishing wants to know whether it was the new version);
    ``seq`` numbers the tenant's records, one after another, across restarts.
    Budget hits are records of kind ``host-limit``; a quarantine is a record
    of kind :data:`QUARANTINED`.
    """

    at: float  # wall clock seconds
    object_id: str
    hook: str
    kind: str
    message: str
    ref: str = ""
    actor: str | None = None
    blueprint: str | None = None
    version: str | None = None
    seq: int = 0

    def to_plain(self) -> dict[str, Any]:
        """Plain data for the store (an :class:`~driver.store.records.ErrorRow`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> GuestErrorRecord | None:
        """A record read back from the store; None if it is not one (fields
        this version does not know are ignored, missing ones defaulted)."""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError:
            return None


#: The kind of the record made when an object or blueprint is quarantined.
QUARANTINED = "quarantined"


class NoSuchTenant(WorldError):
    """No tenant (world) by that name on this server."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no such tenant: {name}")
        self.name = name


class TenantExists(WorldError):
    """A tenant by that name already exists (or existed and is being deleted)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"tenant {name} already exists")
        self.name = name


class NoSuchVersion(WorldError):
    """The blueprint has no such version (published and still kept)."""

    def __init__(self, path: str, version: str) -> None:
        super().__init__(f"{path} has no version {version}")
        self.path, self.version = path, version


class BadRequest(WorldError):
    """The request itself is wrong (an unknown quota, a value out of range,
    a bad name): nothing was changed."""

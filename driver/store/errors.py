"""What can go wrong with a store, as exceptions the driver can act on.

Every failure is a :class:`StoreError` with a message meant for the operator
(it names the data directory or file and says what to do), because these are
reported at start-up or by the CLI, far from the code that raised them.
A store never "repairs" anything by recreating it: refusing is always safe,
guessing is not.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store failure."""


class SchemaTooNewError(StoreError):
    """The data was written by a newer JitRealm with a schema this one does not know."""


class SchemaTooOldError(StoreError):
    """The data needs a migration that this way of opening cannot run (read-only)."""


class StoreLockedError(StoreError):
    """Another process is using the data directory."""


class StoreCorruptError(StoreError):
    """The database file is damaged or is not a JitRealm database."""


class StoreFullError(StoreError):
    """The disk (or the configured size limit) is full. The failed commit was
    rolled back; everything committed before it is intact, and the store works
    again once there is room."""


class StoreIOError(StoreError):
    """The operating system failed a read or write (other than running out of
    space). Stop accepting changes: what is on disk may not be what was asked."""


class StoreClosedError(StoreError):
    """The store was used after :meth:`close`."""


class DumpError(StoreError):
    """A dump file is malformed, truncated, corrupt or of an unknown version."""


class RestoreTargetError(StoreError):
    """The directory given to restore into cannot take a restore (not empty)."""

"""An exclusive lock on a data directory, so two servers never share one.

SQLite's own locking keeps the *file* consistent, but two driver processes
writing the same world would each believe their in-memory world is the truth
and overwrite each other's changes. ``flock`` on ``<data>/jitrealm.lock`` is
held for the life of the store and released by the kernel when the process
dies, even on SIGKILL, so a crash never leaves a stale lock behind.

Caveat for whoever spawns processes: a *forked* child inherits the lock
(``O_CLOEXEC`` only covers ``exec``) and keeps it held if the parent dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from driver.store.errors import StoreError, StoreLockedError

LOCK_NAME = "jitrealm.lock"


class DirLock:
    """A held ``flock`` on ``<data_dir>/jitrealm.lock``; :meth:`release` it."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DirLock:
        """Take the lock without waiting, or raise :class:`StoreLockedError`."""
        path = data_dir / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise StoreLockedError(
                f"the data directory {data_dir} is in use by another JitRealm process{who}; "
                "stop it first, or use a different --data directory"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path}: {exc.strerror}") from exc
        # The pid is only a hint for the message above; the flock is the lock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(data_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays: deleting a lock file
        races with a process that has just opened it."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None

"""A tenant's guest log: what its code said, for its authors.

Guest code logs with the host call ``log(level, text)``, and a Python
blueprint's ``print()`` and stderr come through as the levels ``stdout`` and
``stderr``. Each line is kept with its time, object, blueprint@version and
level: the newest :data:`KEEP` in memory (the wizard's ``logs``, the API)
and, through the commit loop, on disk (:mod:`driver.store.logfiles`,
``jitrealm logs --data``).

Levels are ordered ``debug < info < warn < error``; ``stdout`` ranks as
``info`` and ``stderr`` as ``warn``, so ``--level warn`` shows a Python
traceback printed to stderr as well as ``log("warn", ...)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from driver.tenancy.control import LogLine

#: Lines kept in memory per tenant.
KEEP = 1000

RANKS: dict[str, int] = {
    "trace": 0, "debug": 0, "info": 1, "stdout": 1, "notice": 1,
    "warn": 2, "warning": 2, "stderr": 2, "error": 3, "fatal": 3,
}  # fmt: skip


def rank(level: str) -> int:
    """A level's rank; an unknown level ranks as ``info``."""
    return RANKS.get(level.lower(), 1)


def matches(line: LogLine, blueprint: str | None, level: str | None, since: float | None) -> bool:
    if blueprint is not None and line.blueprint != blueprint and line.object_id != blueprint:
        return False
    if level is not None and rank(line.level) < rank(level):
        return False
    return since is None or line.at > since


def to_row(line: LogLine) -> dict[str, Any]:
    return {"at": line.at, "object": line.object_id, "blueprint": line.blueprint,
            "version": line.version, "level": line.level, "text": line.text}  # fmt: skip


def from_row(row: dict[str, Any]) -> LogLine | None:
    try:
        return LogLine(
            float(row["at"]), str(row["object"]), str(row["level"]), str(row["text"]),
            row.get("blueprint"), row.get("version"),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None


def render(line: LogLine, *, utc: bool = False) -> str:
    """One line as people read it: time, level, object, blueprint@version, text."""
    import time

    stamp = time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(line.at) if utc else time.localtime(line.at)
    )
    where = line.object_id
    if line.blueprint:
        version = f"@{line.version[:12]}" if line.version else ""
        if line.blueprint != line.object_id or version:
            where += f" [{line.blueprint}{version}]"
    return f"{stamp} {line.level:<6} {where}: {line.text}"


class GuestLog:
    """See module docstring."""

    def __init__(self, keep: int = KEEP) -> None:
        self.lines: deque[LogLine] = deque(maxlen=keep)
        self.unsaved: list[LogLine] = []  # for the commit loop (driver.persistence)

    def add(self, at: float, object_id: str, level: str, text: str,
            blueprint: str | None = None, version: str | None = None) -> LogLine:  # fmt: skip
        line = LogLine(at, object_id, level, text, blueprint, version)
        self.lines.append(line)
        self.unsaved.append(line)
        if len(self.unsaved) > 2 * (self.lines.maxlen or KEEP):
            del self.unsaved[: len(self.unsaved) - (self.lines.maxlen or KEEP)]  # nobody commits
        return line

    def take_unsaved(self) -> list[LogLine]:
        taken, self.unsaved = self.unsaved, []
        return taken

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def query(self, limit: int = 100, *, blueprint: str | None = None, level: str | None = None,
              since: float | None = None) -> list[LogLine]:  # fmt: skip
        """The newest ``limit`` matching lines, oldest first."""
        return select(self.lines, limit, blueprint=blueprint, level=level, since=since)


def select(lines: Iterable[LogLine], limit: int = 100, *, blueprint: str | None = None,
           level: str | None = None, since: float | None = None) -> list[LogLine]:  # fmt: skip
    found = [line for line in lines if matches(line, blueprint, level, since)]
    return found[-limit:] if limit > 0 else []

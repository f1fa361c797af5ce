"""A tenant's record of guest errors, for its wizards and its authors.

Three views of the same stream, because each reader needs a different one:

* the newest ``max_errors_kept`` records, in memory (``errors``, the
  wizards' `errors` command, the API's errors endpoint);
* the same records as store rows waiting for the next commit
  (:meth:`ErrorLog.take_unsaved`), so they survive a restart: the store keeps
  the newest N per tenant, and :meth:`ErrorLog.restore` reads them back;
* a count per kind since the server started, which the bounded deque cannot
  give (the usage report's ``errors_by_kind``).

Records are numbered per tenant (``seq``) so an API client can page through
them and a restart continues the numbering.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from collections.abc import Iterable

from driver.store.records import ErrorRow
from driver.tenancy.errors import GuestErrorRecord


class ErrorLog:
    """See module docstring."""

    def __init__(self, tenant: str, keep: int) -> None:
        self.tenant = tenant
        self.records: deque[GuestErrorRecord] = deque(maxlen=max(keep, 0))
        self.by_kind: Counter[str] = Counter()  # since start, not bounded by ``keep``
        self.unsaved: list[ErrorRow] = []  # for the next commit, at most ``keep``
        self.next_seq = 1

    @property
    def keep(self) -> int:
        return self.records.maxlen or 0

    def add(self, record: GuestErrorRecord) -> GuestErrorRecord:
        """Number ``record``, keep it and queue it for the store; returns it numbered."""
        record = dataclasses.replace(record, seq=self.next_seq)
        self.next_seq += 1
        self.records.append(record)
        self.by_kind[record.kind] += 1
        self.unsaved.append(ErrorRow(self.tenant, record.seq, record.at, record.to_plain()))
        if len(self.unsaved) > max(self.keep, 1) * 2:
            # Nobody commits (no store, or it is paused): the store would keep
            # only the newest ``keep`` anyway.
            del self.unsaved[: len(self.unsaved) - self.keep]
        return record

    def take_unsaved(self) -> list[ErrorRow]:
        """The rows recorded since the last call (persistence drains them)."""
        rows, self.unsaved = self.unsaved, []
        return rows

    def resize(self, keep: int) -> None:
        """The ``max_errors_kept`` quota changed: keep the newest ``keep``."""
        if keep != self.keep:
            self.records = deque(self.records, maxlen=max(keep, 0))

    def restore(self, rows: Iterable[ErrorRow]) -> int:
        """Read back what the store kept (this tenant's rows); returns how many.
        The numbering goes on after the highest ``seq`` seen."""
        restored = []
        for row in sorted((r for r in rows if r.tenant == self.tenant), key=lambda r: r.seq):
            record = GuestErrorRecord.from_plain(dict(row.record, seq=row.seq, at=row.at))
            if record is not None:
                restored.append(record)
            self.next_seq = max(self.next_seq, row.seq + 1)
        self.records.extend(restored)
        return len(restored)

"""The operators' log: one line per thing an operator may want to know.

Starts and stops, logins, logouts and failed logins, accounts made,
moderation (kick, ban, unban, broadcast, shutdown, passwd), wizards made
and unmade, publishes, quota changes, guest errors, tenants created,
suspended, resumed and deleted. Each record has a time, a kind and the
tenant (``null`` for the server's own), plus the event's fields::

    from driver import oplog
    oplog.event(oplog.LOGIN, "demo", name="Ann", address="203.0.113.7")

Two formats: ``plain``, one ``key=value`` line for people and grep
(``2025-05-01T12:00:00.123Z login tenant=demo name=Ann address=203.0.113.7``),
and ``json``, one JSON object per line for machines. Values a player typed
(a ban's reason) are quoted in plain lines and escaped in JSON, so no input
can forge a line.

The log is bounded: each kind may write at most ``burst`` lines per
``window`` seconds; what is over that is counted and written afterwards as
one ``suppressed`` record (``of=login_failed count=9412``), so a password
storm or a guest-error storm cannot fill the disk.

Until :func:`configure` is called the records go to the ``jitrealm.oplog``
logger at INFO (which prints nothing unless logging was configured):
libraries and tests may call :func:`event` freely. ``jitrealm run``
configures it (``--log-format``, ``--log-file``; default stderr).

This module is at the bottom of the driver's layers: every part may log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

# -- kinds -----------------------------------------------------------------------------------
# Plain strings (any other kind works too); these are the ones the driver writes.

SERVER_START = "server_start"
SERVER_STOP = "server_stop"
LOGIN = "login"
LOGOUT = "logout"
LINK_LOST = "link_lost"
LOGIN_FAILED = "login_failed"
LOGIN_REFUSED = "login_refused"  # banned account or address
ACCOUNT_CREATED = "account_created"
KICK = "kick"
BAN = "ban"
UNBAN = "unban"
BROADCAST = "broadcast"
SHUTDOWN = "shutdown"
SHUTDOWN_CANCELLED = "shutdown_cancelled"
PASSWD = "passwd"
WIZARD_MADE = "wizard_made"
WIZARD_UNMADE = "wizard_unmade"
PUBLISH = "publish"
QUOTA_CHANGE = "quota_change"
GUEST_ERROR = "guest_error"
TENANT_CREATED = "tenant_created"
TENANT_SUSPENDED = "tenant_suspended"
TENANT_RESUMED = "tenant_resumed"
TENANT_DELETED = "tenant_deleted"
SUPPRESSED = "suppressed"  # written by the log itself: lines over the rate limit

Format = Literal["plain", "json"]
FORMATS: tuple[Format, ...] = ("plain", "json")

DEFAULT_BURST = 50  # lines of one kind ...
DEFAULT_WINDOW = 10.0  # ... per this many seconds

_logger = logging.getLogger("jitrealm.oplog")
_BARE = re.compile(r"[A-Za-z0-9_.:/@#+\-\[\]]+")


@dataclass(slots=True)
class _Budget:
    started: float
    written: int = 0
    suppressed: int = 0


def _iso(at: float) -> str:
    whole = int(at)
    millis = int((at - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def _plain_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)  # quoted, newlines and quotes escaped


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


class OpLog:
    """The log's sink, format and rate limit (see module docstring).

    ``out``: a text stream (None: the ``jitrealm.oplog`` logger). ``clock``
    is monotonic seconds for the rate limit; ``wall`` is the records' time.
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        format: Format = "plain",
        burst: int = DEFAULT_BURST,
        window: float = DEFAULT_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {format!r}")
        self.out = out
        self.format = format
        self.burst = max(1, burst)
        self.window = window
        self.clock = clock
        self.wall = wall
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()
        self._owned = False  # close `out` on close()

    def event(self, kind: str, tenant: str | None, /, **fields: Any) -> bool:
        """Write one record, unless ``kind`` is over its rate; True if written."""
        with self._lock:
            now = self.clock()
            self._roll(now)
            budget = self._budgets.get(kind)
            if budget is None:
                budget = self._budgets[kind] = _Budget(now)
            if budget.written >= self.burst:
                budget.suppressed += 1
                return False
            budget.written += 1
            self._write(kind, tenant, fields)
            return True

    def flush(self) -> None:
        """Write the summaries of whatever was suppressed so far (at stop)."""
        with self._lock:
            for kind, budget in list(self._budgets.items()):
                self._summarise(kind, budget)
                del self._budgets[kind]
            if self.out is not None:
                self.out.flush()

    def close(self) -> None:
        self.flush()
        if self._owned and self.out is not None:
            self.out.close()
            self.out = None

    # -- inside the lock ------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        """Windows that ended: write their summaries and start afresh."""
        for kind, budget in list(self._budgets.items()):
            if now - budget.started >= self.window:
                self._summarise(kind, budget)
                del self._budgets[kind]

    def _summarise(self, kind: str, budget: _Budget) -> None:
        if budget.suppressed:
            self._write(
                SUPPRESSED, None, {"of": kind, "count": budget.suppressed, "window": self.window}
            )
            budget.suppressed = 0

    def _write(self, kind: str, tenant: str | None, fields: dict[str, Any]) -> None:
        at = self.wall()
        if self.format == "json":
            record = {"ts": _iso(at), "kind": kind, "tenant": tenant}
            for key, value in fields.items():
                if key not in record:
                    record[key] = _json_value(value)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        else:
            parts = [_iso(at), _plain_value(kind), f"tenant={_plain_value(tenant)}"]
            parts += [f"{key}={_plain_value(value)}" for key, value in fields.items()]
            line = " ".join(parts)
        if self.out is None:
            _logger.info("%s", line)
            return
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # a full disk or a closed stream must not take the server down


_log = OpLog()


def configure(
    format: Format = "plain",
    file: Path | str | None = None,
    *,
    burst: int = DEFAULT_BURST,
    window: float = DEFAULT_WINDOW,
) -> OpLog:
    """Send the log to ``file`` (appended, created 0600; None: stderr) in
    ``format``; returns the new log (the old one is flushed and closed)."""
    out: TextIO
    owned = file is not None
    if file is not None:
        path = Path(file)
        path.touch(mode=0o600, exist_ok=True)
        out = path.open("a", encoding="utf-8", buffering=1)
    else:
        out = sys.stderr
    log = OpLog(out, format=format, burst=burst, window=window)
    log._owned = owned
    install(log).close()
    return log


def install(log: OpLog) -> OpLog:
    """Make ``log`` the one :func:`event` writes to (tests); returns the previous one."""
    global _log
    previous, _log = _log, log
    return previous


def current() -> OpLog:
    return _log


def event(kind: str, tenant: str | None, /, **fields: Any) -> None:
    """Write one record to the configured log (see module docstring). Never raises
    for the log's sake; cheap when the kind is over its rate."""
    _log.event(kind, tenant, **fields)


def flush() -> None:
    _log.flush()

"""Hostile world code and hostile clients against a bystander: what one
player feels while each attack of the governance issue runs, and what the
server's memory does. Prints one JSON document (about 6-7 minutes).

**The server** is the real one, as an operator starts it: ``python -m
driver.cli run --sandbox workers`` (the default; ``--workers`` left at its
default, one worker per core, unless given; plus the admission worker), the
hostile test world (``tests/worlds/hostile``, built into
``build/bench-worlds/hostile``), a scratch data directory (SQLite: every
answer waits for its group commit), ``JITREALM_ADMIN_PASSWORD`` set, on free
127.0.0.1 ports, with the default quotas and connection limits (nothing
raised). It is started pinned to one CPU (set between fork and exec, so its
sandbox workers inherit it; :mod:`loadgen`'s helpers), the CPU that other
programs used least over the 2 s before the start (other benchmarks pin
their servers to the first CPU); the pin is verified at the start and at the
end (every thread's affinity read back, the process tree's CPU time within
one core's wall time), and a run whose pin did not hold fails (exit 1). This
process, the clients and the flooder run on the other CPU(s).

**The clients** are real telnet connections (raw trio TCP streams that
answer no negotiation, as netcat would):

* the **bystander** (account ``bystander``, made with ``create`` at the
  start, from 127.0.0.2) stands in ``/rooms/start`` and types ``look`` every
  0.5 s for the whole run (under the 10 lines/s input limit), open loop: a
  slow answer never delays the next ``look`` (but a look this process could
  not write within 0.5 s of its time, for want of a CPU, is skipped rather
  than sent in a burst: ``skipped``). A latency runs from just before
  ``look`` is written to when the kernel received the answer's ``Obvious
  exits`` line (``SO_TIMESTAMPNS``: the time this client then waits for a
  CPU to read it is not counted); answers are matched in order. Every
  ``look`` is first offered to the room's guest ``on-command`` (the room
  sets no ``verbs``), so each one needs a sandbox call, in the same worker
  as all of the tenant's calls, besides the driver's turn and the commit;
* the **wizard** (``admin``, from 127.0.0.3), in the same room, starts and
  stops each attack with in-game commands, reads the ``[quarantine]`` and
  ``[error ...]`` notices the server sends wizards, polls ``errors`` once a
  second until the offender's first error shows, and lists ``quarantine``
  at the end of each window (if the server drops the wizard, the next
  command logs in again: ``wizard_dropped``);
* for the connection flood, a **flooder** child process (below) and a
  **probe** (account ``probe``, from 127.0.0.4) that logs in once, 5 s into
  the flood, and quits (a login's password hash runs on the server's core
  too, so the look nearest to it may wait for it).

**Phases**, one after another on the same server: ``no_attack`` (the
bystander alone), then each attack in ``attacks``:

* ``callout_storm``: ``clone /obj/storm`` (each callout schedules two more);
  stopped with ``callouts cancel /obj/storm`` and ``purge /obj/storm``;
* ``fuel_burning_heartbeats``: eleven ``clone /obj/burner`` (a 100 ms
  heartbeat that burns its whole fuel); stopped with ``purge /obj/burner``;
* ``host_call_overrun``: ``clone /obj/reader`` (a heartbeat spending its time
  inside ``state-get`` of a 200 KB value); ``purge /obj/reader``;
* ``state_growth``: ``clone /obj/grower`` (0.9 MB of new state every 100 ms);
  ``purge /obj/grower``;
* ``clone_storm``: ``clone /obj/cloner`` (each clone's ``on-load`` clones two
  more); ``purge /obj/cloner``;
* ``ping_pong``: two ``clone /obj/pinger`` and ``ping <the second>``;
  ``purge /obj/pinger``;
* ``memory_hogs``: ``stat /hogs/hog1`` .. ``hog9`` loads the nine masters,
  each of which touches 48 MB of its linear memory in ``on-load``; stopped
  with ``destruct /hogs/hogN``. Their instances go only when the server's
  idle sweep drops them: it runs every 10 s and drops instances idle for
  60 s, so their memory can come back 60-70 s after they were loaded; the
  "after" of this attack waits up to ``--hog-settle`` (75 s) for it;
* ``connection_flood``: the flooder opens ``--flood-connections`` (5,000)
  telnet connections from one address (127.0.0.99) at ``--flood-rate``
  (500) a second, at most 256 connecting at once, and holds each one idle
  (sending nothing) until the server closes it or the window ends, while
  ``--trickle`` (300) connections from 300 other addresses (127.0.1.x,
  127.0.2.x) send one byte a second and never log in (the flooder process
  is started before the phase and told to go at time 0); stopped by
  closing every connection.

Each phase: ``--lead`` (3 s) of the bystander alone, whose RSS samples give
``rss_mb.before``; the attack starts (time 0: the wizard's first command is
written) and runs for ``--window`` (25 s; ``--baseline`` 20 s for
``no_attack``); the wizard stops it; then the phase waits at least 3 s and
at most ``--settle`` (15 s; ``--hog-settle`` for the hogs) for the RSS to
come back within 10% of ``before``, stopping as soon as it has, and reads
``rss_mb.after`` there. Everything is bounded: each wizard command waits at
most 30-120 s for its answer, the flooder stops by itself 60 s after its
window, and the whole run gives up after ``--max-minutes`` (15).

**Keys of each phase**

* ``bystander_ms``: p50/p99/max (nearest rank) of the latencies of the
  looks *written* inside the window (however late their answer),
  ``samples`` how many, ``skipped`` looks not written (above),
  ``unanswered`` how many never got an answer (the run waits for answers
  until it ends). A look every 0.5 s gives a 25 s window 50 samples, so its
  p99 is its worst answer, as is a 10 s slice's: there are no more samples
  at this rate. ``slowest``: the three slowest looks as [seconds into the
  window when written, ms, ms of the server's core that *other programs*
  used meanwhile, ms the driver's event-loop thread waited for a CPU
  meanwhile, ms this client did] (``/proc/stat`` and ``/proc/PID/schedstat``
  sampled every 20 ms; the server's own workers are not "other programs": a
  burner that delays the driver on its core is the attack, not noise). A
  slow look during which other programs had the server's core for about as
  long says more about the machine than about the server.
* ``bystander_first_10s_ms``, ``bystander_after_10s_ms``: the same for the
  looks written in the first 10 s of the window and in the rest of it;
  ``bystander_recovery_ms`` for those written while the wizard stopped the
  attack and the phase waited for ``after`` (in no goal).
* ``offender``: the blueprint path (or address) the attack comes from.
  ``throttled_at_s``: seconds from the start to the first sign, seen by the
  wizard, that a budget or limit stopped the offender: an ``[error ...]``
  notice about one of its objects (a budget's ``host-limit``, or a ``fuel``
  or ``deadline`` failure), or the first ``errors`` listing showing one.
  ``quarantined_at_s``: to the first ``[quarantine]`` notice naming it.
  Both are when the kernel received the text. ``contained_at_s`` is the
  earlier of the two and ``contained_by`` says what was seen. The memory
  hogs do nothing after ``on-load``: theirs is when the last one was loaded
  (their memory is held to the tenant's total by evicting instances, which
  raises no error). The connection flood's is when the flooder first saw the
  server refuse a connection.
* ``errors_seen``: the offender's error kinds listed by ``errors``, the
  first such line, and the ``[error ...]`` notices by kind;
  ``quarantine_list``: what ``quarantine`` listed at the end of the window;
  ``start``/``stop``: the wizard's commands and what the server answered
  (clones purged, callouts cancelled).
* ``rss_mb``: the server's resident set: the driver process plus every
  process under it (its sandbox workers), each one's ``VmRSS`` from
  ``/proc/PID/status``, summed (pages they share count once per process),
  sampled every 0.5 s: ``before`` (median of the lead's samples),
  ``during_max`` (the window's peak), ``end_of_window``, ``after`` and
  ``after_s`` (seconds after the stop commands were answered at which
  ``after`` was read), ``after_vs_before_percent``,
  ``after_vs_run_start_percent`` (against ``rss_mb_at_start``, before the
  first phase: what earlier attacks left behind) and ``by_process_after``.
* ``server_cpu_percent``: CPU time over the window / its length, of the
  driver process and of its workers. ``driver_cpu_wait_percent``: the share
  of the window the driver's main thread was runnable but had no CPU (its
  own workers had it, or other programs); ``server_core_used_by_others_percent``:
  the share of the window other programs ran on the server's core.
  ``client_lag_ms`` (p99 of how late looks were written) and
  ``client_cpu_wait_percent``: the same for this client.
* ``data_dir_mb``: the size of the data directory before and after the phase.
* ``server_log_lines``: lines the server logged during the phase, and how
  many of them were tracebacks.
* ``goals``: ``p99_le_250ms`` (window p99 <= 250 ms, nothing unanswered),
  ``contained_within_10s`` and ``p99_after_10s_le_50ms`` (the offender was
  throttled or quarantined within 10 s, and the looks after 10 s have p99
  <= 50 ms, nothing unanswered), ``rss_back_within_10pct`` (``after`` <=
  1.10 x ``before``).

The connection flood adds ``flood``: the flooder's counts (attempts
planned and made, connected, closed by the server and why: the per-address cap's message,
the pre-login cap's, the pre-login timeout's, or another close), the most
connections it held open at once, those still open when it stopped, connect
errors by errno, the same for the trickle, one example of what the server
said for each way of closing, ``offered_as_planned`` (every attempt made
and every trickle connection opened: false means the flooder was starved
and the phase is not the attack it says); ``probe_login_ms`` (from connecting to the
room, or ``probe_login_error``) of a login from another address during the
flood, and ``server_open_fds_max``, the most descriptors the driver held.

The top level has the server's command and verified pin (with each CPU's
busy percent before the run), the run's ``goals`` (each over every attack,
``all``) and ``missed`` (which attack missed which goal),
``rss_mb_at_start``, the whole ``server_log`` (lines, tracebacks, its last
lines), ``loadavg_before``, ``server_core_used_by_others_percent`` by phase,
and ``warnings``: the phases in which other programs used more than 10% of
the server's core (the machine is shared; there the latencies include their
time), those in which this client skipped more than 10% of its looks, and
whether the flooder failed to open what it meant to (``flood.offered_as_planned``).
"""

from __future__ import annotations

import argparse
import bisect
import codecs
import contextlib
import errno
import json
import math
import os
import re
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import loadgen
from common import ROOT

WORLD = ROOT / "tests" / "worlds" / "hostile"
ROOM_MARK = b"Obvious exits"
LOGIN_PROMPT = "What is your name?"
BYSTANDER, WIZARD, PROBE = "bystander", "admin", "probe"
BYSTANDER_ADDRESS, WIZARD_ADDRESS, PROBE_ADDRESS = "127.0.0.2", "127.0.0.3", "127.0.0.4"
FLOOD_ADDRESS = "127.0.0.99"
FIRST_SLICE_S = 10.0
GOAL_P99_MS = 250.0
GOAL_CONTAINED_P99_MS = 50.0
GOAL_CONTAINED_WITHIN_S = 10.0
GOAL_RSS_FRACTION = 0.10
NOISY_PERCENT = 10.0  # other programs' share of the server's core that makes a phase noisy

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# What the server tells wizards as it happens: a quarantine, a guest's error.
NOTICE = re.compile(r"\[quarantine\]\s+(?P<held>\S+?):\s|\[error \w+\]\s+(?P<object>\S+)\s+\S+:\s+(?P<kind>\S+)\s")
ERRORS_DONE = re.compile(r"(No recent guest errors\.|Recent guest errors \(\d+ kept\).*?)\n> ", re.S)
ERROR_LINE = re.compile(r"^\s*(\d\d:\d\d:\d\d)\s+(?:\[\w+\]\s+)?(\S+)\s+(\S+):\s+(\S+)\s(.*)$", re.M)
QUARANTINED = re.compile(r"Quarantined: (.*?)\n> ", re.S)
IAC, SB, SE = 255, 250, 240


# -- telnet text ------------------------------------------------------------------------------


def strip_telnet(buf: bytearray) -> bytes:
    """Take the text out of the front of ``buf``, dropping telnet commands;
    an incomplete command at the end stays in ``buf`` for the next read."""
    out = bytearray()
    i, n = 0, len(buf)
    while i < n:
        j = buf.find(IAC, i)
        if j < 0:
            out += buf[i:]
            i = n
            break
        out += buf[i:j]
        if j + 1 >= n:
            i = j
            break
        command = buf[j + 1]
        if command == IAC:
            out.append(IAC)
            i = j + 2
        elif command == SB:
            end = buf.find(bytes((IAC, SE)), j + 2)
            if end < 0:
                i = j
                break
            i = end + 2
        elif 251 <= command <= 254:  # WILL WONT DO DONT <option>
            if j + 2 >= n:
                i = j
                break
            i = j + 3
        else:
            i = j + 2
    del buf[:i]
    return bytes(out)


# -- kernel receive timestamps ------------------------------------------------------------------
#
# A reply is timed from when the kernel received it (SO_TIMESTAMPNS), not
# from when this process got round to reading it: on a shared machine the
# client may wait for a CPU, and that wait is not the server's.

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
TIMESPEC = struct.Struct("@qq")


def enable_timestamps(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


async def receive_stamped(sock: Any, size: int = 65536) -> tuple[bytes, float]:
    """Bytes from a trio socket and when the kernel received them, on
    trio's clock (b"" once closed). Without a timestamp: now."""
    import trio

    try:
        data, ancdata, _, _ = await sock.recvmsg(size, socket.CMSG_SPACE(TIMESPEC.size))
    except (trio.ClosedResourceError, OSError):
        return b"", trio.current_time()
    now, wall = trio.current_time(), time.time()
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(cdata)
            return data, now - max(0.0, wall - (seconds + nanoseconds / 1e9))
    return data, now


class Connection:
    """One telnet client connection: read as text (telnet commands and ANSI
    colours dropped, CR removed), matched with regular expressions."""

    def __init__(self, stream: Any, who: str, notices: list[tuple[float, str, str]] | None = None) -> None:
        import trio

        self.stream = stream
        self.who = who
        self.raw = bytearray()
        self.text = ""
        self._held = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.changed = trio.Event()
        self.closed = False
        self.closed_at: float | None = None
        # (arrival, "quarantine" or the error's kind, what) of the notices
        # read (shared by a wizard's successive connections)
        self.notices: list[tuple[float, str, str]] = [] if notices is None else notices
        self._notice_pos = 0
        self._scope = trio.CancelScope()
        self._ends: list[int] = []  # len(text) after each read...
        self._arrivals: list[float] = []  # ...and when the kernel received it
        enable_timestamps(stream.socket)

    @classmethod
    async def open(cls, port: int, address: str, who: str,
                   notices: list[tuple[float, str, str]] | None = None) -> Connection:
        import trio

        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=address)
        return cls(stream, who, notices)

    def feed(self, data: bytes, now: float) -> None:
        self.raw += data
        text = self._held + self._decoder.decode(strip_telnet(self.raw))
        # An ANSI sequence cut at the end of a read waits for the rest.
        esc = text.rfind("\x1b")
        if esc >= 0 and not re.search(r"[A-Za-z]", text[esc + 1:]):
            text, self._held = text[:esc], text[esc:]
        else:
            self._held = ""
        self.text += ANSI.sub("", text).replace("\r", "")
        self._ends.append(len(self.text))
        self._arrivals.append(now)
        for m in NOTICE.finditer(self.text, self._notice_pos):
            if m.group("held"):
                self.notices.append((now, "quarantine", m.group("held")))
            else:
                self.notices.append((now, m.group("kind"), m.group("object")))
            self._notice_pos = m.end()

    def arrival(self, pos: int) -> float:
        """When the text up to ``pos`` had arrived (the kernel's time)."""
        index = bisect.bisect_left(self._ends, pos)
        return self._arrivals[min(index, len(self._arrivals) - 1)]

    async def reader(self) -> None:
        import trio

        with self._scope:
            while True:
                data, arrived = await receive_stamped(self.stream.socket)
                if not data:
                    self.closed = True
                    self.closed_at = arrived
                    self.changed.set()
                    return
                self.feed(data, arrived)
                self.changed.set()
                self.changed = trio.Event()

    def detach(self) -> None:
        """Stop reading (a cancelled receive loses no data): someone else
        reads the stream from now on."""
        self._scope.cancel()

    async def send(self, line: str) -> None:
        await self.stream.send_all(line.encode() + b"\r\n")

    async def expect(self, pattern: re.Pattern[str], since: int, timeout: float) -> re.Match[str] | None:
        """The first match of ``pattern`` in what arrived from ``since`` on,
        waiting up to ``timeout`` seconds (None: it never came)."""
        import trio

        with trio.move_on_after(timeout):
            while True:
                m = pattern.search(self.text, since)
                if m is not None:
                    return m
                if self.closed:
                    return None
                await self.changed.wait()
        return None

    async def command(self, line: str, pattern: str | re.Pattern[str], timeout: float = 30.0) -> re.Match[str] | None:
        since = len(self.text)
        await self.send(line)
        compiled = re.compile(pattern, re.S) if isinstance(pattern, str) else pattern
        return await self.expect(compiled, since, timeout)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.stream.aclose()


async def log_in(nursery: Any, port: int, address: str, name: str, password: str, *, create: bool,
                 notices: list[tuple[float, str, str]] | None = None, timeout: float = 60.0,
                 world: str | None = None) -> Connection:
    """Connect, log in (``connect``) or create the character (``create``),
    and wait for the room; the connection's reader runs in ``nursery``.
    With ``world``, first go to that world's login screen (``world <name>``
    on the shared port)."""
    conn = await Connection.open(port, address, name, notices)
    nursery.start_soon(conn.reader)
    prompt = re.compile(re.escape(LOGIN_PROMPT))
    if await conn.expect(prompt, 0, timeout) is None:
        await conn.aclose()
        raise ConnectionError(f"{name}: no login prompt within {timeout:g} s; got {conn.text[-200:]!r}")
    if world is not None and await conn.command(f"world {world}", prompt, timeout=timeout) is None:
        await conn.aclose()
        raise ConnectionError(f"{name}: no login prompt of world {world} within {timeout:g} s; "
                              f"got {conn.text[-200:]!r}")
    verb = "create" if create else "connect"
    if await conn.command(f"{verb} {name} {password}", "Obvious exits", timeout=timeout) is None:
        await conn.aclose()
        raise ConnectionError(f"{name}: no room within {timeout:g} s of {verb}; got {conn.text[-300:]!r}")
    return conn


class Wizard:
    """The admin's session. If the server drops it, the next command logs in
    again (each drop is recorded with the last thing the server said)."""

    def __init__(self, nursery: Any, port: int, password: str) -> None:
        self.nursery = nursery
        self.port = port
        self.password = password
        self.notices: list[tuple[float, str, str]] = []
        self.conn: Connection | None = None
        self.drops: list[dict[str, Any]] = []
        self.transcripts: list[str] = []  # the text of connections dropped
        self.last_arrival = 0.0  # when the last command's answer arrived

    async def connect(self) -> None:
        self.conn = await log_in(self.nursery, self.port, WIZARD_ADDRESS, WIZARD, self.password, create=False,
                                 notices=self.notices)

    async def _live(self) -> Connection:
        import trio

        if self.conn is not None and not self.conn.closed:
            return self.conn
        if self.conn is not None:
            at = self.conn.closed_at if self.conn.closed_at is not None else trio.current_time()
            self.drops.append({"at": at, "last_text": " ".join(self.conn.text[-300:].split())})
            self.transcripts.append(self.conn.text)
            await self.conn.aclose()
        await self.connect()
        assert self.conn is not None
        return self.conn

    async def command(self, line: str, pattern: str | re.Pattern[str], timeout: float = 30.0) -> re.Match[str] | None:
        import trio

        conn = await self._live()
        try:
            m = await conn.command(line, pattern, timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            conn.closed = True
            return None
        self.last_arrival = conn.arrival(m.end()) if m is not None else trio.current_time()
        return m

    def transcript(self) -> str:
        return "\n".join([*self.transcripts, self.conn.text if self.conn is not None else ""])

    async def send(self, line: str) -> None:
        import trio

        conn = await self._live()
        try:
            await conn.send(line)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            conn.closed = True


# -- the bystander ----------------------------------------------------------------------------


class Bystander:
    """Types ``look`` (or ``command``) every ``interval`` seconds, open loop,
    and times each answer, from just before it is written to when the kernel
    received its ``Obvious exits`` line (or ``marker``; answers are matched
    in order). A look that this process could not write on time because it
    had no CPU for more than an interval is skipped, not sent in a burst
    with the next (``skipped``)."""

    def __init__(self, stream: Any, interval: float, command: bytes = b"look", marker: bytes = ROOM_MARK) -> None:
        self.stream = stream
        self.interval = interval
        self.line = command + b"\r\n"
        self.marker = marker
        self.sent: list[float] = []  # when each look was written
        self.lag: list[float] = []  # how late against its schedule
        self.latency: list[float | None] = []  # None until answered
        self.skipped: list[float] = []  # when a look was due and skipped
        self.waiting: deque[int] = deque()
        self.buf = bytearray()
        self.closed_at: float | None = None
        enable_timestamps(stream.socket)

    async def reader(self) -> None:
        keep = len(self.marker) - 1
        while True:
            data, arrived = await receive_stamped(self.stream.socket)
            if not data:
                self.closed_at = arrived
                return
            self.buf += data
            while self.waiting:
                pos = self.buf.find(self.marker)
                if pos < 0:
                    break
                index = self.waiting.popleft()
                self.latency[index] = max(0.0, arrived - self.sent[index])
                del self.buf[: pos + len(self.marker)]
            if len(self.buf) > keep:
                del self.buf[: len(self.buf) - keep]

    async def pace(self, until: float) -> None:
        import trio

        start = trio.current_time()
        k = 0
        while self.closed_at is None:
            due = start + k * self.interval
            if due >= until:
                return
            await trio.sleep_until(due)
            now = trio.current_time()
            k += 1
            if now - due > self.interval:
                self.skipped.append(due)
                continue
            self.sent.append(now)
            self.lag.append(now - due)
            self.latency.append(None)
            self.waiting.append(len(self.sent) - 1)
            try:
                await self.stream.send_all(self.line)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                self.closed_at = now
                return

    def summary(self, start: float, end: float, origin: float, stalls: Stalls | None = None) -> dict[str, Any]:
        """The looks written in [start, end); ``slowest`` gives the three
        slowest as [seconds from ``origin`` when written, ms, and (with
        ``stalls``) ms of the server's core other programs used meanwhile,
        ms the driver's loop thread and ms this client waited for a CPU]."""
        picked = [i for i, t in enumerate(self.sent) if start <= t < end]
        answered = sorted(x for i in picked if (x := self.latency[i]) is not None)
        slowest = sorted(((x, self.sent[i]) for i in picked if (x := self.latency[i]) is not None), reverse=True)
        lags = sorted(self.lag[i] for i in picked)
        worst: list[list[float]] = []
        for x, sent in slowest[:3]:
            row = [round(sent - origin, 1), ms(x)]
            seen = stalls.during(sent, sent + x) if stalls is not None else None
            if seen is not None:
                row += [ms(seen["others"]), ms(seen["driver"]), ms(seen["client"])]
            worst.append(row)
        return {
            "samples": len(picked),
            "skipped": sum(1 for t in self.skipped if start <= t < end),
            "p50": ms(loadgen.percentile(answered, 50)) if answered else None,
            "p99": ms(loadgen.percentile(answered, 99)) if answered else None,
            "max": ms(answered[-1]) if answered else None,
            "unanswered": len(picked) - len(answered),
            "slowest": worst,
            "_lag_p99": ms(loadgen.percentile(lags, 99)) if lags else None,
        }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


# -- the server from outside --------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def dir_mb(path: Path) -> float:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return round(total / 2**20, 1)


@dataclass
class Sample:
    at: float
    total_mb: float
    by_process: dict[str, float]
    fds: int


class Sampler:
    """The server's RSS (driver + workers) and open descriptors every 0.5 s."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[Sample] = []

    def take(self, now: float) -> Sample:
        by_process: dict[str, float] = {}
        total = 0
        for index, pid in enumerate(sorted(loadgen.process_tree(self.pid))):
            kb = rss_kb(pid)
            total += kb
            name = "driver" if pid == self.pid else f"worker{index}"
            by_process[name] = round(kb / 1024, 1)
        sample = Sample(now, round(total / 1024, 1), by_process, open_fds(self.pid))
        self.samples.append(sample)
        return sample

    async def run(self) -> None:
        import trio

        while True:
            self.take(trio.current_time())
            await trio.sleep(self.every)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.at < end]


class Stalls:
    """What else had the CPUs while a look was answered, sampled every 20 ms:
    how long the driver's event-loop thread, the workers' main threads and
    this process were runnable but had no CPU (``/proc/PID/schedstat``), and
    how much of the server's core other programs used (``/proc/stat`` for
    that core, minus the server's own CPU time; 10 ms ticks). The server's
    own workers count as the server: a burner in a worker delays the driver
    on its core, and that is the attack, not noise."""

    def __init__(self, pid: int, cpu: int, every: float = 0.02) -> None:
        self.pid = pid
        self.cpu = cpu
        self.every = every
        self.at: list[float] = []
        # cumulative seconds: driver wait, workers' wait, client wait, the
        # core's busy time, the server's CPU time
        self.series: list[tuple[float, float, float, float, float]] = []

    def core_busy(self) -> float:
        prefix = f"cpu{self.cpu} "
        try:
            with open("/proc/stat") as f:
                for line in f:
                    if line.startswith(prefix):
                        v = [int(x) for x in line.split()[1:9]]
                        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            pass
        return math.nan

    async def run(self) -> None:
        import trio

        tree: list[int] = []
        refreshed = -math.inf
        me = os.getpid()
        while True:
            now = trio.current_time()
            if now - refreshed > 1.0:
                tree = loadgen.process_tree(self.pid)
                refreshed = now
            worker_wait = sum(w for p in tree if p != self.pid and not math.isnan(w := loadgen.run_delay_seconds(p)))
            server_cpu = sum(c for p in tree if not math.isnan(c := loadgen.cpu_seconds(p)))
            self.at.append(now)
            self.series.append((loadgen.run_delay_seconds(self.pid), worker_wait, loadgen.run_delay_seconds(me),
                                self.core_busy(), server_cpu))
            await trio.sleep(self.every)

    def during(self, start: float, end: float) -> dict[str, float] | None:
        """Seconds between the samples around [start, end]: ``driver``,
        ``workers`` and ``client`` waiting for a CPU, and ``others``' CPU
        time on the server's core."""
        if not self.at:
            return None
        i = max(0, bisect.bisect_right(self.at, start) - 1)
        j = min(len(self.at) - 1, bisect.bisect_left(self.at, end))
        a, b = self.series[i], self.series[j]
        d = [max(0.0, y - x) for x, y in zip(a, b, strict=True)]
        return {"driver": d[0], "workers": d[1], "client": d[2], "others": max(0.0, d[3] - d[4])}


def cpu_split(pid: int) -> tuple[float, float]:
    """(driver, workers) CPU seconds so far."""
    driver = loadgen.cpu_seconds(pid)
    workers = sum(loadgen.cpu_seconds(p) for p in loadgen.process_tree(pid) if p != pid)
    return driver, workers


class LogWatch:
    """Counts what the server wrote to its log (stderr) so far."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def counts(self) -> tuple[int, int]:
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return 0, 0
        return len(text.splitlines()), text.count("Traceback")


# -- attacks ------------------------------------------------------------------------------------


@dataclass
class Context:
    """What an attack's start and stop work with."""

    nursery: Any
    port: int
    wizard: Wizard
    bystander: Bystander
    sampler: Sampler
    stalls: Stalls
    server_pid: int
    probe_password: str
    ns: argparse.Namespace
    notes: dict[str, Any] = field(default_factory=dict)  # what start tells stop and the report


Step = Callable[[Context], Awaitable[dict[str, Any]]]


@dataclass
class Attack:
    name: str
    offender: str
    start: Step
    stop: Step
    settle: float | None = None  # None: --settle
    polls_errors: bool = True
    prepare: Callable[[Context], Awaitable[None]] | None = None  # before the lead


async def wizard_says(ctx: Context, line: str, pattern: str, timeout: float = 30.0) -> str:
    """The wizard types ``line``; returns the matching part of the answer
    (or a note that none came within ``timeout``)."""
    m = await ctx.wizard.command(line, pattern, timeout)
    if m is None:
        return f"(no answer matching {pattern!r} within {timeout:g} s)"
    return " ".join(m.group(0).split())


async def clone(ctx: Context, blueprint: str) -> tuple[str | None, str]:
    m = await ctx.wizard.command(f"clone {blueprint}", r"Cloned (\S+) |Cannot clone[^\n]*", 30)
    if m is None:
        return None, "(no answer)"
    return m.group(1), " ".join(m.group(0).split())


def clone_attack(name: str, blueprint: str, copies: int = 1, *, recover: tuple[str, ...] = ()) -> Attack:
    async def start(ctx: Context) -> dict[str, Any]:
        made = [await clone(ctx, blueprint) for _ in range(copies)]
        return {"commands": [f"clone {blueprint}"] * copies,
                "answers": sorted({answer for _, answer in made})[:3],
                "cloned": sum(1 for object_id, _ in made if object_id)}

    async def stop(ctx: Context) -> dict[str, Any]:
        answers = [await wizard_says(ctx, line, r"Cancelled \d+ callouts?[^\n]*|[^\n]*callout[^\n]*\n> ")
                   for line in recover]
        answers.append(await wizard_says(ctx, f"purge {blueprint}", r"Destructed \d+ clones? of \S+", 120))
        return {"commands": [*recover, f"purge {blueprint}"], "answers": answers}

    return Attack(name, blueprint, start, stop)


async def ping_start(ctx: Context) -> dict[str, Any]:
    a, first = await clone(ctx, "/obj/pinger")
    b, second = await clone(ctx, "/obj/pinger")
    if a is None or b is None:
        return {"commands": ["clone /obj/pinger"] * 2, "answers": [first, second]}
    # Offered to what the wizard carries: the first pinger tells the second,
    # which tells it back, and so on.
    await ctx.wizard.send(f"ping {b}")
    return {"commands": ["clone /obj/pinger", "clone /obj/pinger", f"ping {b}"], "answers": [first, second]}


async def ping_stop(ctx: Context) -> dict[str, Any]:
    answer = await wizard_says(ctx, "purge /obj/pinger", r"Destructed \d+ clones? of \S+", 60)
    return {"commands": ["purge /obj/pinger"], "answers": [answer]}


HOGS = [f"/hogs/hog{i}" for i in range(1, 10)]


async def hogs_start(ctx: Context) -> dict[str, Any]:
    answers = []
    for path in HOGS:
        # `stat` loads the master (its on-load runs) without moving anyone.
        answers.append(await wizard_says(ctx, f"stat {path}", rf"\w+:{re.escape(path)}\)|No such object[^\n]*", 60))
    ctx.notes["contained_at"] = ctx.wizard.last_arrival
    loaded = sum(1 for a in answers if "No such" not in a and "no answer" not in a)
    return {"commands": [f"stat {p}" for p in HOGS], "loaded": loaded}


async def hogs_stop(ctx: Context) -> dict[str, Any]:
    answers = [await wizard_says(ctx, f"destruct {p}", r"Destructed \S+|No such object[^\n]*") for p in HOGS]
    return {"commands": [f"destruct {p}" for p in HOGS],
            "destructed": sum(1 for a in answers if a.startswith("Destructed"))}


async def read_json_line(stream: Any, timeout: float) -> dict[str, Any]:
    """One line of JSON from a child's stdout (``{"error": ...}`` if none)."""
    import trio

    data = b""
    with trio.move_on_after(timeout):
        while b"\n" not in data:
            chunk = await stream.receive_some(1 << 20)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\n", 1)[0].strip()
    try:
        found = json.loads(line) if line else None
    except ValueError:
        found = None
    return found if isinstance(found, dict) else {"error": f"the flooder said {line[:200]!r}"}


async def flood_prepare(ctx: Context) -> None:
    """Start the flooder before the window (a Python process takes a while
    to start on a busy machine) and wait until it is ready."""
    import trio

    ns = ctx.ns
    here = Path(__file__).resolve()
    proc = await trio.lowlevel.open_process(
        [sys.executable, str(here), "--flood", "--port", str(ctx.port),
         "--flood-connections", str(ns.flood_connections), "--flood-rate", str(ns.flood_rate),
         "--trickle", str(ns.trickle), "--max-seconds", str(ns.window + 60)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT,
    )
    ctx.notes["flood"] = proc
    ctx.notes["flood_ready"] = await read_json_line(proc.stdout, 60)


async def flood_start(ctx: Context) -> dict[str, Any]:
    import trio

    ns = ctx.ns
    proc = ctx.notes["flood"]
    await proc.stdin.send_all(b"go\n")
    ctx.notes["flood_started_wall"] = time.time()

    probe_done = ctx.notes["probe_done"] = trio.Event()

    async def probe() -> None:
        await trio.sleep(min(5.0, ns.window / 2))
        started = trio.current_time()
        try:
            conn = await log_in(ctx.nursery, ctx.port, PROBE_ADDRESS, PROBE, ctx.probe_password, create=False,
                                timeout=15)
            ctx.notes["probe_login_ms"] = ms(conn.arrival(len(conn.text)) - started)
            await conn.command("quit", "Farewell", timeout=10)
            await conn.aclose()
        except (ConnectionError, OSError) as exc:
            ctx.notes["probe_login_error"] = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            probe_done.set()

    ctx.nursery.start_soon(probe)
    return {"commands": [f"flooder: {ns.flood_connections} idle connections from {FLOOD_ADDRESS} at "
                         f"{ns.flood_rate:g}/s, {ns.trickle} trickling pre-login connections"]}


async def flood_stop(ctx: Context) -> dict[str, Any]:
    import trio

    proc = ctx.notes["flood"]
    with trio.move_on_after(40):
        await ctx.notes["probe_done"].wait()
    report: dict[str, Any] = {}
    try:
        await proc.stdin.send_all(b"stop\n")
        report = await read_json_line(proc.stdout, 60)
    except (trio.BrokenResourceError, OSError) as exc:
        report = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with trio.move_on_after(10):
            await proc.wait()
    ctx.notes["flood_report"] = report
    return {"commands": ["flooder: close every connection"]}


ATTACKS: list[Attack] = [
    clone_attack("callout_storm", "/obj/storm", recover=("callouts cancel /obj/storm",)),
    clone_attack("fuel_burning_heartbeats", "/obj/burner", 11),
    clone_attack("host_call_overrun", "/obj/reader"),
    clone_attack("state_growth", "/obj/grower"),
    clone_attack("clone_storm", "/obj/cloner"),
    Attack("ping_pong", "/obj/pinger", ping_start, ping_stop),
    Attack("memory_hogs", "/hogs/hog", hogs_start, hogs_stop, polls_errors=False),
    Attack("connection_flood", FLOOD_ADDRESS, flood_start, flood_stop, polls_errors=False, prepare=flood_prepare),
]


# -- one phase ------------------------------------------------------------------------------------


def _percent(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole > 0 else None


async def run_phase(ctx: Context, attack: Attack | None, run_start_rss: float, log: LogWatch,
                    data_dir: Path) -> dict[str, Any]:
    import trio

    ns = ctx.ns
    ctx.notes = {}
    if attack is not None and attack.prepare is not None:
        await attack.prepare(ctx)
    await trio.sleep(ns.lead)
    now = trio.current_time()
    lead = [s for s in ctx.sampler.between(now - ns.lead, now) if s.total_mb > 0] or [ctx.sampler.take(now)]
    rss_before = statistics.median(s.total_mb for s in lead)
    data_before = dir_mb(data_dir)
    log_before = log.counts()
    cpu_before = cpu_split(ctx.server_pid)
    wait_before = loadgen.run_delay_seconds(ctx.server_pid)
    client_wait_before = loadgen.run_delay_seconds(os.getpid())
    notices_before = len(ctx.wizard.notices)
    drops_before = len(ctx.wizard.drops)

    t0 = trio.current_time()
    window = ns.window if attack is not None else ns.baseline
    started = await attack.start(ctx) if attack is not None else {}
    throttled_at: float | None = None
    errors_seen: dict[str, Any] = {}
    end = t0 + window
    while trio.current_time() < end:
        if attack is not None and attack.polls_errors and throttled_at is None:
            with trio.move_on_after(max(0.1, end - trio.current_time())):
                m = await ctx.wizard.command("errors", ERRORS_DONE, timeout=30)
                if m is not None:
                    mine = [e for e in ERROR_LINE.finditer(m.group(0)) if e.group(2).startswith(attack.offender)]
                    if mine:
                        throttled_at = ctx.wizard.last_arrival - t0
                        errors_seen = {"kinds": sorted({e.group(4) for e in mine}),
                                       "first": " ".join(mine[0].group(0).split())[:200]}
        await trio.sleep_until(min(end, trio.current_time() + 1.0))
    t_stop = trio.current_time()
    cpu_after = cpu_split(ctx.server_pid)
    wait_after = loadgen.run_delay_seconds(ctx.server_pid)
    client_wait_after = loadgen.run_delay_seconds(os.getpid())
    during = ctx.sampler.between(t0, t_stop)
    quarantine_list = None
    if attack is not None:
        m = await ctx.wizard.command("quarantine", QUARANTINED, timeout=30)
        quarantine_list = " ".join(m.group(1).split()) if m is not None else "(no answer)"
    stopped = await attack.stop(ctx) if attack is not None else {}
    t_stopped = trio.current_time()

    # After: at least 3 s, then as soon as the RSS is back within 10% of
    # before, or when the settle time is up.
    settle = (attack.settle if attack is not None and attack.settle is not None else ns.settle)
    if attack is not None and attack.name == "memory_hogs":
        settle = ns.hog_settle
    await trio.sleep(min(3.0, settle))
    after = ctx.sampler.take(trio.current_time())
    while after.total_mb > rss_before * (1 + GOAL_RSS_FRACTION) and trio.current_time() < t_stopped + settle:
        await trio.sleep(0.5)
        after = ctx.sampler.take(trio.current_time())
    t_after = trio.current_time()
    log_after = log.counts()
    # The looks written up to now get their answers (at most 5 s more)
    # before they are counted: one written just now is not unanswered.
    by = ctx.bystander
    with trio.move_on_after(5):
        while by.waiting and by.sent[by.waiting[0]] < t_after and by.closed_at is None:
            await trio.sleep(0.05)

    whole = by.summary(t0, t_stop, t0, ctx.stalls)
    first = by.summary(t0, min(t0 + FIRST_SLICE_S, t_stop), t0, ctx.stalls)
    rest = by.summary(min(t0 + FIRST_SLICE_S, t_stop), t_stop, t0, ctx.stalls)
    recovery = by.summary(t_stop, t_after, t_stop, ctx.stalls)
    client_lag = whole.pop("_lag_p99")
    for part in (first, rest, recovery):
        part.pop("_lag_p99")
    wall = t_stop - t0
    result: dict[str, Any] = {
        "window_seconds": round(wall, 1),
        "bystander_ms": whole,
        "bystander_first_10s_ms": first,
        "bystander_after_10s_ms": rest,
        "bystander_recovery_ms": recovery,
    }
    rss = {
        "before": round(rss_before, 1),
        "during_max": max((s.total_mb for s in during), default=None),
        "end_of_window": during[-1].total_mb if during else None,
        "after": after.total_mb,
        "after_s": round(after.at - t_stopped, 1),
        "after_vs_before_percent": _percent(after.total_mb - rss_before, rss_before),
        "after_vs_run_start_percent": _percent(after.total_mb - run_start_rss, run_start_rss),
        "by_process_after": after.by_process,
    }
    common = {
        "rss_mb": rss,
        "server_cpu_percent": {
            "driver": _percent(cpu_after[0] - cpu_before[0], wall),
            "workers": _percent(cpu_after[1] - cpu_before[1], wall),
        },
        "driver_cpu_wait_percent": _percent(wait_after - wait_before, wall),
        "server_core_used_by_others_percent": (
            _percent(seen["others"], wall) if (seen := ctx.stalls.during(t0, t_stop)) is not None else None
        ),
        "client_lag_ms": {"p99": client_lag},
        "client_cpu_wait_percent": _percent(client_wait_after - client_wait_before, wall),
        "data_dir_mb": {"before": data_before, "after": dir_mb(data_dir)},
        "server_log_lines": {"lines": log_after[0] - log_before[0], "tracebacks": log_after[1] - log_before[1]},
        "wizard_dropped": [{"at_s": round(d["at"] - t0, 2), "last_text": d["last_text"]}
                           for d in ctx.wizard.drops[drops_before:]],
    }
    if attack is None:
        return result | common

    told = [(t, what, name) for t, what, name in ctx.wizard.notices[notices_before:]
            if name.startswith(attack.offender)]
    notices = [(t, name) for t, what, name in told if what == "quarantine"]
    quarantined_at = round(notices[0][0] - t0, 2) if notices else None
    error_notices = [(t, what, name) for t, what, name in told if what != "quarantine"]
    if error_notices:
        first_notice = error_notices[0][0] - t0
        if throttled_at is None or first_notice < throttled_at:
            throttled_at = first_notice
        kinds = Counter(what for _, what, _ in error_notices)
        errors_seen["notices_by_kind"] = dict(kinds)
    contained_at: float | None = None
    contained_by = None
    if attack.name == "memory_hogs":
        done = ctx.notes.get("contained_at")
        contained_at = round(done - t0, 2) if done is not None else None
        contained_by = "the last hog was loaded (nothing of them runs after on-load)"
    elif attack.name == "connection_flood":
        report = ctx.notes.get("flood_report", {})
        first_refusal = report.get("first_refusal_wall")
        if first_refusal is not None:
            contained_at = round(first_refusal - ctx.notes["flood_started_wall"], 2)
            contained_by = "the server refused a connection of the flood"
        result["flood"] = {k: v for k, v in report.items() if k != "first_refusal_wall"}
        result["flood"]["probe_login_ms"] = ctx.notes.get("probe_login_ms")
        if "probe_login_error" in ctx.notes:
            result["flood"]["probe_login_error"] = ctx.notes["probe_login_error"]
        result["flood"]["server_open_fds_max"] = max((s.fds for s in during), default=None)
        trickle = report.get("trickle", {})
        result["flood"]["offered_as_planned"] = (
            report.get("attempts") == report.get("attempts_planned") and trickle.get("connected") == ns.trickle
        )
    else:
        candidates = [(t, why) for t, why in ((throttled_at, "an error of the offender listed by `errors`"),
                                              (quarantined_at, "a [quarantine] notice")) if t is not None]
        if candidates:
            contained_at, contained_by = min(candidates)
            contained_at = round(contained_at, 2)
    throttled_s = round(throttled_at, 2) if throttled_at is not None else None
    p99, rest_p99 = whole["p99"], rest["p99"]
    result = {
        "offender": attack.offender,
        "start": started,
        "stop": stopped,
        **result,
        "throttled_at_s": throttled_s,
        "quarantined_at_s": quarantined_at,
        "quarantined": sorted({name for _, name in notices}),
        "contained_at_s": contained_at,
        "contained_by": contained_by,
        "errors_seen": errors_seen or None,
        "quarantine_list": quarantine_list,
        **common,
        "goals": {
            "p99_le_250ms": p99 is not None and p99 <= GOAL_P99_MS and whole["unanswered"] == 0,
            "contained_within_10s": contained_at is not None and contained_at <= GOAL_CONTAINED_WITHIN_S,
            "p99_after_10s_le_50ms": (
                rest_p99 is not None and rest_p99 <= GOAL_CONTAINED_P99_MS and rest["unanswered"] == 0
            ),
            "rss_back_within_10pct": after.total_mb <= rss_before * (1 + GOAL_RSS_FRACTION),
        },
    }
    return result


# -- the orchestrator -----------------------------------------------------------------------------


def cpu_busy_seconds() -> dict[int, float]:
    """Busy seconds so far of each CPU (``/proc/stat``)."""
    busy: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                v = [int(x) for x in fields[:8]]
                busy[int(name[3:])] = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick
    return busy


def plan_cpus(seconds: float = 2.0) -> tuple[int, list[int], dict[int, float]]:
    """(the server's CPU, the clients' CPUs, each CPU's busy percent over
    ``seconds`` before the run). The machine is shared, and other
    benchmarks pin their servers to the first CPU: the server here gets
    the CPU that was least busy, the clients the others."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    before = cpu_busy_seconds()
    time.sleep(seconds)
    after = cpu_busy_seconds()
    busy = {c: round(100 * (after.get(c, 0.0) - before.get(c, 0.0)) / seconds, 1) for c in cpus}
    if len(cpus) < 2:
        return cpus[0], cpus, busy
    server = min(cpus, key=lambda c: busy[c])
    return server, [c for c in cpus if c != server], busy


def start_server(ns: argparse.Namespace, scratch: Path, password: str, cpu: int, *, extra_args: list[str] | None = None,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], Path, Path, list[str]]:
    """``jitrealm run`` on ``ns.world`` (``ns.sandbox``, ``ns.workers``) on
    free ports, pinned to ``cpu``, its data and log in ``scratch``; with
    ``extra_args`` appended and ``extra_env`` added to its environment.
    Returns the process, its stdout and stderr files, and the command shown."""
    build_dir = loadgen.build_dir_for(ns.world)
    data_dir = scratch / "data"
    command = [sys.executable, "-m", "driver.cli", "run", "--admin", "off", "--sandbox", ns.sandbox,
               "--world", str(ns.world), "--build", str(build_dir), "--data", str(data_dir),
               "--telnet", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    if ns.workers:
        command += ["--workers", str(ns.workers)]
    command += extra_args or []
    env = dict(os.environ, JITREALM_ADMIN_PASSWORD=password, PYTHONUNBUFFERED="1", **(extra_env or {}))
    out, err = scratch / "server.out", scratch / "server.err"
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=out.open("wb"), stderr=err.open("wb"), cwd=ROOT, env=env,
        preexec_fn=loadgen.pinned_to({cpu}),
    )
    shown = [Path(c).name if c == sys.executable else c for c in command]
    shown = [str(Path(c).relative_to(ROOT)) if c.startswith(str(ROOT)) else c for c in shown]
    return proc, out, err, shown


def wait_for_ports(proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"is up: telnet [^:\s]+:(\d+)", out.read_text(errors="replace"))
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            raise SystemExit(f"bench/hostile.py: the server exited ({proc.returncode}):\n"
                             f"{err.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise SystemExit(f"bench/hostile.py: the server did not come up within {timeout:g} s")


def check_pin_at_end(pid: int, cpu: int, pin: dict[str, Any]) -> None:
    """Complete ``pin`` (filled at the start by :func:`loadgen.verify_pin`:
    ``ok_at_start``, ``why``) at the end of a run: every thread still on
    ``cpu``, and the process tree's CPU time within one core's wall time;
    ``pin["ok"]`` says whether all of it held."""
    ok_end, why_end, pin["processes_at_end"], pin["threads_at_end"] = loadgen.verify_pin(pid, cpu)
    pin["ok_at_end"] = ok_end
    pin["why"] = pin["why"] or why_end
    lifetime_cpu, lifetime_wall = loadgen.tree_cpu_seconds(pid), loadgen.age_seconds(pid)
    pin["lifetime_cpu_seconds"] = round(lifetime_cpu, 2)
    pin["lifetime_wall_seconds"] = round(lifetime_wall, 2)
    pin["cpu_within_one_core"] = loadgen.within_one_core(lifetime_cpu, lifetime_wall)
    if pin["why"] is None and not pin["cpu_within_one_core"]:
        pin["why"] = f"the server used {lifetime_cpu:.2f} s of CPU in {lifetime_wall:.2f} s: more than one core"
    pin["ok"] = bool(pin["ok_at_start"] and pin["ok_at_end"] and pin["cpu_within_one_core"])


def run(ns: argparse.Namespace) -> dict[str, Any]:
    import trio

    loadgen.raise_fd_limit(ns.flood_connections + ns.trickle + 1024)
    loadgen.build_world(ns.world)
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    server_cpu, client_cpus, busy_before = plan_cpus()
    separate = server_cpu not in client_cpus
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, set(client_cpus))
    admin_password = "hb-" + secrets.token_hex(12)
    player_password = "hb-" + secrets.token_hex(12)
    probe_password = "hb-" + secrets.token_hex(12)
    scratch = Path(tempfile.mkdtemp(prefix="jitrealm-hostile-"))
    proc, out, err, command = start_server(ns, scratch, admin_password, server_cpu)
    pin: dict[str, Any] = {"cpu": server_cpu, "client_cpus": client_cpus, "separate": separate,
                           "cpu_busy_percent_before": busy_before}
    report: dict[str, Any] = {}
    run_started = time.monotonic()
    try:
        port = wait_for_ports(proc, out, err, 300)
        pin["ok_at_start"], pin["why"], pin["processes_at_start"], pin["threads_at_start"] = loadgen.verify_pin(
            proc.pid, server_cpu
        )
        log = LogWatch(err)

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                sampler = Sampler(proc.pid)
                nursery.start_soon(sampler.run)
                stalls = Stalls(proc.pid, server_cpu)
                nursery.start_soon(stalls.run)
                wizard = Wizard(nursery, port, admin_password)
                await wizard.connect()
                probe = await log_in(nursery, port, PROBE_ADDRESS, PROBE, probe_password, create=True)
                # Wait for the farewell before closing: a `quit` followed at once
                # by a close leaves a body "nowhere at all" on the next login.
                await probe.command("quit", "Farewell", timeout=10)
                await probe.aclose()
                player = await log_in(nursery, port, BYSTANDER_ADDRESS, BYSTANDER, player_password, create=True)
                # From here the bystander's own reader reads its connection.
                player.detach()
                bystander = Bystander(player.stream, ns.interval)
                nursery.start_soon(bystander.reader)
                nursery.start_soon(bystander.pace, math.inf)
                await trio.sleep(2.0)  # settle after the logins
                recent = [s.total_mb for s in sampler.samples[-4:] if s.total_mb > 0]
                run_start_rss = statistics.median(recent or [sampler.take(trio.current_time()).total_mb])
                ctx = Context(nursery, port, wizard, bystander, sampler, stalls, proc.pid, probe_password, ns)
                report["rss_mb_at_start"] = round(run_start_rss, 1)
                report["no_attack"] = await run_phase(ctx, None, run_start_rss, log, scratch / "data")
                chosen = [a for a in ATTACKS if not ns.only or a.name in ns.only]
                report["attacks"] = {}
                for attack in chosen:
                    try:
                        report["attacks"][attack.name] = await run_phase(
                            ctx, attack, run_start_rss, log, scratch / "data"
                        )
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ConnectionError) as exc:
                        # Recorded, not hidden: the phase has no numbers, and the run goes on.
                        report["attacks"][attack.name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                        with contextlib.suppress(Exception):
                            await attack.stop(ctx)
                # Give the last looks their answers.
                with trio.move_on_after(5):
                    while bystander.waiting and bystander.closed_at is None:
                        await trio.sleep(0.1)
                report["_wizard_transcript"] = wizard.transcript()
                report["bystander_disconnected"] = bystander.closed_at is not None
                report["bystander_looks"] = len(bystander.sent)
                nursery.cancel_scope.cancel()

        with contextlib.suppress(KeyboardInterrupt):
            trio.run(main)
        check_pin_at_end(proc.pid, server_cpu, pin)
        server_alive = proc.poll() is None
    finally:
        loadgen.stop(proc)
        log_text = err.read_text(errors="replace") if err.exists() else ""
        transcript = report.pop("_wizard_transcript", "")
        if ns.keep:
            (scratch / "wizard.txt").write_text(transcript)
            print(f"bench/hostile.py: kept {scratch} (the server's data and log)", file=sys.stderr)
        else:
            with contextlib.suppress(OSError):
                import shutil

                shutil.rmtree(scratch)

    attacks = report.get("attacks", {})
    for a in attacks.values():
        if "goals" not in a:
            a["goals"] = {"p99_le_250ms": False, "contained_within_10s": False, "p99_after_10s_le_50ms": False,
                          "rss_back_within_10pct": False}
    missed = [f"{name}: {goal}" for name, a in attacks.items() for goal, ok in a["goals"].items() if not ok]
    goals = {
        "p99_le_250ms_during_every_attack": all(a["goals"]["p99_le_250ms"] for a in attacks.values()),
        "p99_le_50ms_once_contained_within_10s": all(
            a["goals"]["contained_within_10s"] and a["goals"]["p99_after_10s_le_50ms"] for a in attacks.values()
        ),
        "rss_back_within_10pct_after_every_attack": all(
            a["goals"]["rss_back_within_10pct"] for a in attacks.values()
        ),
    }
    goals["all"] = all(goals.values())
    phases = {"no_attack": report.get("no_attack", {}), **attacks}
    others = {name: ph.get("server_core_used_by_others_percent") for name, ph in phases.items()}
    noisy = sorted(name for name, v in others.items() if v is not None and v > NOISY_PERCENT)
    warnings = []
    if noisy:
        warnings.append(
            f"other programs used more than {NOISY_PERCENT:g}% of the server's core during {', '.join(noisy)}: "
            "latencies there include their time (each phase's `slowest` says how much of it)"
        )
    starved = sorted(name for name, ph in phases.items()
                     if (b := ph.get("bystander_ms")) and b["skipped"] > 0.1 * (b["samples"] + b["skipped"]))
    if starved:
        warnings.append(
            f"this client had no CPU for long enough to skip more than 10% of the looks during {', '.join(starved)}"
        )
    flood = attacks.get("connection_flood", {}).get("flood")
    if flood is not None and not flood.get("offered_as_planned"):
        warnings.append("the flooder did not open every connection it meant to (starved of CPU?): see `flood`")
    log_lines = [line for line in log_text.splitlines() if line.strip()]
    return {
        "benchmark": "hostile",
        "world": str(ns.world.relative_to(ROOT)) if ns.world.is_relative_to(ROOT) else str(ns.world),
        "server": {"command": command, "server_alive_at_end": server_alive, "pin": pin},
        "bystander": {"command": "look", "every_seconds": ns.interval, "reply_marker": ROOM_MARK.decode()},
        "window_seconds": ns.window,
        "goals": goals,
        "missed": missed,
        **report,
        "server_log": {"lines": len(log_lines), "tracebacks": log_text.count("Traceback"),
                       "tail": [line[:200] for line in log_lines[-5:]]},
        "loadavg_before": load_before,
        "server_core_used_by_others_percent": others,
        **({"warnings": warnings} if warnings else {}),
        "run_seconds": round(time.monotonic() - run_started, 1),
    }


# -- the flooder (a child process) ------------------------------------------------------------------


def flood_main(ns: argparse.Namespace) -> None:
    """Open ``--flood-connections`` idle connections from one address and
    ``--trickle`` trickling ones from as many others; hold them until "stop"
    on standard input (or ``--max-seconds``); print what happened as JSON."""
    import trio

    loadgen.raise_fd_limit(ns.flood_connections + ns.trickle + 512)
    counts: Counter[str] = Counter()
    trickle_counts: Counter[str] = Counter()
    connect_errors: Counter[str] = Counter()
    state = {"open": 0, "max_open": 0, "trickle_open": 0}
    first_refusal: list[float] = []  # when the server first refused (wall clock)
    examples: dict[str, str] = {}

    def why_closed(text: str) -> str:
        if "Too many connections" in text:
            return "refused_per_address"
        if "Too many people" in text:
            return "refused_pre_login_total"
        if "too long to log in" in text:
            return "pre_login_timeout"
        return "closed_other"

    async def hold(stream: Any, tally: Counter[str], key: str) -> None:
        got = bytearray()
        while True:
            try:
                data = await stream.receive_some(4096)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                data = b""
            if not data:
                break
            if len(got) < 8192:
                got += data
        text = strip_telnet(got).decode(errors="replace")
        why = why_closed(text)
        tally[why] += 1
        if why.startswith("refused") and not first_refusal:
            first_refusal.append(time.time())
        examples.setdefault(why, " ".join(text.split())[-120:])
        state[key] -= 1

    async def idle(limiter: trio.CapacityLimiter) -> None:
        async with limiter:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", ns.port, local_address=FLOOD_ADDRESS)
            except OSError as exc:
                connect_errors[errno.errorcode.get(exc.errno or 0, type(exc).__name__)] += 1
                return
        counts["connected"] += 1
        state["open"] += 1
        state["max_open"] = max(state["max_open"], state["open"])
        async with stream:
            await hold(stream, counts, "open")

    async def trickle(index: int) -> None:
        address = f"127.0.{1 + index // 250}.{1 + index % 250}"
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", ns.port, local_address=address)
        except OSError as exc:
            connect_errors["trickle " + errno.errorcode.get(exc.errno or 0, type(exc).__name__)] += 1
            return
        trickle_counts["connected"] += 1
        state["trickle_open"] += 1
        async with stream, trio.open_nursery() as inner:
            async def drip() -> None:
                while True:
                    await trio.sleep(1.0)
                    try:
                        await stream.send_all(b"x")
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        return

            inner.start_soon(drip)
            await hold(stream, trickle_counts, "trickle_open")
            inner.cancel_scope.cancel()

    async def main() -> None:
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        pending = b""

        async def next_line() -> bytes:
            nonlocal pending
            while b"\n" not in pending:
                chunk = await stdin.receive_some(64)
                if not chunk:
                    return b""
                pending += chunk
            line, _, pending = pending.partition(b"\n")
            return line

        # Started and imported before the window: the parent says "go".
        print(json.dumps({"ready": True}), flush=True)
        with trio.move_on_after(ns.max_seconds):
            await next_line()
        async with trio.open_nursery() as nursery:

            async def attempts() -> None:
                limiter = trio.CapacityLimiter(256)
                start = trio.current_time()
                for i in range(ns.flood_connections):
                    await trio.sleep_until(start + i / ns.flood_rate)
                    counts["attempts"] += 1
                    nursery.start_soon(idle, limiter)

            for i in range(ns.trickle):
                nursery.start_soon(trickle, i)
            nursery.start_soon(attempts)
            with trio.move_on_after(ns.max_seconds):
                await next_line()
            held, trickle_held = state["open"], state["trickle_open"]
            nursery.cancel_scope.cancel()
        print(json.dumps({
            "attempts_planned": ns.flood_connections,
            "attempts": counts["attempts"],
            "connected": counts["connected"],
            "refused_per_address": counts["refused_per_address"],
            "refused_pre_login_total": counts["refused_pre_login_total"],
            "closed_by_pre_login_timeout": counts["pre_login_timeout"],
            "closed_other": counts["closed_other"],
            "max_held_open": state["max_open"],
            "held_open_at_stop": held,
            "connect_errors": dict(connect_errors),
            "trickle": {
                "connections": ns.trickle,
                "connected": trickle_counts["connected"],
                "refused": trickle_counts["refused_per_address"] + trickle_counts["refused_pre_login_total"],
                "closed_by_pre_login_timeout": trickle_counts["pre_login_timeout"],
                "closed_other": trickle_counts["closed_other"],
                "open_at_stop": trickle_held,
            },
            "what_the_server_said": examples,
            "first_refusal_wall": first_refusal[0] if first_refusal else None,
        }), flush=True)

    trio.run(main)


# -- command line -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Hostile world code and clients against a bystander; prints JSON.")
    p.add_argument("--world", type=Path, default=WORLD, help="the hostile world (default tests/worlds/hostile)")
    p.add_argument("--sandbox", choices=["workers", "inproc"], default="workers",
                   help="as `jitrealm run --sandbox` (default workers, the server's default)")
    p.add_argument("--workers", type=int, default=0,
                   help="`jitrealm run --workers` (default: not given, the server's own default)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between the bystander's looks (0.5)")
    p.add_argument("--window", type=float, default=25.0, help="seconds each attack runs (25)")
    p.add_argument("--baseline", type=float, default=20.0, help="seconds of the no-attack phase (20)")
    p.add_argument("--lead", type=float, default=3.0, help="seconds before each phase for RSS 'before' (3)")
    p.add_argument("--settle", type=float, default=15.0,
                   help="at most this many seconds after an attack for the RSS to come back (15)")
    p.add_argument("--hog-settle", type=float, default=75.0,
                   help="the same after the memory hogs, whose memory waits for the idle sweep (75)")
    p.add_argument("--flood-connections", type=int, default=5000, help="idle connections attempted (5000)")
    p.add_argument("--flood-rate", type=float, default=500.0, help="connection attempts a second (500)")
    p.add_argument("--trickle", type=int, default=300, help="trickling pre-login connections (300)")
    p.add_argument("--only", type=lambda s: s.split(","), default=None,
                   help="run only these attacks (comma-separated names)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (data, server log)")
    p.add_argument("--max-minutes", type=float, default=15.0, help="give up after this long (15)")
    # The flooder child process.
    p.add_argument("--flood", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--max-seconds", type=float, default=120.0, help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    ns.world = ns.world.resolve()
    names = {a.name for a in ATTACKS}
    if ns.only and not set(ns.only) <= names:
        p.error(f"--only takes some of: {', '.join(sorted(names))}")
    if min(ns.interval, ns.window, ns.baseline, ns.lead, ns.settle, ns.hog_settle, ns.flood_rate) <= 0:
        p.error("times and rates must be positive")
    if not 0 <= ns.flood_connections <= 15000 or not 0 <= ns.trickle <= 1000:
        p.error("--flood-connections is at most 15000, --trickle at most 1000")
    return ns


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ns = parse_args()
    if ns.flood:
        flood_main(ns)
        return
    signal.signal(signal.SIGALRM, lambda signum, frame: sys.exit(f"bench/hostile.py: over {ns.max_minutes:g} minutes"))
    signal.alarm(int(ns.max_minutes * 60))
    result = run(ns)
    pin = result["server"]["pin"]
    if not pin["ok"]:
        result["failed"] = f"the server was not pinned to one core: {pin['why']}"
    print(json.dumps(result, indent=2))
    if not pin["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

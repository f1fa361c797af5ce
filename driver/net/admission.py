"""Connection admission: who may hold a connection open, and for how long,
shared by every transport.

A connection costs the server a file descriptor, a task and some memory
from the moment it is accepted, long before anyone logs in. Without limits,
one address could hold every descriptor (20,000 idle telnet connections did:
nobody else could log in), and a client trickling a byte a second could hold
a connection forever. So each transport's accept loop (:func:`serve_admitted`)
asks one shared :class:`Admission` before it serves a connection:

* **per address**: at most :attr:`ConnectionLimits.per_address` connections
  open from one address (IPv4) or one ``/64`` (IPv6, where one subscriber
  holds a whole prefix), telnet and WebSocket (and plain HTTP) together;
* **before login, in total**: at most :attr:`ConnectionLimits.pre_login_total`
  connections that have not logged in, from everywhere. Logged-in players do
  not count here, so a crowd of half-open connections cannot stop people
  who already play, and new logins come back as soon as the crowd thins;
* **pre-login timeout**: a connection that has not logged in within
  :attr:`ConnectionLimits.pre_login_timeout` is told so and closed, whatever
  it sends meanwhile (a byte a second keeps no one in).

A refused connection gets one line (telnet) or a 503 (HTTP) and is closed at
once, before any per-connection state exists, so refusing costs next to
nothing and cannot be turned into the memory or descriptor flood it stops.
Refusals are logged at most once per :attr:`ConnectionLimits.log_interval`,
with a count, so a flood cannot flood the log either.

The accept loop also survives running out of descriptors (``EMFILE``,
``ENFILE``, ``ENOBUFS``, ``ENOMEM``): it backs off exponentially, logs one
line when it starts and a summary at most every ``log_interval``, and one
when it recovers. (trio's ``serve_listeners`` logs an error with a traceback
every 0.1 s instead: the log flood the governance issue found.)

Each accepted connection holds a :class:`Ticket` until it closes. The
transport attaches its :class:`~driver.net.session.Session` to the ticket;
the gateway calls :meth:`Admission.logged_in` with the session when login
succeeds. Per-tenant connection quotas (issue 11) belong in that call: it
is the one place that knows both the connection and, after login, who it is.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import trio

from driver.net.session import Session

__all__ = [
    "Admission",
    "ConnectionLimits",
    "Refusal",
    "Ticket",
    "address_key",
    "serve_admitted",
]

log = logging.getLogger(__name__)

# accept() errors that mean "no resources right now", not "this listener is
# broken": wait and try again.
ACCEPT_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Caps on connections, for every transport together; the defaults suit
    a public server (a classroom behind one NAT address still fits)."""

    #: Connections open at once from one address (an IPv6 ``/ipv6_prefix``).
    per_address: int = 64
    #: Connections not yet logged in, from all addresses together.
    pre_login_total: int = 512
    #: Seconds a connection may take to log in before it is told and closed.
    pre_login_timeout: float = 60.0
    #: IPv6 addresses in one prefix of this length count as one address.
    ipv6_prefix: int = 64
    #: Accept back-off after running out of descriptors: first and longest wait.
    accept_backoff: float = 0.05
    accept_backoff_max: float = 2.0
    #: At most one log line per this many seconds about refusals or accept errors.
    log_interval: float = 10.0
    #: What a refused or timed-out client is told (one line each).
    per_address_message: str = "Too many connections from your address; close some and try again."
    pre_login_message: str = (
        "Too many people are logging in right now; please try again in a minute."
    )
    timeout_message: str = "You took too long to log in. Goodbye!"

    @classmethod
    def unlimited(cls) -> ConnectionLimits:
        """Caps out of reach, for load tests that open thousands of sessions
        from a few addresses (the pre-login timeout stays)."""
        return cls(per_address=sys.maxsize, pre_login_total=sys.maxsize)


def address_key(host: str, ipv6_prefix: int = 64) -> str:
    """What connections are counted by: the IPv4 address, or the IPv6
    ``/ipv6_prefix`` network (an IPv4-mapped IPv6 address is its IPv4 one).
    Anything that is not an address (``unknown``) counts as itself."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop a zone (fe80::1%eth0)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection was not admitted: ``reason`` for the log, ``message``
    for the client."""

    reason: str
    message: str


class Ticket:
    """One admitted connection's place, from accept to close.

    The transport sets what happens at the pre-login timeout
    (:meth:`on_expire`, or :meth:`attach` for a session), and calls
    :meth:`release` exactly when the connection is gone (the accept loop
    does). While it waits to log in, the ticket is on its admission's
    waiting list, in deadline order; logging in or closing takes it off at
    once, so nothing refers to a closed connection's ticket and it is freed
    with the rest of the connection. (Kept on a list until its deadline,
    one small object per closed connection pinned the memory of all of them:
    after a flood, RSS did not come back.)
    """

    __slots__ = (
        "_admission", "key", "deadline", "_logged_in", "_released", "_expire", "_session",
        "_prev", "_next",
    )  # fmt: skip

    def __init__(self, admission: Admission, key: str, deadline: float) -> None:
        self._admission: Admission | None = admission
        self.key = key
        self.deadline = deadline
        self._logged_in = False
        self._released = False
        self._expire: Callable[[], None] | None = None
        self._session: Session | None = None
        # Neighbours on the admission's waiting list (None at either end).
        self._prev: Ticket | None = None
        self._next: Ticket | None = None

    @property
    def pre_login(self) -> bool:
        """Still counted as not logged in (and not yet released)."""
        return not self._logged_in and not self._released

    def on_expire(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` if the pre-login timeout passes first."""
        self._expire = callback

    def attach(self, session: Session) -> None:
        """``session`` is this connection: the gateway reports its login with
        :meth:`Admission.logged_in`; at the timeout it is told and closed."""
        if self._released or self._admission is None:
            return
        self._session = session
        self._admission._sessions[session] = self
        message = self._admission.limits.timeout_message

        def tell_and_close() -> None:
            session.send_text(message + "\n")
            session.close("pre-login timeout")

        self._expire = tell_and_close

    def logged_in(self) -> None:
        """The connection logged in: it no longer counts as pre-login and
        never times out."""
        if self.pre_login and self._admission is not None:
            self._logged_in = True
            self._admission._pre_login -= 1
            self._admission._unlink(self)
            self._expire = None

    def expire(self) -> None:
        """The pre-login timeout passed (an accept loop's reaper calls this)."""
        if not self.pre_login or self._admission is None:
            return
        self._admission._unlink(self)
        callback, self._expire = self._expire, None
        if callback is not None:
            callback()

    def release(self) -> None:
        """The connection is closed: give its place back. Idempotent."""
        admission = self._admission
        if self._released or admission is None:
            return
        self._released = True
        admission._unlink(self)
        admission._release(self)
        if self._session is not None:
            admission._sessions.pop(self._session, None)
        # Drop every reference, so a released ticket keeps nothing alive.
        self._admission = None
        self._session = None
        self._expire = None


class _Tally:
    """Counts events and says when a log line about them is due: at the
    first, then at most once per ``interval`` with the count since."""

    __slots__ = ("interval", "count", "first", "_last")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.count = 0
        self.first = True  # the next report is the first
        self._last = -math.inf

    def note(self, now: float) -> int:
        """Count one; return how many to report now (0: not yet)."""
        self.count += 1
        if now - self._last < self.interval:
            return 0
        self._last = now
        reported, self.count = self.count, 0
        return reported


class Admission:
    """The shared doorkeeper: counts connections per address and before
    login, for every transport that consults it (see module docstring).

    ``clock`` is trio's by default (:meth:`reap` sleeps on trio's clock);
    tests of the counting alone may pass a plain function.
    """

    def __init__(
        self,
        limits: ConnectionLimits | None = None,
        *,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.limits = limits or ConnectionLimits()
        self._clock = clock
        self._per_key: dict[str, int] = {}
        self._pre_login = 0
        self._open = 0
        self._admitted = 0
        self._sessions: dict[Session, Ticket] = {}
        self._refusals: dict[str, _Tally] = {}
        # Tickets waiting to log in, oldest (first deadline) first: deadlines
        # are admission time plus one constant, so appending keeps the order.
        self._first: Ticket | None = None
        self._last: Ticket | None = None

    # -- asking -------------------------------------------------------------------------------

    def admit(self, host: str) -> Ticket | Refusal:
        """A ticket for a new connection from ``host``, or why not."""
        limits = self.limits
        key = address_key(host, limits.ipv6_prefix)
        count = self._per_key.get(key, 0)
        if count >= limits.per_address:
            return self._refuse(
                "per-address",
                limits.per_address_message,
                f"{count} open from {key}, the cap is {limits.per_address}",
            )
        if self._pre_login >= limits.pre_login_total:
            return self._refuse(
                "pre-login",
                limits.pre_login_message,
                f"{self._pre_login} not logged in, the cap is {limits.pre_login_total}",
            )
        self._per_key[key] = count + 1
        self._pre_login += 1
        self._open += 1
        self._admitted += 1
        ticket = Ticket(self, key, self._clock() + limits.pre_login_timeout)
        ticket._prev, self._last = self._last, ticket
        if ticket._prev is None:
            self._first = ticket
        else:
            ticket._prev._next = ticket
        return ticket

    def logged_in(self, session: Session) -> None:
        """``session`` logged in (the gateway says so). A session no ticket
        knows (a test's fake, a transport without admission) is ignored."""
        ticket = self._sessions.get(session)
        if ticket is not None:
            ticket.logged_in()

    # -- looking ------------------------------------------------------------------------------

    @property
    def open(self) -> int:
        """Connections admitted and not yet closed."""
        return self._open

    @property
    def admitted(self) -> int:
        """Connections admitted since the start, in all."""
        return self._admitted

    @property
    def pre_login(self) -> int:
        """Connections admitted that have not logged in."""
        return self._pre_login

    def open_from(self, host: str) -> int:
        """Connections open from ``host``'s address (or IPv6 prefix)."""
        return self._per_key.get(address_key(host, self.limits.ipv6_prefix), 0)

    async def reap(self) -> None:
        """Expire tickets still waiting to log in at their deadline, until
        cancelled. Every accept loop runs one; with several, whichever wakes
        first expires a ticket and the others find it gone."""
        timeout = self.limits.pre_login_timeout
        while True:
            now = self._clock()
            while self._first is not None and self._first.deadline <= now:
                ticket = self._first
                try:
                    ticket.expire()  # takes it off the list
                except Exception:
                    log.exception("admission: closing a connection at its pre-login timeout failed")
                finally:
                    self._unlink(ticket)
            # A ticket admitted later has a later deadline than any waiting
            # now, and at least now + timeout: no need to wake for it.
            first = self._first
            await trio.sleep_until(first.deadline if first is not None else now + timeout)

    # -- inside -------------------------------------------------------------------------------

    def _unlink(self, ticket: Ticket) -> None:
        before, after = ticket._prev, ticket._next
        if before is None and after is None and self._first is not ticket:
            return  # not on the list
        if before is None:
            self._first = after
        else:
            before._next = after
        if after is None:
            self._last = before
        else:
            after._prev = before
        ticket._prev = ticket._next = None

    def _release(self, ticket: Ticket) -> None:
        self._open -= 1
        if not ticket._logged_in:
            self._pre_login -= 1
        left = self._per_key[ticket.key] - 1
        if left:
            self._per_key[ticket.key] = left
        else:
            del self._per_key[ticket.key]  # the table holds only addresses with connections

    def _refuse(self, reason: str, message: str, detail: str) -> Refusal:
        tally = self._refusals.get(reason)
        if tally is None:
            tally = self._refusals[reason] = _Tally(self.limits.log_interval)
        reported = tally.note(self._clock())
        if reported and tally.first:
            tally.first = False
            log.warning(
                "admission: refusing connections (%s: %s); more refusals are "
                "summed up at most every %g s",
                reason,
                detail,
                tally.interval,
            )
        elif reported:
            log.warning(
                "admission: %d connections refused in the last %g s or more (%s: %s)",
                reported,
                tally.interval,
                reason,
                detail,
            )
        return Refusal(reason, message)


# ------------------------------------------------------------------------------------------
# The accept loop
# ------------------------------------------------------------------------------------------


def _peer_host(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except (OSError, IndexError, TypeError):
        return "unknown"


def _send_now(stream: trio.SocketStream, data: bytes) -> None:
    """Best-effort write without waiting: a fresh socket's send buffer is
    empty, so a line fits; if it does not, the client loses nothing it was
    owed. (No task switch, so refusing a flood stays cheap.)"""
    if sys.platform == "win32":
        return
    try:
        os.write(stream.socket.fileno(), data)
    except OSError:
        pass


class _AcceptErrors:
    """Back-off and a rate-limited log for accept() running out of resources."""

    __slots__ = ("_name", "_limits", "_delay", "_failures", "_since", "_tally")

    def __init__(self, name: str, limits: ConnectionLimits) -> None:
        self._name = name
        self._limits = limits
        self._delay = limits.accept_backoff
        self._failures = 0
        self._since = 0.0
        self._tally = _Tally(limits.log_interval)

    async def failed(self, exc: OSError) -> None:
        now = trio.current_time()
        if not self._failures:
            self._since = now
        self._failures += 1
        tally = self._tally
        reported = tally.note(now)
        if reported:
            code = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            why = os.strerror(exc.errno or 0).lower()
            if tally.first:
                tally.first = False
                log.warning(
                    "%s: cannot accept connections: %s (%s); retrying with back-off "
                    "(up to %g s), summed up at most every %g s",
                    self._name,
                    code,
                    why,
                    self._limits.accept_backoff_max,
                    tally.interval,
                )
            else:
                log.warning(
                    "%s: still cannot accept connections: %s (%s); %d failed accepts in %.0f s",
                    self._name,
                    code,
                    why,
                    self._failures,
                    now - self._since,
                )
        delay = self._delay
        self._delay = min(self._delay * 2, self._limits.accept_backoff_max)
        await trio.sleep(delay)

    def succeeded(self) -> None:
        if self._failures:
            log.info(
                "%s: accepting connections again after %d failed accepts in %.1f s",
                self._name,
                self._failures,
                trio.current_time() - self._since,
            )
            self._failures = 0
            self._tally = _Tally(self._limits.log_interval)
        self._delay = self._limits.accept_backoff


async def serve_admitted(
    handler: Callable[[trio.SocketStream, Ticket], Awaitable[None]],
    listeners: Sequence[trio.SocketListener],
    admission: Admission,
    *,
    name: str,
    refusal: Callable[[str], bytes],
) -> None:
    """Accept on every listener until cancelled; serve each admitted
    connection with ``handler(stream, ticket)`` in its own task.

    ``refusal(message)`` gives the bytes a refused client is sent before it
    is closed (a telnet line, an HTTP 503). ``name`` prefixes log lines. The
    ticket is released when the handler returns, however it ends; the
    handler closes the stream.
    """
    limits = admission.limits

    async def run_handler(stream: trio.SocketStream, ticket: Ticket) -> None:
        try:
            await handler(stream, ticket)
        except Exception:
            # The transports log their own failures; this is the last guard
            # that keeps one connection from taking the listener down.
            log.exception("%s: connection handler failed", name)
        finally:
            ticket.release()
            await trio.aclose_forcefully(stream)

    # Trio names a task after its function unless told: one string made for
    # every connection, and held while it lives, unless it is this one.
    task_name = f"{run_handler.__module__}.{run_handler.__qualname__}"

    async def accept_loop(listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        errors = _AcceptErrors(name, limits)
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in ACCEPT_CAPACITY_ERRNOS:
                        raise
                    await errors.failed(exc)
                    continue
                errors.succeeded()
                decision = admission.admit(_peer_host(stream))
                if isinstance(decision, Refusal):
                    _send_now(stream, refusal(decision.message))
                    await trio.aclose_forcefully(stream)
                    continue
                nursery.start_soon(run_handler, stream, decision, name=task_name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(admission.reap)
        for listener in listeners:
            nursery.start_soon(accept_loop, listener, nursery)

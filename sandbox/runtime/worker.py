"""A sandbox worker process: runs guest code for the driver, behind a socket.

In worker mode (``driver.runtimes.workers``) the driver never maps wasmtime;
it starts a few of these with a clean exec and talks to each over one end of
a socketpair, in the frames and messages of :mod:`sandbox.wire`::

    python -m sandbox.runtime.worker --fd N [--cache-dir D] [--memory-mb M]
                                     [--cpu-seconds S] [--call-path fast|stock]

Before it reads anything the process hardens itself: ``PR_SET_NO_NEW_PRIVS``
(nothing it execs can gain privileges), ``RLIMIT_AS`` and ``RLIMIT_CPU``
(a runaway worker dies instead of taking the machine), and it closes every
file descriptor but 0, 1, 2 and its channel, so nothing the driver held
(listening sockets, the database) is reachable from here even by a bug in
the engine.

Then it is a plain blocking loop, deliberately without trio: read a frame,
handle its messages one at a time, answer. A hook that asks the world
(``environment``, ``clone``, ``now-ms``...) sends a QUERY and blocks reading
the channel for the driver's ANSWER; messages for later that arrive in the
meantime wait in the inbox. The sandbox inside is the in-process
:class:`~sandbox.runtime.host.Sandbox`, unchanged, so both backends have the
same semantics by construction; only the world it calls is a proxy.

Errors never kill the worker silently: a message it cannot handle gets an
answer that says why, and when the channel itself breaks (the driver went
away, or sent something that is not a frame) it says so on stderr and exits.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

from sandbox import wire
from sandbox.priority import LongCalls, yield_to_driver
from sandbox.protocol import AdmissionError, ErrorKind, GuestError, Outcome
from sandbox.spin import AdaptiveSpin

if TYPE_CHECKING:
    from sandbox.runtime.host import CallPath, Sandbox

PR_SET_NO_NEW_PRIVS = 38
#: Seconds between the soft CPU limit (SIGXCPU: the worker asks to be
#: replaced and finishes what it has) and the hard one (the kernel kills it).
CPU_HARD_MARGIN = 30
#: The default RLIMIT_AS. It bounds address space, not memory in use, and
#: the engine (the same configuration as in process, so that traps read the
#: same) reserves 4 GiB plus guard pages per linear memory: this allows about
#: a thousand live memories, and stops a runaway (a leak, a compile bomb's
#: reservations) long before the machine's 128 TiB. What a guest may really
#: use is capped per store by the sandbox's memory limit.
DEFAULT_MEMORY_MB = 4 * 1024 * 1024
RECV_BYTES = 256 * 1024
#: An answer may wait for the next call in the inbox to share its write (and
#: the driver's wake-up) only if that call's last run, for the same tenant
#: and version, took under this long...
QUICK_CALL_S = 0.0005
#: ...and only until the first answer held has waited this long: briefly,
#: for the driver works on each answer while this worker runs the next
#: calls, and holding answers back leaves it idle (answers held up to 2 ms
#: halved the throughput of eight light tenants on one worker).
HOLD_S = 0.0001
#: How long a worker polls its channel for the driver's next message before
#: it blocks (see :mod:`sandbox.spin`): long enough to cover the driver's
#: turnaround between one light call's answer and the next call.
SPIN_S = 0.0003


def _say(text: str) -> None:
    """One line on stderr, which the driver's log inherits."""
    sys.stderr.write(f"jitrealm worker {os.getpid()}: {text}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------
# Hardening
# --------------------------------------------------------------------------


def harden(channel_fd: int, memory_mb: int, cpu_seconds: int) -> list[int]:
    """Lock the process down (see module doc); returns the fds it closed."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + CPU_HARD_MARGIN))
    yield_to_driver()  # a player's command wakes the driver ahead of guest code
    keep = {0, 1, 2, channel_fd}
    closed: list[int] = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep:
            continue
        try:
            os.close(fd)
        except OSError:
            continue  # the directory listing's own descriptor, already closed
        closed.append(fd)
    return closed


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------


class ChannelGone(Exception):
    """The channel closed or carried garbage: the worker must stop."""


class WorldProxy:
    """The driver's :class:`~sandbox.protocol.HostWorld`, seen from here:
    each method is a QUERY that blocks until the driver answers."""

    __slots__ = ("_ask", "_call_id")

    def __init__(self, worker: Worker, call_id: int) -> None:
        self._ask = worker.ask
        self._call_id = call_id

    def environment(self, target: str) -> str | None:
        return cast(str | None, self._ask(self._call_id, wire.W_ENVIRONMENT, [target]))

    def contents(self, target: str) -> list[str]:
        return cast(list[str], self._ask(self._call_id, wire.W_CONTENTS, [target]))

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        return cast(bytes | None, self._ask(self._call_id, wire.W_QUERY, [asker, target, key]))

    def clone(self, asker: str, blueprint: str) -> str:
        return cast(str, self._ask(self._call_id, wire.W_CLONE, [asker, blueprint]))

    def destruct(self, asker: str, target: str) -> None:
        self._ask(self._call_id, wire.W_DESTRUCT, [asker, target])

    def move(self, asker: str, target: str, destination: str) -> None:
        self._ask(self._call_id, wire.W_MOVE, [asker, target, destination])

    def now_ms(self) -> int:
        return cast(int, self._ask(self._call_id, wire.W_NOW_MS, []))

    def next_callout_handle(self) -> int:
        return cast(int, self._ask(self._call_id, wire.W_NEXT_HANDLE, []))

    def cancel_callout(self, asker: str, handle: int) -> bool:
        return cast(bool, self._ask(self._call_id, wire.W_CANCEL, [asker, handle]))


class Worker:
    """Serves one channel (see module doc)."""

    def __init__(
        self, sock: socket.socket, sandbox: Sandbox, max_frame: int = wire.MAX_FRAME_BYTES
    ) -> None:
        self.sock = sock
        self.sandbox = sandbox
        self.max_frame = max_frame
        self.decoder = wire.FrameDecoder(max_frame)
        # Reads go into one buffer (see _pull): sock.recv(RECV_BYTES) would
        # allocate and free a quarter-MiB object per read.
        self.buffer = memoryview(bytearray(RECV_BYTES))
        self.spin = AdaptiveSpin(SPIN_S)
        # Made here, in the thread that runs the calls: it demotes that thread.
        self.long_calls = LongCalls()
        if self.long_calls.enabled:
            sandbox.shared.on_tick = self.long_calls.check
        else:
            _say(
                "long calls cannot give way to quick ones: SCHED_IDLE is one-way here "
                "(no CAP_SYS_NICE, RLIMIT_NICE below 1)"
            )
        self.inbox: deque[list[Any]] = deque()
        self.answers: deque[list[Any]] = deque()
        self.out: list[bytes] = []
        self.out_bytes = 0
        self.out_since = 0.0  # when the oldest answer in ``out`` was ready
        #: How long the last call of each (tenant, version) ran, in seconds.
        self.last_run: dict[tuple[str, str], float] = {}
        #: Each object's state as of its last call here, by (tenant, self_id):
        #: an INVOKE whose state is null uses it (see :mod:`sandbox.wire`).
        self.states: dict[tuple[str, str], dict[str, bytes]] = {}
        self.versions: set[str] = set()  # admitted here, one admission each
        self.load_errors: dict[str, str] = {}
        self.gone: str | None = None  # why the channel broke, once it has
        self.retiring = False
        self.announced = False
        self._handlers = {
            wire.INVOKE: self._invoke,
            wire.LOAD: self._load,
            wire.ADMIT: self._admit,
            wire.RELEASE: self._release,
            wire.SWEEP: self._sweep,
            wire.FORGET: self._forget,
        }

    # -- channel ----------------------------------------------------------------

    def send(self, message: Sequence[Any]) -> None:
        try:
            data = wire.encode(message, self.max_frame)
        except wire.FrameTooLarge as exc:
            # Only an outcome can be this big (limits keep it far smaller);
            # the driver must still get an answer for the id.
            data = wire.encode([wire.ERROR, message[1], f"answer too large: {exc}"])
        self._queue(data)

    def send_outcome(self, call_id: int, outcome: Outcome) -> bool:
        """The OUTCOME of call ``call_id`` (encoded with less building than
        :meth:`send`); False if it could only be an ERROR (too large)."""
        try:
            data = wire.encode_outcome(call_id, outcome, self.max_frame)
        except wire.FrameTooLarge as exc:
            self._queue(wire.encode([wire.ERROR, call_id, f"answer too large: {exc}"]))
            return False
        self._queue(data)
        return True

    def _queue(self, data: bytes) -> None:
        if self.out and self.out_bytes + len(data) + 2 > self.max_frame:
            self.flush()
        if not self.out:
            self.out_since = time.perf_counter()
        self.out.append(data)
        self.out_bytes += len(data)

    def flush(self) -> None:
        if not self.out:
            return
        data = wire.frame(self.out)
        self.out = []
        self.out_bytes = 0
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self._lose(f"cannot write to the driver: {exc}")

    def _lose(self, why: str) -> NoReturn:
        self.gone = why
        raise ChannelGone(why)

    def _pull(self) -> None:
        """Read what the driver sent; world answers are set aside for :meth:`ask`."""
        try:
            size = self._receive()
        except OSError as exc:
            self._lose(f"cannot read from the driver: {exc}")
        if not size:
            self._lose("the driver closed the channel")
        try:
            frames = self.decoder.feed(self.buffer[:size])
        except wire.WireError as exc:
            self._lose(f"bad frame from the driver: {exc}")
        for messages in frames:
            for message in messages:
                if message[0] == wire.ANSWER:
                    self.answers.append(message)
                else:
                    self.inbox.append(message)

    def _receive(self) -> int:
        """One read into the buffer: polled for up to the spin limit (while
        recent waits were that short), then blocking."""
        spin, sock, buffer, clock = self.spin, self.sock, self.buffer, time.perf_counter
        start = clock()
        if spin.polling:
            end = start + spin.limit_s
            while True:
                try:
                    size = sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    if clock() < end:
                        os.sched_yield()  # a process waiting for this core goes first
                        continue
                    break
                spin.waited(clock() - start)
                return size
        size = sock.recv_into(buffer)
        spin.waited(clock() - start)
        return size

    def ask(self, call_id: int, method: int, args: Sequence[Any]) -> Any:
        """One world query: send it, block for its answer."""
        if self.gone is not None:
            raise ChannelGone(self.gone)
        self.send([wire.QUERY, call_id, method, args])
        self.flush()
        while True:
            while not self.answers:
                self._pull()
            answer = self.answers.popleft()
            if answer[1] == call_id:
                return wire.answer_value(answer[2], answer[3])
            _say(f"dropped an answer for call {answer[1]!r} while call {call_id} waits")

    # -- the loop -----------------------------------------------------------------

    def serve(self) -> int:
        self.send((wire.HELLO, os.getpid(), wire.PROTOCOL))
        inbox = self.inbox
        try:
            while True:
                if not inbox:
                    self.flush()
                    while not inbox:
                        self._pull()
                        if self.answers:
                            _say(f"dropped {len(self.answers)} answer(s) outside any call")
                            self.answers.clear()
                message = inbox.popleft()
                if self.out and not self._may_hold(message):
                    self.flush()
                self._handle(message)
                if self.gone is not None:
                    raise ChannelGone(self.gone)
                if self.retiring and not self.announced:
                    self.announced = True
                    self.send((wire.RETIRING, "CPU time limit (RLIMIT_CPU) nearly reached"))
                    self.flush()
        except ChannelGone as exc:
            if self.gone == "the driver closed the channel":
                return 0
            _say(f"stopping: {exc}")
            return 1

    def _may_hold(self, message: list[Any]) -> bool:
        """Whether the answers ready may wait while ``message`` is handled,
        to leave in one write with its answer: one wake-up of the driver for
        a batch of light calls instead of one per call. Only behind a call
        that ran quickly last time (a guest's first call, a slow one, or
        anything else is never waited for) and only briefly: each answer
        still goes out within about :data:`HOLD_S` of being ready unless a
        guest that was quick suddenly runs long."""
        if message[0] != wire.INVOKE or len(message) < 4:
            return False
        last = self.last_run.get((message[3], message[2]))
        return (
            last is not None
            and last < QUICK_CALL_S
            and time.perf_counter() - self.out_since < HOLD_S
        )

    def _handle(self, message: list[Any]) -> None:
        handler = self._handlers.get(message[0])
        if handler is None:
            self.send((wire.ERROR, _id_of(message), f"unknown message kind {message[0]!r}"))
            return
        try:
            handler(message)
        except ChannelGone:
            raise
        except Exception as exc:
            if self.gone is not None:
                raise ChannelGone(self.gone) from None
            self.send(
                (wire.ERROR, _id_of(message), f"malformed message: {type(exc).__name__}: {exc}")
            )

    # -- messages -------------------------------------------------------------------

    def _invoke(self, message: list[Any]) -> None:
        _, call_id, version, tenant, self_id, hook, args, state, limits = message
        key = (tenant, self_id)
        if state is None:
            state = self.states.get(key)
            if state is None:  # the driver's bookkeeping says it is here: a bug
                raise LookupError(f"no state kept for {self_id} of {tenant}")
        elif type(state) is dict:
            self.states[key] = state  # kept as it came, whatever the call does
        else:
            raise TypeError(f"an object's state is a map, not {type(state).__name__}")
        failed = self.load_errors.get(version)
        started = time.perf_counter()
        if failed is not None:
            outcome = Outcome(GuestError(ErrorKind.INSTANTIATE, failed))
        else:
            self.long_calls.begin()
            try:
                outcome = self.sandbox.invoke(
                    version,
                    self_id,
                    hook,
                    args,
                    state,
                    wire.limits_from_wire(limits),
                    WorldProxy(self, call_id),
                    tenant=tenant,
                )
            except Exception as exc:  # a bug here must not look like a crash
                outcome = Outcome(
                    GuestError(
                        ErrorKind.HOST_ERROR, f"sandbox worker failed: {type(exc).__name__}: {exc}"
                    )
                )
            finally:
                self.long_calls.end()
        if self.gone is not None:
            # The guest's world query failed because the channel broke; its
            # outcome says so, but nobody is left to read it.
            raise ChannelGone(self.gone)
        run = (tenant, version)
        if run in self.last_run or len(self.last_run) < 4096:
            self.last_run[run] = time.perf_counter() - started
        if self.send_outcome(call_id, outcome) and outcome.error is None:
            # The driver applies the changes (unless its own checks refuse
            # them: then it ships the state again next time); a failed call
            # leaves the state kept as it was.
            for name, value in outcome.state_changes.items():
                if value is None:
                    state.pop(name, None)
                else:
                    state[name] = value

    def _load(self, message: list[Any]) -> None:
        _, version, code = message
        error = None
        if version not in self.versions:
            try:
                got = self.sandbox.admit(code)
            except AdmissionError as exc:
                error = f"could not load version {version[:12]} in this worker: {exc}"
            except Exception as exc:
                error = f"could not load version {version[:12]} in this worker: {type(exc).__name__}: {exc}"
            else:
                if got != version:
                    self.sandbox.release(got)
                    error = f"version {version[:12]} arrived with the bytes of {got[:12]}"
                else:
                    self.versions.add(version)
        if error is None:
            self.load_errors.pop(version, None)
        else:
            self.load_errors[version] = error
        self.send((wire.LOADED, version, error))

    def _admit(self, message: list[Any]) -> None:
        _, request, code = message
        version = wire.content_hash(code)
        if version in self.versions:
            self.send((wire.ADMITTED, request, version))
            return
        try:
            got = self.sandbox.admit(code)
        except AdmissionError as exc:
            self.send((wire.REFUSED, request, str(exc)))
            return
        except Exception as exc:
            self.send(
                (
                    wire.REFUSED,
                    request,
                    f"admission failed in the sandbox worker: {type(exc).__name__}: {exc}",
                )
            )
            return
        self.versions.add(got)
        self.load_errors.pop(got, None)
        self.send((wire.ADMITTED, request, got))

    def _release(self, message: list[Any]) -> None:
        _, version = message
        self.load_errors.pop(version, None)
        if version in self.versions:
            self.versions.discard(version)
            self.sandbox.release(version)

    def _forget(self, message: list[Any]) -> None:
        self.states.clear()

    def _sweep(self, message: list[Any]) -> None:
        _, idle_seconds = message
        self.states.clear()
        if self.sandbox.sweep(float(idle_seconds)):
            _trim_heap()
        self.send((wire.MEMORY, self.sandbox.memory_by_tenant()))


def _trim_heap() -> None:
    """Give freed heap back to the system. A burst of big values across the
    boundary (each byte of a list<u8> is a 32-byte record on the fast path)
    leaves the C allocator holding tens of MB it has freed but keeps; once
    the instances that caused it are swept, the worker's RSS should fall
    back. glibc only; elsewhere this does nothing."""
    gc.collect()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _id_of(message: list[Any]) -> Any:
    """The id an answer about ``message`` should carry (a LOAD's is its version)."""
    return message[1] if len(message) > 1 and isinstance(message[1], int | str) else None


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sandbox.runtime.worker", description=__doc__.splitlines()[0]
    )
    p.add_argument("--fd", type=int, required=True, help="the channel: a connected stream socket")
    p.add_argument("--cache-dir", type=Path, help="the shared on-disk compile cache")
    p.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, help="RLIMIT_AS in MiB")
    p.add_argument("--cpu-seconds", type=int, default=3600, help="RLIMIT_CPU (soft) in seconds")
    p.add_argument("--call-path", choices=("fast", "stock"), default="fast")
    p.add_argument("--max-frame-bytes", type=int, default=wire.MAX_FRAME_BYTES)
    p.add_argument(
        "--owns-cwd",
        action="store_true",
        help="remove the (empty) working directory on exit: the driver made it for this "
        "worker, and may be gone (killed) when the worker exits",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    cwd = os.getcwd()
    try:
        return _run(ns)
    finally:
        if ns.owns_cwd:
            try:
                os.rmdir(cwd)  # only ever empty: nothing here writes files
            except OSError:
                pass


def _run(ns: argparse.Namespace) -> int:
    closed = harden(ns.fd, ns.memory_mb, ns.cpu_seconds)
    if closed:
        _say(f"closed inherited file descriptors {closed}")
    try:
        sock = socket.socket(fileno=ns.fd)
    except OSError as exc:
        _say(f"--fd {ns.fd} is not a socket: {exc}")
        return 2
    sock.setblocking(True)

    worker_ref: list[Worker] = []

    def on_sigxcpu(signum: int, frame: object) -> None:
        # Only a flag: the loop announces it between messages, the driver
        # stops sending and closes the channel once nothing is in flight.
        for w in worker_ref:
            w.retiring = True

    signal.signal(signal.SIGXCPU, on_sigxcpu)
    # Ctrl-C at the server's terminal reaches its whole process group: the
    # driver decides when a worker ends (it closes the channel), so a worker
    # does not die of it mid-call with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # wasmtime is imported only now, after the limits are in place.
    from sandbox.runtime.host import Sandbox

    call_path: CallPath = ns.call_path
    sandbox = Sandbox(cache_dir=ns.cache_dir, call_path=call_path)
    worker = Worker(sock, sandbox, ns.max_frame_bytes)
    worker_ref.append(worker)
    return worker.serve()


if __name__ == "__main__":
    sys.exit(main())

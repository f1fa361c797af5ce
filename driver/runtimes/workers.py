"""The out-of-process WebAssembly runtime: a pool of sandbox worker processes.

:class:`WorkerPool` implements the :class:`~driver.runtimes.Runtime`
protocol with exactly the semantics of the in-process sandbox, but no guest
code, compile or admission ever runs in the driver's process, and the
driver's loop only routes: it encodes an invocation, hands it to a worker
(:mod:`sandbox.runtime.worker`) and awaits the outcome while it serves
everything else. This module imports no wasmtime and nothing of
:mod:`sandbox.runtime`; it speaks :mod:`sandbox.wire` over socketpairs.

How the pool keeps that cheap and safe:

* **Sticky tenants.** A tenant is assigned to one worker the first time it
  invokes (the one with the fewest tenants, then the least in flight) and
  stays there, so its instances stay warm; different tenants run in
  parallel on different workers. One tenant never has two invocations in
  flight, so its events stay in order for free.
* **Batching.** A call to an idle worker is written at once. While the
  worker is busy (eight messages to answer, :data:`PIPELINE_DEPTH`), calls
  queue in the driver, and one sender task per worker writes everything
  queued as one frame with one ``send`` when the worker is ready for more:
  the calls of tenants that become due together cross together.
* **Polling, not sleeping, for a quick answer.** For a moment after a call
  is written the loop polls instead of sleeping in ``epoll_wait`` (and the
  worker polls for the next call after it answers), as long as answers
  have been that quick and a core is free for it (:mod:`sandbox.spin`):
  waking a sleeping process costs more here than a light guest's call.
* **Admission apart, components once per worker.** Admission (compile,
  checks, a trial instantiation) runs in a worker of its own, so compiling a
  big guest never stalls a tenant. The driver keeps the bytes of every
  admitted version; a tenant's worker gets a version (LOAD) lazily, just
  before the first invocation that needs it there, and finds its compiled
  code in the shared on-disk cache.
* **State kept in the worker.** A worker keeps each object's state from
  one call to the next, so a call whose object's state is as the worker
  has it ships none (:mod:`sandbox.wire`). The pool mirrors what each
  worker keeps (:class:`_Kept`): it records the state it sent and, from
  each answer, the changes of a call that succeeded; at the next call it
  compares the object's state with that record, so a change made in the
  driver between two calls (the outcome refused, a wizard's tool, a canary
  on a copy) ships the whole state again. A failed call leaves both sides'
  record as it was; a new worker process starts with none; a sweep, or
  more than :data:`KEPT_BYTES` kept, drops them all on both sides.
* **World queries** (where is X, may I clone Y) come back over the same
  channel while a call runs; the reader task answers them at once from the
  :class:`~sandbox.protocol.HostWorld` passed to that invocation (the
  tenant's transaction, whose methods are synchronous).
* **Deadlines and crashes.** A worker answers its messages in order, so each
  one is timed from the moment the one before it was answered. An
  invocation with no answer ``deadline_ms`` + a grace after that is taken
  as a hung worker, which is SIGKILLed. A worker that dies, for whatever
  reason, costs the calls in flight on it an outcome of kind
  ``sandbox-crash`` naming the worker and how it died, and nothing else:
  queued calls wait, the worker is restarted (with exponential backoff when
  it keeps dying) and components are sent again on demand. A worker runs
  untrusted code, so what it says is checked; one that sends nonsense, or
  questions instead of an answer, is killed the same way.
* **Clean processes.** Each worker is a fresh ``exec`` of the Python
  interpreter (never a fork of the driver), with a minimal environment, an
  empty temporary working directory, only its channel inherited, and the
  rlimits it sets itself; stopping the pool closes the channels, reaps every
  process and removes the directories.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import trio
from outcome import Error as _Raise
from outcome import Value as _Return

from sandbox import wire
from sandbox.protocol import (
    HOOKS,
    AdmissionError,
    ErrorKind,
    GuestError,
    HostWorld,
    Limits,
    Outcome,
)
from sandbox.spin import AdaptiveSpin

log = logging.getLogger(__name__)

#: How long the in-process sandbox lets an instantiation (guest start code)
#: run; an invocation that may have to build its instance gets this on top
#: of its deadline before the worker is taken for hung.
INSTANTIATE_ALLOWANCE_S: Final = 5.0
RECV_BYTES: Final = 256 * 1024
#: Frames smaller than this are joined into one buffer to send; bigger ones
#: (components) go out as parts with sendmsg, not copied again.
SMALL_FRAME: Final = 64 * 1024
#: Messages a worker may have to answer before more are sent; calls that
#: come due meanwhile (other tenants') wait here and leave together in one
#: frame when it is ready for them. Deep enough that a worker always has
#: the next calls in hand while the driver works on the answers it sent
#: (the two overlap, on two cores): with only two in flight, eight light
#: tenants on one worker went in lumps, each side idle while the other
#: worked (6,400 events/s against 12,400 with eight, measured in turns).
PIPELINE_DEPTH: Final = 8

#: Objects' state a worker may keep between calls (bytes, roughly: the size
#: of the state as sent plus what calls changed), and how many objects';
#: past either, both sides drop it all and start again.
KEPT_BYTES: Final = 64 * 1024 * 1024
KEPT_OBJECTS: Final = 16384
#: How long after writing a call the pool keeps the loop polling rather
#: than sleeping (see :meth:`WorkerPool._keep_polling`): about a light
#: call's round trip when nobody sleeps.
SPIN_S: Final = 0.0002

# Jobs: the first three get an answer; the notices do not.
_INVOKE, _ADMIT, _LOAD, _RELEASE, _SWEEP, _FORGET = range(6)
_FORGET_MESSAGE: Final = wire.encode((wire.FORGET,))


class _Kept:
    """One object's state as a worker keeps it (see module doc): ``state``
    is the pool's copy, None while a call of that object is in flight (its
    answer decides what the worker keeps)."""

    __slots__ = ("key", "state", "size", "holder")

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.state: dict[str, bytes] | None = None
        self.size = 0
        #: The last call of the object sent (its answer decides what the
        #: worker keeps); None once answered. Busy: nothing to compare with.
        self.holder: _Job | None = None


class _Job:
    """One message for a worker and, if it is answered, the task waiting for
    the answer (woken with ``trio.lowlevel.reschedule``: the per-call path
    is too hot for an Event per call)."""

    __slots__ = (
        "kind", "id", "data", "version", "known", "tenant", "world", "deadline_s",
        "budget", "task", "cancelled", "kept", "base", "proc", "full", "result",
    )  # fmt: skip

    def __init__(self, kind: int, job_id: int, data: bytes, version: str) -> None:
        self.kind = kind
        self.id = job_id
        self.data = data
        self.version = version
        self.known: _Version | None = None  # an invocation's version, to LOAD it where needed
        self.tenant = ""
        self.world: HostWorld | None = None
        self.deadline_s = 0.0
        self.budget = 0.0  # seconds it may take once it reaches the worker
        self.task: trio.lowlevel.Task | None = None
        self.cancelled = False
        # An invocation's kept state (see _Kept): the record it holds in
        # flight on ``proc``, the state the call runs on there, and the
        # message with that state in full (only for one that ships none:
        # sent instead if the job goes to another process).
        self.kept: _Kept | None = None
        self.base: dict[str, bytes] | None = None
        self.proc: _Proc | None = None
        self.full: Any = None
        #: The answer, if it came while no task was parked for it (the
        #: caller was polling for it itself: see WorkerPool._poll_for).
        self.result: _Return[Any] | _Raise | None = None

    async def wait(self) -> Any:
        """Park the calling task until :meth:`finish` or :meth:`fail`."""
        if self.result is not None:
            return self.result.unwrap()
        self.task = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            # Not sent yet: it never will be. Sent: its answer is dropped.
            self.cancelled = True
            self.task = None
            self.world = None
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def finish(self, value: Any) -> None:
        self._settle(_Return(value))

    def fail(self, exc: BaseException) -> None:
        self._settle(_Raise(exc))

    def _settle(self, result: _Return[Any] | _Raise) -> None:
        task = self.task
        self.world = None
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task, result)
        elif not self.cancelled:
            self.result = result

    def crash(self, why: str) -> None:
        """The worker died with this job in flight (or the pool stopped)."""
        if self.kind == _INVOKE:
            self.finish(
                Outcome(
                    GuestError(ErrorKind.SANDBOX_CRASH, f"{why}; nothing of this call was applied")
                )
            )
        elif self.kind == _ADMIT:
            self.fail(AdmissionError(f"{why}; the component was not admitted"))


class _Proc:
    """One worker process, from spawn to reaping: its channel and what is in flight."""

    def __init__(
        self, process: trio.Process, sock: socket.socket, tmpdir: str, max_frame: int
    ) -> None:
        self.process = process
        self.sock = sock
        self.tmpdir = tmpdir
        self.pid = process.pid
        self.started = trio.current_time()
        self.ready = trio.Event()
        self.loaded: set[str] = set()  # versions sent (or admitted) here
        self.warm: set[tuple[str, str]] = set()  # (tenant, version) whose last call returned
        #: What the worker keeps of each object's state, by (tenant, self_id).
        self.kept: dict[tuple[str, str], _Kept] = {}
        self.kept_bytes = 0
        self.calls: dict[int, _Job] = {}  # invocations and admissions, by id
        self.fifo: deque[_Job] = deque()  # everything awaiting an answer, in send order
        self.head_since = 0.0
        self.backlog: deque[memoryview] = deque()  # bytes the socket did not take yet
        self.backlog_ready = trio.Event()
        self.kill_reason: str | None = None
        self.retiring = False
        # What has been read of the channel, and the one buffer reads go
        # into (sock.recv(RECV_BYTES) would allocate and free a quarter-MiB
        # object per read, which costs more than the read itself; the
        # decoder copies what it keeps). The reader task and a caller
        # polling for its answer both read with these.
        self.decoder = wire.FrameDecoder(max_frame)
        self.buffer = memoryview(bytearray(RECV_BYTES))

    def kill(self, reason: str) -> None:
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.process.returncode is None:
            self.process.kill()


class _Slot:
    """A worker's place in the pool: survives the processes that fill it."""

    def __init__(self, index: int, name: str) -> None:
        self.index = index
        self.name = name  # "sandbox worker 3", for messages and the log
        self.pending: list[_Job] = []
        self.wake = trio.Event()
        #: Answers to several calls arrived in one read: their tenants'
        #: next calls, made in the same moment, are gathered for the
        #: sender (one frame) rather than the first going out alone.
        self.gather = False
        self.answered = 0  # invocations answered in the read being handled
        self.tenants: set[str] = set()
        self.proc: _Proc | None = None
        self.ready = trio.Event()  # set once the first process said hello
        self.last_failure = ""
        self.invocations = 0
        #: What each tenant's instances there are charged, as of the last sweep.
        self.memory: dict[str, int] = {}
        self.crashes = 0
        self.restarts = 0
        self.streak = 0  # deaths in a row, each soon after the last
        self.last_crash = -1e9

    def submit(self, job: _Job) -> None:
        self.pending.append(job)
        self.wake.set()

    @property
    def load(self) -> int:
        proc = self.proc
        return len(self.pending) + (len(proc.fifo) if proc is not None else 0)


@dataclass(frozen=True, slots=True)
class WorkerStats:
    index: int
    pid: int | None
    tenants: int
    in_flight: int  # sent, not yet answered (components being loaded included)
    queued: int  # waiting to be sent
    invocations: int  # sent to this slot, over every process that filled it
    crashes: int
    restarts: int


@dataclass(frozen=True, slots=True)
class PoolStats:
    invocations_sent: int
    frames_sent: int  # driver -> worker writes; fewer than messages when batched
    messages_sent: int
    bytes_sent: int
    admissions: int
    crashes: int
    restarts: int
    retired: int  # workers replaced after their CPU budget, not crashes
    states_shipped: int  # invocations that carried their object's whole state
    states_kept: int  # invocations that carried none: the worker had it as it was
    versions: int  # admitted versions the driver holds the bytes of
    workers: tuple[WorkerStats, ...]  # the workers that run tenants
    admission: WorkerStats | None  # the worker that admits components (index -1)


@dataclass(slots=True)
class _Version:
    """An admitted version: its bytes, kept for LOADs, and how many hold it."""

    code: bytes
    refs: int
    _load: bytes | None = None

    def load_message(self, version: str) -> bytes:
        """The LOAD message, encoded once for every worker that needs it."""
        if self._load is None:
            self._load = wire.encode((wire.LOAD, version, self.code))
        return self._load


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "closed its channel"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = {
            "SIGKILL": " (the OOM killer or the CPU hard limit, if not the pool)",
            "SIGXCPU": " (CPU time limit)",
            "SIGSEGV": " (a crash in the engine)",
        }.get(name, "")
        return f"was killed by {name}{hint}"
    return f"exited with status {returncode}"


def _worker_env() -> dict[str, str]:
    """A minimal environment: nothing of the driver's (secrets, paths) leaks in."""
    source_root = Path(wire.__file__).resolve().parent.parent
    return {
        "PATH": os.defpath,
        "PYTHONPATH": str(source_root),
        "PYTHONSAFEPATH": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
    }


class WorkerPool:
    """Runs hooks in sandbox worker processes (see module doc).

    ``workers`` processes (default: one per core) are started by
    :meth:`run`; ``cache_dir`` is the compile cache they share (with the
    in-process sandbox too); ``memory_mb`` and ``cpu_seconds`` are each
    worker's ``RLIMIT_AS`` (address space: the engine reserves 4 GiB per
    linear memory, so the default of 4 TiB allows about a thousand live
    memories) and soft ``RLIMIT_CPU`` (over a worker's life; near it the
    worker asks to be replaced and is, between calls); ``grace_ms`` is how
    long past an invocation's deadline a worker may stay silent before it
    is killed; ``admit_timeout_s`` bounds an admission or a component load
    (compiling a Python guest takes seconds); ``startup_timeout_s`` bounds
    a worker's start; ``backoff_max_s`` caps the wait before restarting a
    worker that keeps dying. With ``admission_worker`` (the default) one more worker does
    nothing but admit components, so a long compile never stalls a tenant;
    tenants' workers then load admitted code from the compile cache.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        cache_dir: Path | None = None,
        memory_mb: int = 4 * 1024 * 1024,
        cpu_seconds: int = 3600,
        call_path: Literal["fast", "stock"] = "fast",
        grace_ms: int = 1000,
        admit_timeout_s: float = 120.0,
        startup_timeout_s: float = 60.0,
        backoff_max_s: float = 5.0,
        admission_worker: bool = True,
        max_frame_bytes: int = wire.MAX_FRAME_BYTES,
        python: str = sys.executable,
    ) -> None:
        count = workers if workers is not None else (os.cpu_count() or 1)
        if count < 1:
            raise ValueError("a worker pool needs at least one worker")
        self._slots = [_Slot(i, f"sandbox worker {i}") for i in range(count)]
        self._spin = AdaptiveSpin(SPIN_S)  # how fast answers come (see _keep_polling)
        self._last_write = 0.0
        self._written = trio.Event()
        # Compiling a new component takes seconds (a Python guest); on a
        # worker that also runs tenants it would stall them all that time.
        self._admitter = _Slot(-1, "sandbox admission worker") if admission_worker else None
        self._all = [*self._slots, *([self._admitter] if self._admitter else [])]
        self._cache_dir = cache_dir.resolve() if cache_dir is not None else None
        self._memory_mb = memory_mb
        self._cpu_seconds = cpu_seconds
        self._call_path = call_path
        self._grace_s = grace_ms / 1000
        self._admit_timeout_s = admit_timeout_s
        self._startup_timeout_s = startup_timeout_s
        self._backoff_max_s = backoff_max_s
        self._max_frame = max_frame_bytes
        self._python = python
        self._env = _worker_env()
        self._tick = min(0.05, max(0.005, self._grace_s / 4))
        self._versions: dict[str, _Version] = {}
        self._tenant_slot: dict[str, _Slot] = {}
        self._ids = itertools.count(1)
        self._scope = trio.CancelScope()
        self._running = False
        self._closed = False
        self._stopped = trio.Event()
        # Counters for stats().
        self._invocations_sent = 0
        self._frames_sent = 0
        self._messages_sent = 0
        self._bytes_sent = 0
        self._admissions = 0
        self._crashes = 0
        self._restarts = 0
        self._retired = 0
        self._states_shipped = 0
        self._states_kept = 0

    # -- the Runtime protocol ------------------------------------------------------

    async def admit(self, code: bytes) -> str:
        """Admit a component in a worker (admission needs the engine);
        returns its version or raises :class:`AdmissionError` with the
        sandbox's own reason."""
        if len(code) > 1 << 20:
            # Hashing tens of MiB would stall the loop; hashlib drops the GIL.
            version = await trio.to_thread.run_sync(wire.content_hash, code)
        else:
            version = wire.content_hash(code)
        known = self._versions.get(version)
        if known is not None:
            known.refs += 1
            return version
        if self._closed:
            raise AdmissionError("the sandbox worker pool is shut down")
        job_id = next(self._ids)
        try:
            data = wire.encode((wire.ADMIT, job_id, code), self._max_frame)
        except wire.FrameTooLarge:
            raise AdmissionError(
                f"component is {len(code)} bytes, too large to send to a sandbox worker"
            ) from None
        job = _Job(_ADMIT, job_id, data, version)
        job.budget = self._admit_timeout_s
        slot = self._admitter or min(self._slots, key=lambda s: s.load)
        slot.submit(job)
        admitted = await job.wait()  # AdmissionError when refused
        if admitted != version:
            raise AdmissionError(
                f"the sandbox worker admitted version {str(admitted)[:12]}, "
                f"not {version[:12]} (the bytes changed in transit?)"
            )
        self._admissions += 1
        known = self._versions.get(version)  # admitted concurrently, elsewhere
        if known is not None:
            known.refs += 1
        else:
            self._versions[version] = _Version(code, 1)
        return version

    async def invoke(
        self,
        version: str,
        self_id: str,
        hook: str,
        args: Sequence[Any],
        state: Mapping[str, bytes],
        limits: Limits,
        world: HostWorld,
        *,
        tenant: str,
    ) -> Outcome:
        """Run one hook for one object in the tenant's worker; all or nothing,
        exactly as :meth:`sandbox.runtime.host.Sandbox.invoke`."""
        if hook not in HOOKS:
            return Outcome(GuestError(ErrorKind.NO_SUCH_HOOK, f"no hook named {hook!r}"))
        known = self._versions.get(version)
        if known is None:
            return Outcome(GuestError(ErrorKind.INSTANTIATE, f"unknown version {version[:12]}"))
        if self._closed:
            return Outcome(
                GuestError(ErrorKind.SANDBOX_CRASH, "the sandbox worker pool is shut down")
            )
        slot = self._tenant_slot.get(tenant)
        if slot is None:
            slot = self._assign(tenant)
        job_id = next(self._ids)
        if type(state) is not dict:
            state = dict(state)
        proc = slot.proc
        kept: _Kept | None = None
        if proc is not None:
            key = (tenant, self_id)
            kept = proc.kept.get(key)
            if kept is None or kept.holder is not None or kept.state != state:
                ship: dict[str, bytes] | None = state
            else:
                ship = None  # the worker has it as it is
        else:
            ship = state
        try:
            data = wire.encode_invoke(
                job_id, version, tenant, self_id, str(hook), args, ship, limits, self._max_frame
            )
        except wire.FrameTooLarge as exc:
            return Outcome(
                GuestError(
                    ErrorKind.HOST_ERROR, f"invocation too large for a sandbox worker: {exc}"
                )
            )
        except (TypeError, ValueError) as exc:  # cbor2 cannot encode an argument
            return Outcome(GuestError(ErrorKind.HOST_ERROR, f"bad arguments: {exc}"))
        job = _Job(_INVOKE, job_id, data, version)
        job.known = known
        job.tenant = tenant
        job.world = world
        job.deadline_s = limits.deadline_ms / 1000
        if ship is None:
            self._states_kept += 1
        else:
            self._states_shipped += 1
        if proc is not None:
            if ship is None:
                assert kept is not None and kept.state is not None
                job.base = kept.state
                job.full = (self_id, str(hook), args, state, limits)
            else:
                job.base = dict(state)  # the object's own dict changes when the outcome is applied
                size = len(data)
                if kept is not None:
                    if proc.kept_bytes - kept.size + size > KEPT_BYTES:
                        self._forget(slot, proc)
                        kept = None
                elif len(proc.kept) >= KEPT_OBJECTS or proc.kept_bytes + size > KEPT_BYTES:
                    self._forget(slot, proc)
                if kept is None:
                    kept = proc.kept[key] = _Kept(key)
                proc.kept_bytes += size - kept.size
                kept.size = size
            kept.state = None
            kept.holder = job
            job.kept = kept
            job.proc = proc
        if (
            proc is not None
            and not slot.gather
            and not proc.fifo
            and not slot.pending
            and not proc.backlog
            and not proc.retiring
            and proc.ready.is_set()
        ):
            # The worker is idle: nothing to batch with, so no reason to
            # wait for the sender. While it is busy, calls queue and the
            # sender writes them together (see PIPELINE_DEPTH).
            self._send(slot, proc, [job])
            if self._polling_pays():
                await self._poll_for(slot, proc, job)
        else:
            slot.submit(job)
        outcome: Outcome = await job.wait()
        return outcome

    def _polling_pays(self) -> bool:
        """Whether to poll for an answer rather than sleep (see
        :meth:`_keep_polling`): answers have been quick, and no more
        workers are busy than there are cores beside the driver's."""
        spin = self._spin
        if not spin.polling:
            return False
        busy = sum(1 for s in self._slots if s.proc is not None and s.proc.fifo)
        return 0 < busy < spin.cpus

    async def _poll_for(self, slot: _Slot, proc: _Proc, job: _Job) -> None:
        """Read the worker's channel from this task, between passes of the
        loop, until ``job``'s answer is in (or :data:`SPIN_S` is up): the
        answer is then handled right here, without waking the reader task
        and waiting for the loop to run it and then this task again."""
        clock = time.perf_counter
        end = clock() + self._spin.limit_s
        try:
            while job.result is None and not job.cancelled and clock() < end:
                await trio.lowlevel.checkpoint()
                if job.result is None and proc.kill_reason is None:
                    self._drain(slot, proc)
        except BaseException:
            # Cancelled while its call is in flight: as if parked (see
            # _Job.wait), its answer is dropped when it comes.
            job.cancelled = True
            job.world = None
            raise

    def _forget(self, slot: _Slot, proc: _Proc) -> None:
        """Drop every object's state ``proc``'s worker keeps, on both sides,
        in order: calls encoded before this see the old record, later ones
        an empty one."""
        proc.kept = {}
        proc.kept_bytes = 0
        slot.submit(_Job(_FORGET, 0, _FORGET_MESSAGE, ""))

    def release(self, version: str) -> None:
        """Give back one admission; the last one makes every worker forget the version."""
        known = self._versions.get(version)
        if known is None:
            return
        known.refs -= 1
        if known.refs > 0:
            return
        del self._versions[version]
        data = wire.encode((wire.RELEASE, version))
        for slot in self._slots:
            # In order behind anything queued for the version; the sender
            # drops it if the worker there never had the version.
            slot.submit(_Job(_RELEASE, 0, data, version))

    def memory_of(self, tenant: str) -> int:
        """Bytes ``tenant``'s live instances are charged in the workers, as
        each last reported it (after every sweep: at most ten seconds old)."""
        return sum(slot.memory.get(tenant, 0) for slot in self._slots)

    def sweep(self, idle_seconds: float = 60.0) -> None:
        """Have every worker drop instances idle for ``idle_seconds``, so the
        memory a burst took goes back to the system (fire and forget)."""
        data = wire.encode((wire.SWEEP, float(idle_seconds)))
        for slot in self._slots:
            proc = slot.proc
            if proc is not None:  # the worker drops the states it keeps too
                proc.kept = {}
                proc.kept_bytes = 0
            slot.submit(_Job(_SWEEP, 0, data, ""))

    # -- running ---------------------------------------------------------------------

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the workers and keep them running until cancelled or
        :meth:`aclose`; ``nursery.start(pool.run)`` returns once every worker
        is ready (or raises if one cannot start)."""
        if self._running or self._closed:
            raise RuntimeError("a WorkerPool runs once")
        self._running = True
        failure = None
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    for slot in self._all:
                        nursery.start_soon(self._supervise, slot)
                    nursery.start_soon(self._keep_polling)
                    with trio.move_on_after(self._startup_timeout_s):
                        for slot in self._all:
                            await slot.ready.wait()
                    missing = [s for s in self._all if not s.ready.is_set()]
                    if missing:
                        why = "; ".join(
                            f"{s.name} {s.last_failure or 'is silent'}" for s in missing
                        )
                        failure = f"sandbox workers did not start: {why}"
                        nursery.cancel_scope.cancel()
                    else:
                        task_status.started()
        finally:
            self._closed = True
            self._fail_everything("the sandbox worker pool is shut down")
            self._stopped.set()
        if failure is not None:
            # Raised here, not inside the nursery, so the caller of
            # nursery.start() gets the error itself, not a group of one.
            raise RuntimeError(failure)

    async def aclose(self) -> None:
        """Stop every worker and wait until they are reaped."""
        self._closed = True
        self._scope.cancel()
        if self._running:
            await self._stopped.wait()

    # -- introspection -------------------------------------------------------------------

    def stats(self) -> PoolStats:
        def one(s: _Slot) -> WorkerStats:
            return WorkerStats(
                index=s.index,
                pid=s.proc.pid if s.proc is not None else None,
                tenants=len(s.tenants),
                in_flight=len(s.proc.fifo) if s.proc is not None else 0,
                queued=len(s.pending),
                invocations=s.invocations,
                crashes=s.crashes,
                restarts=s.restarts,
            )

        return PoolStats(
            invocations_sent=self._invocations_sent,
            frames_sent=self._frames_sent,
            messages_sent=self._messages_sent,
            bytes_sent=self._bytes_sent,
            admissions=self._admissions,
            crashes=self._crashes,
            restarts=self._restarts,
            retired=self._retired,
            states_shipped=self._states_shipped,
            states_kept=self._states_kept,
            versions=len(self._versions),
            workers=tuple(one(s) for s in self._slots),
            admission=one(self._admitter) if self._admitter is not None else None,
        )

    def pid_of(self, tenant: str) -> int | None:
        """The process id of the worker that runs ``tenant`` (None if it has
        not invoked yet or its worker is being restarted)."""
        slot = self._tenant_slot.get(tenant)
        proc = slot.proc if slot is not None else None
        return proc.pid if proc is not None and proc.process.returncode is None else None

    # -- tenants -----------------------------------------------------------------------

    def _assign(self, tenant: str) -> _Slot:
        slot = min(self._slots, key=lambda s: (len(s.tenants), s.load))
        slot.tenants.add(tenant)
        self._tenant_slot[tenant] = slot
        return slot

    # -- one slot's life -------------------------------------------------------------------

    async def _supervise(self, slot: _Slot) -> None:
        while True:
            proc: _Proc | None = None
            try:
                proc = await self._spawn(slot)
            except OSError as exc:
                reason = f"could not be started: {exc}"
            else:
                slot.proc = proc
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._sender, slot, proc)
                        nursery.start_soon(self._writer, proc)
                        nursery.start_soon(self._watchdog, proc)
                        await self._reader(slot, proc)
                        nursery.cancel_scope.cancel()
                finally:
                    with trio.CancelScope(shield=True):
                        await self._reap(proc)
                if proc.retiring and proc.kill_reason is None and proc.process.returncode == 0:
                    self._retired += 1
                    log.info(
                        "%s (pid %d) retired after its CPU budget; replacing it",
                        slot.name,
                        proc.pid,
                    )
                    self._fail_in_flight(proc, f"{slot.name} (pid {proc.pid}) retired")
                    continue
                reason = proc.kill_reason or _describe_exit(proc.process.returncode)
            who = slot.name + (f" (pid {proc.pid})" if proc is not None else "")
            slot.last_failure = reason
            lost = self._fail_in_flight(proc, f"{who} {reason}") if proc else 0
            now = trio.current_time()
            slot.streak = slot.streak + 1 if now - slot.last_crash < 30 else 1
            slot.last_crash = now
            slot.crashes += 1
            self._crashes += 1
            delay = (
                0.0 if slot.streak == 1 else min(self._backoff_max_s, 0.1 * 2 ** (slot.streak - 2))
            )
            log.warning("%s %s; %d call(s) lost; restarting in %.1f s", who, reason, lost, delay)
            slot.proc = None
            await trio.sleep(delay)
            slot.restarts += 1
            self._restarts += 1

    async def _spawn(self, slot: _Slot) -> _Proc:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        tmpdir = tempfile.mkdtemp(
            prefix=f"jitrealm-worker{slot.index if slot.index >= 0 else 'A'}-"
        )
        fd = child.fileno()
        args = [
            self._python, "-m", "sandbox.runtime.worker", "--fd", str(fd),
            "--memory-mb", str(self._memory_mb), "--cpu-seconds", str(self._cpu_seconds),
            "--call-path", self._call_path, "--max-frame-bytes", str(self._max_frame), "--owns-cwd",
        ]  # fmt: skip
        if self._cache_dir is not None:
            args += ["--cache-dir", str(self._cache_dir)]
        try:
            process = await trio.lowlevel.open_process(
                args,
                pass_fds=(fd,),
                close_fds=True,
                cwd=tmpdir,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        finally:
            child.close()
        parent.setblocking(False)
        return _Proc(process, parent, tmpdir, self._max_frame)

    async def _reap(self, proc: _Proc) -> None:
        """Close the channel (a healthy worker exits on EOF), make sure the
        process is gone and waited for, and remove its directory."""
        try:
            proc.sock.close()
        except OSError:
            pass
        with trio.move_on_after(2):
            await proc.process.wait()
        if proc.process.returncode is None:
            proc.process.kill()
            await proc.process.wait()
        shutil.rmtree(proc.tmpdir, ignore_errors=True)

    def _fail_in_flight(self, proc: _Proc, message: str) -> int:
        """Answer everything sent to a process that is gone; returns how many
        invocations and admissions that was."""
        lost = 0
        for job in proc.fifo:
            if job.kind in (_INVOKE, _ADMIT):
                job.crash(message)
                lost += 1
        proc.fifo.clear()
        proc.calls.clear()
        return lost

    def _fail_everything(self, message: str) -> None:
        for slot in self._all:
            if slot.proc is not None:
                self._fail_in_flight(slot.proc, message)
            for job in slot.pending:
                job.crash(message)
            slot.pending.clear()

    # -- one process's tasks -------------------------------------------------------------------

    async def _sender(self, slot: _Slot, proc: _Proc) -> None:
        """Everything queued for the slot goes out together: one frame (a
        few at the frame cap), one ``send``, once the worker has fewer than
        :data:`PIPELINE_DEPTH` messages to answer."""
        await proc.ready.wait()
        while True:
            if proc.retiring:
                await trio.sleep_forever()  # the supervisor replaces this process
            if not slot.pending or len(proc.fifo) >= PIPELINE_DEPTH:
                await slot.wake.wait()
                slot.wake = trio.Event()  # pending is checked again below: no wake-up is lost
                continue
            batch = slot.pending
            slot.pending = []
            slot.wake = trio.Event()
            slot.gather = False
            self._send(slot, proc, batch)

    def _send(self, slot: _Slot, proc: _Proc, jobs: list[_Job]) -> None:
        """Write ``jobs`` to the worker, preceded by LOADs of the versions it
        lacks, and start timing what expects an answer."""
        now = trio.current_time()
        fifo = proc.fifo
        out: list[bytes] = []
        for job in jobs:
            kind = job.kind
            if job.cancelled:
                if kind == _INVOKE:
                    self._unkeep(job)  # never sent: what the worker keeps is unknown here
                continue
            if kind == _INVOKE:
                if job.proc is not proc and job.proc is not None:
                    # Encoded for a process that died before it went out:
                    # this one keeps nothing of that one's.
                    if not self._reencode(job):
                        continue
                version = job.version
                if version not in proc.loaded:
                    assert job.known is not None
                    load = _Job(_LOAD, 0, job.known.load_message(version), version)
                    load.budget = self._admit_timeout_s
                    if not fifo:
                        proc.head_since = now
                    fifo.append(load)
                    proc.loaded.add(version)
                    out.append(load.data)
                warm = (job.tenant, version) in proc.warm
                job.budget = (
                    job.deadline_s + self._grace_s + (0.0 if warm else INSTANTIATE_ALLOWANCE_S)
                )
                proc.calls[job.id] = job
                self._invocations_sent += 1
                slot.invocations += 1
            elif kind == _ADMIT:
                proc.calls[job.id] = job
            elif kind == _RELEASE:  # only where the version was sent
                if job.version not in proc.loaded:
                    continue
                proc.loaded.discard(job.version)
                proc.warm = {k for k in proc.warm if k[1] != job.version}
            elif kind == _SWEEP:
                proc.warm.clear()  # which instances survive is the worker's to know
            if kind < _RELEASE:
                if not fifo:
                    proc.head_since = now
                fifo.append(job)
            out.append(job.data)
        if not out:
            return
        room = self._max_frame - 2
        chunk: list[bytes] = []
        size = 0
        for data in out:
            if chunk and size + len(data) > room:
                self._write_frame(proc, chunk)
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        self._write_frame(proc, chunk)

    def _unkeep(self, job: _Job) -> None:
        """Forget what ``job``'s process keeps of its object (an answer that
        cannot be trusted to say): the next call ships the state."""
        kept, proc = job.kept, job.proc
        job.kept = job.base = job.full = None
        if kept is None or proc is None or kept.holder is not job:
            return
        if proc.kept.get(kept.key) is kept:
            del proc.kept[kept.key]
            proc.kept_bytes -= kept.size

    def _reencode(self, job: _Job) -> bool:
        """``job`` with its object's state in full (it goes to a new worker
        process); False if that cannot be sent (the job is answered)."""
        full = job.full
        self._unkeep(job)
        job.proc = None
        if full is None:
            return True  # it ships the state already
        self._states_kept -= 1
        self._states_shipped += 1
        self_id, hook, args, state, limits = full
        try:
            job.data = wire.encode_invoke(
                job.id, job.version, job.tenant, self_id, hook, args, state, limits,
                self._max_frame,
            )  # fmt: skip
        except (wire.FrameTooLarge, TypeError, ValueError) as exc:
            job.finish(
                Outcome(
                    GuestError(
                        ErrorKind.HOST_ERROR, f"invocation too large for a sandbox worker: {exc}"
                    )
                )
            )
            return False
        return True

    def _write_frame(self, proc: _Proc, messages: list[bytes]) -> None:
        size = sum(len(m) for m in messages)
        self._frames_sent += 1
        self._messages_sent += len(messages)
        self._bytes_sent += size + 6
        if size < SMALL_FRAME:
            self._write(proc, [wire.frame(messages)])
        else:  # a component: framed without copying it again
            self._write(proc, wire.frame_parts(messages))

    def _write(self, proc: _Proc, parts: list[bytes]) -> None:
        """Write a frame now, without waiting, in one system call; what the
        socket does not take is left for :meth:`_writer`, in order."""
        backlog = proc.backlog
        if backlog:
            backlog.extend(memoryview(p) for p in parts)
            return
        self._last_write = time.perf_counter()
        self._written.set()
        try:
            sent = proc.sock.send(parts[0]) if len(parts) == 1 else proc.sock.sendmsg(parts)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the worker is gone; the reader sees it and the supervisor acts
        for part in parts:
            if sent >= len(part):
                sent -= len(part)
                continue
            backlog.append(memoryview(part)[sent:])
            sent = 0
        if backlog:
            proc.backlog_ready.set()

    async def _writer(self, proc: _Proc) -> None:
        sock = proc.sock
        backlog = proc.backlog
        while True:
            await proc.backlog_ready.wait()
            proc.backlog_ready = trio.Event()
            while backlog:
                await trio.lowlevel.wait_writable(sock)
                try:
                    sent = sock.sendmsg(list(itertools.islice(backlog, 64)))
                except BlockingIOError:
                    continue
                except OSError:
                    return
                while sent:
                    head = backlog[0]
                    if sent < len(head):
                        backlog[0] = head[sent:]
                        break
                    sent -= len(head)
                    backlog.popleft()

    async def _keep_polling(self) -> None:
        """Keep the loop awake, polling, for a moment after each call is
        written, while answers have been coming back that fast.

        When nothing else is ready to run, trio sleeps in ``epoll_wait``
        and the worker's answer has to wake this process up, which on this
        kind of machine costs more than a light guest's whole call (see
        :mod:`sandbox.spin`). While this task spins, every pass of the loop
        polls the sockets instead (``epoll_wait`` with no timeout), so the
        reader has the answer as soon as it lands; when the loop has other
        work, a pass costs one more task step. It stops when nothing is in
        flight, or :data:`SPIN_S` after the last write; and not at all while
        answers have been slower than that (long calls), or while more
        workers are busy than there are cores beside the driver's: then
        the workers need this core, and the loop wakes often anyway."""
        clock, spin = time.perf_counter, self._spin
        while True:
            await self._written.wait()
            self._written = trio.Event()
            while clock() - self._last_write < spin.limit_s and self._polling_pays():
                await trio.lowlevel.checkpoint()

    async def _watchdog(self, proc: _Proc) -> None:
        """Kill a worker that stays silent past its budget: the head of the
        queue is the one message the worker can be working on.

        Only silence counts. Time the driver itself was not running (a
        stalled loop, a starved process) is added back to the head's clock,
        and an overdue head is confirmed a tick later, so an answer already
        in the socket is read first (the reader may simply not have run yet).
        A worker that floods the channel instead of answering gains nothing.
        """
        tick = self._tick
        last = trio.current_time()
        suspect: _Job | None = None
        while True:
            await trio.sleep(tick)
            now = trio.current_time()
            stalled = now - last - tick
            last = now
            if stalled > tick:
                proc.head_since += stalled
                proc.started += stalled
                continue
            if not proc.ready.is_set():
                if now - proc.started > self._startup_timeout_s:
                    proc.kill(f"did not start within {self._startup_timeout_s:g} s; killed")
                    return
                continue
            fifo = proc.fifo
            if not fifo or now - proc.head_since <= fifo[0].budget:
                suspect = None
                continue
            head = fifo[0]
            if head is not suspect:
                suspect = head
                continue
            if head.kind == _INVOKE:
                why = (
                    f"gave no answer {head.budget * 1000:.0f} ms into a call (deadline "
                    f"{head.deadline_s * 1000:.0f} ms + {self._grace_s * 1000:.0f} ms grace"
                    + (
                        ""
                        if head.budget < head.deadline_s + self._grace_s + 1
                        else " + instantiation"
                    )
                    + "); killed"
                )
            else:
                what = "an admission" if head.kind == _ADMIT else "loading a component"
                why = f"spent over {head.budget:g} s on {what}; killed"
            proc.kill(why)
            return

    async def _reader(self, slot: _Slot, proc: _Proc) -> None:
        """Read answers until the channel closes (the worker died or exited)."""
        sock = proc.sock
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                size = sock.recv_into(proc.buffer)
            except BlockingIOError:
                continue  # a polling caller read it first
            except OSError:
                return
            if not size or not self._handle_read(slot, proc, size):
                return

    def _drain(self, slot: _Slot, proc: _Proc) -> None:
        """Handle what the worker has sent, if anything, without waiting (an
        end of the channel is left for the reader to see)."""
        try:
            size = proc.sock.recv_into(proc.buffer)
        except OSError:  # nothing yet (BlockingIOError), or gone: the reader sees it
            return
        if size:
            self._handle_read(slot, proc, size)

    def _handle_read(self, slot: _Slot, proc: _Proc, size: int) -> bool:
        """Decode and dispatch ``size`` bytes just read into the buffer;
        False if the worker said something that got it killed."""
        try:
            frames = proc.decoder.feed(proc.buffer[:size])
        except wire.WireError as exc:
            proc.kill(f"sent a bad frame ({exc}); killed")
            return False
        slot.answered = 0
        dispatch = self._dispatch
        try:
            for messages in frames:
                for message in messages:
                    dispatch(slot, proc, message)
        except Exception as exc:
            # A worker runs untrusted code: what it says is checked, and
            # one that says nonsense is not believed any further.
            proc.kill(f"sent a malformed message ({type(exc).__name__}: {exc}); killed")
            return False
        if slot.answered:
            self._spin.waited(time.perf_counter() - self._last_write)
        if slot.answered > 1:
            slot.gather = True
        return True

    def _answered(self, slot: _Slot, proc: _Proc, job: _Job) -> None:
        if slot.pending:
            slot.wake.set()  # the sender may be holding back for this
        fifo = proc.fifo
        if fifo and fifo[0] is job:
            fifo.popleft()
        else:
            try:
                fifo.remove(job)
            except ValueError:
                pass
        proc.head_since = trio.current_time()
        if proc.retiring and not fifo:
            self._let_go(proc)

    def _let_go(self, proc: _Proc) -> None:
        """A retiring worker has nothing in flight: closing our side of the
        channel makes it exit (status 0), and the supervisor replaces it."""
        try:
            proc.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _dispatch(self, slot: _Slot, proc: _Proc, message: list[Any]) -> None:
        kind = message[0]
        if kind == wire.OUTCOME:
            job = proc.calls.get(message[1])
            if job is None:
                return  # its worker was replaced meanwhile
            # Decoded before the call is taken off the books: if the worker
            # sent nonsense, the call is still in flight when it is killed.
            outcome = wire.outcome_from_wire(message[2])
            del proc.calls[message[1]]
            kept = job.kept
            if kept is not None and kept.holder is job:
                # What the worker keeps now: the state it ran on, with the
                # changes if the call succeeded (the worker did the same).
                kept.holder = None
                base = job.base
                assert base is not None
                if outcome.error is None and proc.kept.get(kept.key) is kept:
                    grown = 0
                    for name, value in outcome.state_changes.items():
                        if value is None:
                            base.pop(name, None)
                        else:
                            base[name] = value
                            grown += len(value)
                    kept.size += grown
                    proc.kept_bytes += grown
                kept.state = base
            job.kept = job.base = job.full = None
            slot.answered += 1
            self._answered(slot, proc, job)
            key = (job.tenant, job.version)
            if outcome.error is None:
                proc.warm.add(key)
            else:
                proc.warm.discard(key)  # the sandbox threw the instance away
            job.finish(outcome)
        elif kind == wire.QUERY:
            self._answer(proc, message)
        elif kind == wire.LOADED:
            version, error = message[1], message[2]
            for job in proc.fifo:
                if job.kind == _LOAD and job.version == version:
                    self._answered(slot, proc, job)
                    break
            if error is not None:
                proc.loaded.discard(version)  # tried again before the next call
                log.warning("%s (pid %d): %s", slot.name, proc.pid, error)
        elif kind == wire.ADMITTED or kind == wire.REFUSED:
            if type(message[2]) is not str:
                raise wire.WireError(
                    f"an admission's answer is text, not {type(message[2]).__name__}"
                )
            job = proc.calls.pop(message[1], None)
            if job is None:
                return
            self._answered(slot, proc, job)
            if kind == wire.ADMITTED:
                proc.loaded.add(message[2])
                if slot is self._admitter:
                    # Tenants' workers load it (from the compile cache) when
                    # they need it; the admission worker need not keep it.
                    slot.submit(
                        _Job(_RELEASE, 0, wire.encode((wire.RELEASE, message[2])), message[2])
                    )
                job.finish(message[2])
            else:
                job.fail(AdmissionError(str(message[2])))
        elif kind == wire.HELLO:
            if message[2] != wire.PROTOCOL:
                proc.kill(f"speaks protocol {message[2]!r}, not {wire.PROTOCOL}; killed")
                return
            proc.head_since = trio.current_time()
            proc.ready.set()
            slot.ready.set()
        elif kind == wire.MEMORY:
            report = message[1]
            if isinstance(report, dict):
                slot.memory = {str(k): int(v) for k, v in report.items() if isinstance(v, int)}
        elif kind == wire.RETIRING:
            proc.retiring = True
            slot.wake.set()  # the sender stops taking work
            log.info("%s (pid %d) asks to be replaced: %s", slot.name, proc.pid, message[1])
            if not proc.fifo:
                self._let_go(proc)
        elif kind == wire.ERROR:
            self._worker_error(slot, proc, message)
        else:
            proc.kill(f"sent an unknown message kind {kind!r}; killed")

    def _answer(self, proc: _Proc, message: list[Any]) -> None:
        """Answer a world query from the invocation's own HostWorld, at once:
        the worker is blocked until it arrives."""
        call_id = message[1]
        job = proc.calls.get(call_id)
        world = job.world if job is not None else None
        if world is None:
            reply: list[Any] = [
                wire.ANSWER,
                call_id,
                wire.ANSWER_FAILED,
                ("LookupError", f"no call {call_id} in flight"),
            ]
        else:
            reply = wire.answer_query(world, call_id, message[2], message[3])
        try:
            data = wire.encode(reply, self._max_frame)
        except (TypeError, ValueError) as exc:  # the world answered something CBOR cannot carry
            data = wire.encode(
                (wire.ANSWER, call_id, wire.ANSWER_FAILED, (type(exc).__name__, str(exc)))
            )
        self._write_frame(proc, [data])

    def _worker_error(self, slot: _Slot, proc: _Proc, message: list[Any]) -> None:
        """The worker could not handle a message: fail that one, loudly."""
        ref, text = message[1], str(message[2])
        log.error("%s (pid %d): %s", slot.name, proc.pid, text)
        job = proc.calls.pop(ref, None) if isinstance(ref, int) else None
        if job is None:
            for queued in proc.fifo:
                if queued.kind == _LOAD and queued.version == ref:
                    self._answered(slot, proc, queued)
                    proc.loaded.discard(queued.version)
                    break
            return
        self._answered(slot, proc, job)
        if job.kind == _INVOKE:
            self._unkeep(job)
            job.finish(Outcome(GuestError(ErrorKind.HOST_ERROR, f"{slot.name}: {text}")))
        else:
            job.fail(AdmissionError(f"{slot.name}: {text}"))

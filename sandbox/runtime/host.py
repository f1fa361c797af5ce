"""The sandbox: admits components and runs their hooks under hard limits.

:class:`Sandbox` is the whole API the driver uses:

* :meth:`Sandbox.admit` checks and compiles a component and returns its
  version id (the content hash);
* :meth:`Sandbox.invoke` runs one hook of one version for one object and
  returns an :class:`~sandbox.protocol.Outcome` — all or nothing;
* :meth:`Sandbox.release` forgets a version nothing uses any more.

One live instance per (tenant, version) serves every object of that
blueprint version in that tenant; objects' state is passed in and changes
come back in the Outcome, so the instance holds nothing worth keeping. When a
call fails for any reason the instance is discarded (its memory may be in any
state) and a fresh one is built on the next call.
"""

from __future__ import annotations

import functools
import re
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import wasmtime
from wasmtime import component as wc

from sandbox import pysource
from sandbox.protocol import (
    HOOKS,
    AdmissionError,
    ErrorKind,
    GuestError,
    HostLimit,
    HostWorld,
    Limits,
    Outcome,
    WorldRefusal,
)
from sandbox.runtime import admission
from sandbox.runtime.engine import SharedEngine, content_hash
from sandbox.runtime.fastcall import (
    Arena,
    CallFailed,
    FastExport,
    HostRaised,
    Meter,
    StockExport,
    define_fast_imports,
    define_stock_imports,
)
from sandbox.runtime.hostcalls import Call, GuestFault

CallPath = Literal["fast", "stock"]

DEFAULT_MAX_COMPONENT_BYTES = 64 * 1024 * 1024
GUEST_LOG_LINES = 200

# Substrings of trap messages (and their wasm backtraces) that mean the guest
# ran out of linear memory: the C SDK traps in `realm_out_of_memory`, Rust's
# allocator prints "memory allocation of N bytes failed", CPython raises
# MemoryError.
_OOM_MARKERS = ("realm_out_of_memory", "memory allocation of", "MemoryError", "out of memory")


@dataclass(slots=True)
class VersionInfo:
    version: str
    size: int
    needs_wasi: bool
    how: str  # "compiled", "disk" or "memory": where the compiled code came from
    component: wc.Component
    #: For a Python source version: its source, run by the shared runtime
    #: (``component`` is then that runtime's).
    python: pysource.PythonSource | None = None
    #: Its source compiled by the runtime (marshalled, base64), from the first load.
    code: str = ""


@dataclass(slots=True)
class RuntimeInfo:
    """A shared Python runtime, compiled once for every version that uses it."""

    digest: str
    how: str  # where its compiled code came from, the one time it was needed
    component: wc.Component
    needs_wasi: bool


class _Live:
    """A live instance: a store, the instance, and its hooks."""

    __slots__ = ("store", "meter", "instance", "hooks", "memory_bytes", "last_used", "loaded")

    def __init__(self, store: wasmtime.Store, instance: wc.Instance, memory_bytes: int) -> None:
        self.store = store
        self.meter = Meter(store)
        self.instance = instance
        self.hooks: dict[str, Any] = {}
        self.memory_bytes = memory_bytes
        self.last_used = time.monotonic()
        self.loaded = False  # a Python source version's source has run in it


class _LoadFailed(Exception):
    """A Python source version's ``load`` failed: the author's error, or a
    trap, fuel or deadline while its top level ran."""

    def __init__(self, error: GuestError) -> None:
        super().__init__(error.message)
        self.error = error


class _NoWorld:
    """The world a trial load sees at admission: empty, and it refuses
    every change (a blueprint's top level should not change the world)."""

    def environment(self, target: str) -> str | None:
        return None

    def contents(self, target: str) -> list[str]:
        return []

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        return None

    def clone(self, asker: str, blueprint: str) -> str:
        raise WorldRefusal("no clones while a blueprint is being admitted")

    def destruct(self, asker: str, target: str) -> None:
        raise WorldRefusal("nothing can be destructed while a blueprint is being admitted")

    def move(self, asker: str, target: str, destination: str) -> None:
        raise WorldRefusal("nothing can move while a blueprint is being admitted")

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def next_callout_handle(self) -> int:
        return 0

    def cancel_callout(self, asker: str, handle: int) -> bool:
        return False


_NO_WORLD = _NoWorld()


class _OverMemory(Exception):
    """One more instance would not fit in the tenant's memory in total."""


class GuestLog:
    """A bounded per-tenant log of guest stdout/stderr and `log` lines."""

    def __init__(self, max_lines: int = GUEST_LOG_LINES, max_line: int = 1024) -> None:
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.max_line = max_line
        self._partial = b""

    def write(self, data: bytes) -> list[str]:
        """Take output; return the lines it completed."""
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        done = [raw[: self.max_line].decode("utf-8", "replace") for raw in complete]
        if len(self._partial) > self.max_line:
            done.append(self._partial[: self.max_line].decode("utf-8", "replace"))
            self._partial = b""
        self.lines.extend(done)
        return done


class Sandbox:
    """Runs blueprint hooks under fuel, deadline and memory limits (see module doc)."""

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        max_component_bytes: int = DEFAULT_MAX_COMPONENT_BYTES,
        call_path: CallPath = "fast",
        engine: SharedEngine | None = None,
    ) -> None:
        self.shared = engine or SharedEngine(cache_dir)
        self.engine = self.shared.engine
        self.max_component_bytes = max_component_bytes
        self.call_path = call_path
        self._versions: dict[str, VersionInfo] = {}
        self._admitted: Counter[str] = Counter()  # version -> admissions not yet released
        # Live instances, least recently used first (a hit moves to the end).
        self._live: dict[tuple[str, str], _Live] = {}
        self._tenant_memory: Counter[str] = Counter()  # tenant -> memory its instances may use
        self._current: Call | None = None
        self._keepalive: list[Any] = []
        self._arena = Arena()
        self.guest_logs: dict[str, GuestLog] = {}
        self.runtimes: dict[str, RuntimeInfo] = {}  # Python runtimes by content hash
        self.runtime_loads: Counter[str] = Counter()  # runtime -> times compiled or read here
        self.linker = self._make_linker()

    # -- linking ----------------------------------------------------------------

    def _current_call(self) -> Call:
        call = self._current
        if call is None:
            raise RuntimeError("host import called outside an invocation")
        return call

    def _make_linker(self) -> wc.Linker:
        linker = wc.Linker(self.engine)
        # WASI 0.2 for runtimes that need it (componentize-py). What a guest
        # can reach through it is decided per store by its WasiConfig, which
        # grants nothing (see _new_store).
        linker.add_wasip2()
        with linker.root() as root, root.add_instance(admission.HOST_IMPORT) as host:
            if self.call_path == "fast":
                define_fast_imports(host, self._current_call, self._keepalive)
            else:
                define_stock_imports(host, self._current_call)
        return linker

    # -- admission --------------------------------------------------------------

    def admit(self, data: bytes) -> str:
        """Check, compile and remember a component; return its version id.

        Raises :class:`AdmissionError` with a clear reason when the component
        is refused. Admitting the same bytes again is cheap.
        """
        version = content_hash(data)
        if version in self._versions:
            self._admitted[version] += 1
            return version
        try:
            python = pysource.decode(data)
        except pysource.NotPythonSource as exc:
            raise AdmissionError(f"not a valid Python source version: {exc}") from None
        if python is not None:
            return self._admit_python(version, data, python)
        admission.check_size(data, self.max_component_bytes)
        try:
            component, how = self.shared.compile(data, version)
        except wasmtime.WasmtimeError as exc:
            raise AdmissionError(f"not a valid component: {_first_line(exc)}") from None
        try:
            needs_wasi = admission.check_world(self.engine, component)
        except AdmissionError:
            self.shared.forget(version)
            raise
        info = VersionInfo(version, len(data), needs_wasi, how, component)
        # A trial instantiation catches imports whose types do not match the
        # host's before any object depends on this version.
        try:
            self._instantiate(info, "admission", Limits().memory_bytes)
        except wasmtime.WasmtimeError as exc:
            self.shared.forget(version)
            raise AdmissionError(f"component cannot be linked: {_first_line(exc)}") from None
        self._versions[version] = info
        self._admitted[version] = 1
        return version

    def _admit_python(self, version: str, data: bytes, python: pysource.PythonSource) -> str:
        """Admit a Python source version: its runtime (compiled once, shared
        by every version and tenant), then a trial instance that runs the
        source, so that an error at its top level refuses it now."""
        if len(data) > self.max_component_bytes:
            raise AdmissionError(
                f"component is {len(data)} bytes, over the {self.max_component_bytes}-byte limit"
            )
        runtime = self.runtime(python.runtime)
        info = VersionInfo(
            version, len(data), runtime.needs_wasi, runtime.how, runtime.component, python
        )
        limits = Limits()
        try:
            live = self._instantiate(info, "admission", limits.memory_bytes)
        except wasmtime.WasmtimeError as exc:
            raise AdmissionError(f"the Python runtime cannot be linked: {_first_line(exc)}") from None
        call = Call("", {}, limits, _NO_WORLD)
        live.meter.arm(limits.fuel, self.shared.ticks_for(limits.deadline_ms))
        call.meter = live.meter
        call.deadline_at = time.perf_counter() + limits.deadline_ms / 1000
        try:
            self._load_source(live, info, call)
        except _LoadFailed as exc:
            raise AdmissionError(exc.error.message) from None
        self._versions[version] = info
        self._admitted[version] = 1
        return version

    def runtime(self, digest: str) -> RuntimeInfo:
        """The Python runtime ``digest``, compiled (or read from the compile
        cache) the first time any version needs it. Raises AdmissionError
        when this machine does not have it."""
        known = self.runtimes.get(digest)
        if known is not None:
            return known
        path = pysource.find_runtime(self.shared.cache_dir, digest)
        try:
            data = path.read_bytes() if path is not None else None
        except OSError:
            data = None
        if data is None or content_hash(data) != digest:
            raise AdmissionError(
                f"built for the Python runtime {digest[:12]}, which this server does not have "
                "(build it with this server's SDK: jitrealm build)"
            )
        try:
            component, how = self.shared.compile(data, digest)
        except wasmtime.WasmtimeError as exc:
            raise AdmissionError(f"the Python runtime is not a valid component: {_first_line(exc)}") from None
        needs_wasi = admission.check_runtime_world(self.engine, component)
        info = self.runtimes[digest] = RuntimeInfo(digest, how, component, needs_wasi)
        self.runtime_loads[digest] += 1
        return info

    def _load_source(self, live: _Live, info: VersionInfo, call: Call) -> None:
        """Run a Python source version's source in a fresh instance of its
        runtime, once, with ``call`` (armed by the caller) as the context
        of any host call its top level makes."""
        python = info.python
        assert python is not None
        store = live.store
        iface = live.instance.get_export_index(store, admission.PYTHON_SOURCE_EXPORT)
        index = live.instance.get_export_index(store, "load", iface)
        func = live.instance.get_func(store, index) if index is not None else None
        if func is None:
            raise _LoadFailed(GuestError(ErrorKind.INSTANTIATE, "the Python runtime has no load export"))
        previous, self._current = self._current, call
        try:
            answer = func(store, python.file, python.source, info.code)
        except (wasmtime.WasmtimeError, HostRaised) as exc:
            error = _classify(call, str(exc))
            reason = _logged_reason(call.logs) if error.kind == ErrorKind.TRAP else None
            kind = _kind_of_reason(reason, error.kind) if reason else error.kind
            raise _LoadFailed(GuestError(kind, reason or error.message)) from None
        finally:
            self._current = previous
        if isinstance(answer, wc.Variant):  # result<string, string> comes back tagged
            tag, answer = answer.tag, answer.payload
            if tag == "err":  # the author's error, logged with its traceback
                raise _LoadFailed(GuestError(ErrorKind.TRAP, str(answer)))
        if isinstance(answer, str) and answer and not info.code:
            info.code = answer  # compiled once; every later instance skips compiling
        live.loaded = True

    def version_info(self, version: str) -> VersionInfo:
        return self._versions[version]

    def memory_of(self, tenant: str) -> int:
        """Bytes ``tenant``'s live instances are charged (each its memory cap)."""
        return self._tenant_memory.get(tenant, 0)

    def memory_by_tenant(self) -> dict[str, int]:
        """:meth:`memory_of` for every tenant with live instances."""
        return {tenant: n for tenant, n in self._tenant_memory.items() if n > 0}

    def release(self, version: str) -> None:
        """Give back one admission of ``version``. When every admission is
        given back (two tenants may run the same bytes), its instances and
        compiled code are dropped."""
        left = self._admitted.get(version, 0) - 1
        if left > 0:
            self._admitted[version] = left
            return
        self._admitted.pop(version, None)
        self._versions.pop(version, None)
        for key in [k for k in self._live if k[1] == version]:
            self._drop(key)
        self.shared.forget(version)

    # -- instances --------------------------------------------------------------

    def _guest_log(self, tenant: str) -> GuestLog:
        log = self.guest_logs.get(tenant)
        if log is None:
            log = self.guest_logs[tenant] = GuestLog()
        return log

    def _new_store(self, info: VersionInfo, tenant: str, memory_bytes: int) -> wasmtime.Store:
        store = wasmtime.Store(self.engine)
        store.set_limits(memory_size=memory_bytes, instances=64, tables=16, memories=16)
        if info.needs_wasi:
            wasi = wasmtime.WasiConfig()  # no args, env, preopens or inherited stdio
            log = self._guest_log(tenant)
            wasi.stdout_custom = functools.partial(self._guest_output, log, "stdout")
            wasi.stderr_custom = functools.partial(self._guest_output, log, "stderr")
            store.set_wasi(wasi)
        return store

    def _guest_output(self, log: GuestLog, level: str, data: bytes) -> None:
        """A guest wrote to stdout or stderr (Python's print, a traceback):
        each complete line becomes a log line of the call that wrote it, at
        level ``stdout`` or ``stderr``, so its author can read it with the
        rest of the tenant's log. (Output while no call runs, at start-up,
        stays in the bounded per-tenant buffer.)"""
        lines = log.write(data)
        call = self._current
        if call is not None:
            for line in lines:
                call.log(level, line)

    def _instantiate(self, info: VersionInfo, tenant: str, memory_bytes: int) -> _Live:
        store = self._new_store(info, tenant, memory_bytes)
        # Instantiation may run guest start code: bound it like a call.
        store.set_fuel(Limits().fuel * 20)
        store.set_epoch_deadline(self.shared.ticks_for(5000))
        instance = self.linker.instantiate(store, info.component)
        return _Live(store, instance, memory_bytes)

    def _live_for(self, version: str, tenant: str, limits: Limits) -> _Live:
        key = (tenant, version)
        memory_bytes = limits.memory_bytes
        live = self._live.pop(key, None)
        if live is not None and live.memory_bytes != memory_bytes:
            self._tenant_memory[tenant] += memory_bytes - live.memory_bytes
            live.store.set_limits(memory_size=memory_bytes)
            live.memory_bytes = memory_bytes
        if live is None:
            self._make_room(tenant, memory_bytes, limits.memory_total_bytes)
            live = self._instantiate(self._versions[version], tenant, memory_bytes)
            self._tenant_memory[tenant] += memory_bytes
        live.last_used = time.monotonic()
        self._live[key] = live  # now the most recently used
        return live

    def _make_room(self, tenant: str, memory_bytes: int, total: int) -> None:
        """Evict ``tenant``'s least recently used instances until one more of
        ``memory_bytes`` fits in its ``total``. An instance is charged its
        memory cap: what it may grow to, whatever it uses now."""
        if memory_bytes > total:
            raise _OverMemory(f"an instance may use {memory_bytes} bytes, over the tenant's {total}")
        for key in [k for k in self._live if k[0] == tenant]:
            if self._tenant_memory[tenant] + memory_bytes <= total:
                return
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        live = self._live.pop(key, None)
        if live is not None:
            self._tenant_memory[key[0]] -= live.memory_bytes
            if self._tenant_memory[key[0]] <= 0:
                del self._tenant_memory[key[0]]

    def sweep(self, idle_seconds: float = 60.0) -> int:
        """Drop instances idle for ``idle_seconds`` (their memory goes back to
        the system; the next call builds a fresh one). Returns how many."""
        horizon = time.monotonic() - idle_seconds
        idle = [key for key, live in self._live.items() if live.last_used < horizon]
        for key in idle:
            self._drop(key)
        return len(idle)

    def _hook(self, live: _Live, hook: str) -> Any:
        fn = live.hooks.get(hook)
        if fn is None:
            store = live.store
            iface = live.instance.get_export_index(store, admission.OBJECT_EXPORT)
            index = live.instance.get_export_index(store, hook, iface)
            func = live.instance.get_func(store, index) if index is not None else None
            if func is None:
                raise KeyError(hook)
            cls = FastExport if self.call_path == "fast" else StockExport
            fn = live.hooks[hook] = cls(func, store, hook, self._arena)
        return fn

    def discard(self, version: str, tenant: str) -> None:
        """Throw an instance away; the next call builds a fresh one."""
        self._drop((tenant, version))

    # -- invocation -------------------------------------------------------------

    def invoke(
        self,
        version: str,
        self_id: str,
        hook: str,
        args: Sequence[Any],
        state: Mapping[str, bytes],
        limits: Limits,
        world: HostWorld,
        *,
        tenant: str = "demo",
    ) -> Outcome:
        """Run ``hook`` of ``version`` for object ``self_id`` (see module doc).

        ``args`` are the hook's arguments after ``self-id``, as Python values
        (str, None for an absent option, bytes for list<u8>).
        """
        started = time.perf_counter()
        if hook not in HOOKS:
            return Outcome(GuestError(ErrorKind.NO_SUCH_HOOK, f"no hook named {hook!r}"))
        if version not in self._versions:
            return Outcome(GuestError(ErrorKind.INSTANTIATE, f"unknown version {version[:12]}"))
        call = Call(self_id, state, limits, world)
        try:
            live = self._live_for(version, tenant, limits)
        except _OverMemory as exc:
            return self._failed(call, GuestError(ErrorKind.HOST_LIMIT, str(exc)), started, 0)
        except wasmtime.WasmtimeError as exc:
            return self._failed(call, _classify_instantiate(str(exc)), started, 0)
        meter = live.meter
        meter.arm(limits.fuel, self.shared.ticks_for(limits.deadline_ms))
        call.meter = meter
        call.deadline_at = time.perf_counter() + limits.deadline_ms / 1000
        if not live.loaded and self._versions[version].python is not None:
            try:
                self._load_source(live, self._versions[version], call)
            except _LoadFailed as exc:
                fuel_used = limits.fuel - meter.fuel_left()
                self.discard(version, tenant)
                return self._failed(call, exc.error, started, fuel_used)
        fn = self._hook(live, hook)
        self._current = call
        try:
            result = fn((self_id, *args))
        except CallFailed as exc:
            fuel_used = limits.fuel - meter.fuel_left()
            self.discard(version, tenant)
            error = _classify(call, str(exc))
            reason = _logged_reason(call.logs) if error.kind == ErrorKind.TRAP else None
            if reason:
                # A guest runtime that reports its own failure (the Python
                # SDK logs the exception, then traps) says it better; its
                # MemoryError is the memory cap reached.
                error = GuestError(_kind_of_reason(reason, error.kind), reason)
            return self._failed(call, error, started, fuel_used)
        except (TypeError, UnicodeEncodeError) as exc:
            # The caller passed arguments that do not fit the hook: no wasm ran.
            return self._failed(call, GuestError(ErrorKind.HOST_ERROR, f"bad arguments: {exc}"), started, 0)
        finally:
            self._current = None
        return Outcome(
            None,
            result=result,
            effects=call.effects,
            state_changes=call.state_changes(),
            fuel_used=limits.fuel - meter.fuel_left(),
            wall_ms=(time.perf_counter() - started) * 1000,
            logs=call.logs,
        )

    def _failed(self, call: Call, error: GuestError, started: float, fuel_used: int) -> Outcome:
        return Outcome(
            error,
            fuel_used=fuel_used,
            wall_ms=(time.perf_counter() - started) * 1000,
            logs=call.logs,
        )


def _logged_reason(logs: list[tuple[str, str]]) -> str | None:
    """The last line of the last error the guest logged (an exception's
    "ValueError: bad thing" after its traceback), if it logged one."""
    for level, text in reversed(logs):
        if level == "error":
            lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
            return lines[-1][:300] if lines else None
    return None


def _kind_of_reason(reason: str, kind: ErrorKind) -> ErrorKind:
    """A guest runtime's own MemoryError is the linear memory cap reached."""
    return ErrorKind.MEMORY if reason.startswith("MemoryError") else kind


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _classify(call: Call, message: str) -> GuestError:
    """Name the reason a call into wasm failed."""
    fault = call.fault
    if isinstance(fault, GuestFault):
        return GuestError(fault.kind, str(fault))
    if isinstance(fault, HostLimit):
        return GuestError(ErrorKind.HOST_LIMIT, str(fault))
    if fault is not None:
        return GuestError(ErrorKind.HOST_ERROR, f"host function failed: {type(fault).__name__}: {fault}")
    if "all fuel consumed" in message:
        return GuestError(ErrorKind.FUEL, "ran out of fuel")
    if "interrupt" in message:
        return GuestError(ErrorKind.DEADLINE, "ran past its deadline")
    if "too much data is being copied" in message:
        # wasmtime's own cap on bytes lifted out of guest memory per host call.
        return GuestError(ErrorKind.HOST_LIMIT, "handed the host too much data in one call")
    if any(marker in message for marker in _OOM_MARKERS):
        return GuestError(ErrorKind.MEMORY, "ran out of memory (linear memory cap reached)")
    if "call stack exhausted" in message or _SHADOW_STACK_OVERFLOW.search(message):
        # Native recursion hits wasmtime's stack limit; C recursion runs its
        # shadow stack (placed first in memory) below address 0.
        return GuestError(ErrorKind.TRAP, "stack overflow (unbounded recursion?): " + _trap_summary(message))
    lower = message.lower()
    if "utf-8" in lower or "utf8" in lower or "string content out-of-bounds" in lower or "invalid" in lower and "string" in lower:
        return GuestError(ErrorKind.BAD_GUEST_DATA, _trap_summary(message))
    return GuestError(ErrorKind.TRAP, _trap_summary(message))


def _classify_instantiate(message: str) -> GuestError:
    if "memory" in message and ("limit" in message or "exceed" in message or "minimum" in message):
        return GuestError(ErrorKind.MEMORY, _trap_summary(message))
    return GuestError(ErrorKind.INSTANTIATE, _trap_summary(message))


_SHADOW_STACK_OVERFLOW = re.compile(r"memory fault at wasm address 0xffff[0-9a-f]{4}\b")
_FRAME = re.compile(r"^\d+:\s+0x[0-9a-f]+\s+-\s")  # "  3:  0x1a2b - guest.wasm!fn"
_CAUSE = re.compile(r"^\d+:\s+(.*)$")  # "  1: wasm trap: out of bounds memory access"
_NOISE = ("wasm backtrace:", "caused by:", "error while executing at wasm backtrace", "note:")
#: A backtrace's function line: "0:  0x8c6 - poke", "0: 0x8c6 - boom.wasm!poke",
#: or an inlined caller's "- realm_on_command"; then, with DWARF line
#: tables, "at examples/boom.c:4:12".
_FUNC = re.compile(r"^(?:\d+:\s+0x[0-9a-f]+\s+)?-\s+(?P<func>.+)$")
_AT = re.compile(r"^at\s+(?P<file>.+?):(?P<line>\d+)(?::\d+)?$")
#: Frames of the SDKs' own glue, which mean nothing to an author.
_GLUE = ("realm__export_", "<wasm function", "cabi_")
MAX_FRAMES = 8


def trap_frames(message: str) -> list[str]:
    """The backtrace in ``message`` as ``function (file:line)`` frames, the
    innermost first (``function`` alone when the component has no line
    tables; module names and the SDK's export glue left out)."""
    frames: list[list[str]] = []
    in_trace = True
    for raw in message.strip().splitlines():
        line = raw.strip()
        if line.lower().startswith("caused by:"):
            in_trace = False
        if not in_trace or not line:
            continue
        func = _FUNC.match(line)
        if func is not None:
            name = func.group("func").strip()
            frames.append([name.rpartition("!")[2] or name, ""])
            continue
        at = _AT.match(line)
        if at is not None and frames and not frames[-1][1]:
            frames[-1][1] = f"{_tidy_path(at.group('file'))}:{at.group('line')}"
    frames = [f for f in frames if not f[0].startswith(_GLUE)]
    if any(where for _, where in frames):
        frames = [f for f in frames if f[1]]  # the author's code (and the SDK's)
    else:
        frames = frames[:3]  # names only: the innermost say the most
    return [f"{name} ({where})" if where else name for name, where in frames][:MAX_FRAMES]


def _tidy_path(path: str) -> str:
    """A DWARF file name as an author knows it: relative to the world
    (the build maps the world directory to ``.``)."""
    return path.removeprefix("./")


def _trap_summary(message: str) -> str:
    """The trap's own words without the (long) wasm backtrace, then the
    frames that point at the source, one per line (``  at poke (rooms/x.c:4)``)."""
    reasons: list[str] = []
    for raw in message.strip().splitlines():
        line = raw.strip()
        if not line or _FRAME.match(line) or line.lower().startswith(_NOISE):
            continue
        if _FUNC.match(line) or _AT.match(line):
            continue  # a backtrace's inlined frame or source position
        cause = _CAUSE.match(line)
        reasons.append(cause.group(1) if cause else line)
    summary = "; ".join(reasons[-2:]) if reasons else "trap"
    return "\n".join([summary, *(f"  at {frame}" for frame in trap_frames(message))])

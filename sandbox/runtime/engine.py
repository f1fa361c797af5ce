"""The one shared wasmtime Engine, its epoch ticker, and the compile cache.

Every component in the process is compiled by the same Engine so that they
share code memory and one epoch counter. Two interruption mechanisms guard
every call:

* **fuel** is deterministic: each wasm instruction costs fuel, and a call that
  spends its budget traps with the same result on every machine;
* **epochs** bound wall-clock time: a daemon thread bumps the engine's epoch
  every ``TICK_MS``, and each call sets a deadline a number of ticks ahead;
  the thread rests while no deadline can be pending.
  ctypes releases the GIL while wasm runs, so the ticker keeps ticking even
  while a guest spins.

Compiling a component with Cranelift takes milliseconds for a C guest and
seconds for a componentize-py guest, so compiled code is cached on disk,
keyed by the component's content hash and by the Engine's configuration
(wasmtime refuses serialized code from another version or configuration;
the key makes such files misses instead of errors).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

#: Epoch tick length. Deadlines are rounded up to whole ticks.
TICK_MS = 2

# Trap backtraces name the source file and line of each frame of a
# component built with DWARF line tables (C blueprints are): wasmtime reads
# this when an engine is made. It costs nothing until a trap.
os.environ.setdefault("WASMTIME_BACKTRACE_DETAILS", "1")

_CONFIG_FINGERPRINT = "|".join(
    [
        "wasmtime-py",
        "backtrace-details=" + os.environ["WASMTIME_BACKTRACE_DETAILS"],
        getattr(wasmtime, "__version__", "?"),
        "fuel",
        "epoch",
        "cow",
        "opt=speed",
        "stack=512k",
    ]
)


def content_hash(data: bytes) -> str:
    """The version id of a component: the hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


class SharedEngine:
    """The process-wide Engine plus its ticker thread and compile cache."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        config.wasm_component_model = True
        config.cranelift_opt_level = "speed"
        config.parallel_compilation = True
        config.max_wasm_stack = 512 * 1024
        # Copy-on-write initial memory: instantiating maps the data segments
        # instead of copying them, which makes rebuilding a poisoned instance
        # cheap.
        ffi.wasmtime_config_memory_init_cow_set(config.ptr(), True)
        self.engine = wasmtime.Engine(config)
        self.cache_dir = cache_dir
        self._memory_cache: dict[str, wc.Component] = {}
        #: Called by the ticker thread after each tick (a worker watches for
        #: long calls with it; see :class:`sandbox.priority.LongCalls`).
        self.on_tick: Callable[[], None] | None = None
        # The ticker runs only while a deadline it must serve may be pending
        # (see _tick): ticks so far, the tick by which every deadline set so
        # far has passed, and whether it rests.
        self._ticks = 0
        self._until = 0
        self._resting = False
        self._wake = threading.Event()
        self._stopping = False
        self._ticker = threading.Thread(target=self._tick, name="jitrealm-epoch", daemon=True)
        self._ticker.start()

    # -- epochs -----------------------------------------------------------

    def _tick(self) -> None:
        """Bump the epoch every TICK_MS while any deadline may be pending.

        A deadline is only ever set a number of ticks ahead of now
        (:meth:`ticks_for`), so once the ticks pass the furthest one set,
        no call can be waiting on the epoch and the ticker rests until the
        next deadline is set. An idle worker (or the admission worker, or
        an idle server in process) then wakes nobody 500 times a second: on
        a virtual machine each of those wake-ups costs CPU and disturbs the
        processes that do have work.
        """
        engine = self.engine
        interval = TICK_MS / 1000
        wake = self._wake
        while not self._stopping:
            time.sleep(interval)
            engine.increment_epoch()
            self._ticks += 1
            on_tick = self.on_tick
            if on_tick is not None:
                on_tick()
            if self._ticks < self._until:
                continue
            # Announce the rest first, then look again: a deadline set in
            # between either is seen here or sees ``_resting`` and wakes us.
            self._resting = True
            if self._ticks >= self._until and not self._stopping:
                wake.wait()
            wake.clear()
            self._resting = False

    def ticks_for(self, deadline_ms: float) -> int:
        """Epoch ticks that cover ``deadline_ms`` (plus one for the tick in
        progress), for a deadline set now: the ticker keeps ticking until
        they have passed."""
        ticks = max(1, int(-(-deadline_ms // TICK_MS))) + 1
        until = self._ticks + ticks + 1
        if until > self._until:
            self._until = until
        if self._resting:
            self._wake.set()
        return ticks

    def close(self) -> None:
        self._stopping = True
        self._wake.set()

    # -- compile cache ------------------------------------------------------

    def _cache_path(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(f"{_CONFIG_FINGERPRINT}|{digest}".encode()).hexdigest()[:32]
        return self.cache_dir / f"{key}.cwasm"

    def compile(self, data: bytes, digest: str | None = None) -> tuple[wc.Component, str]:
        """Compile (or fetch from cache) the component in ``data``.

        Returns the component and how it was obtained: ``"memory"``,
        ``"disk"`` or ``"compiled"``. Raises ``wasmtime.WasmtimeError`` for
        bytes that are not a valid component.
        """
        digest = digest or content_hash(data)
        cached = self._memory_cache.get(digest)
        if cached is not None:
            return cached, "memory"
        path = self._cache_path(digest)
        if path is not None and path.is_file():
            try:
                component = wc.Component.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError:
                # Stale or damaged cache entry: drop it and compile afresh.
                path.unlink(missing_ok=True)
            else:
                self._memory_cache[digest] = component
                return component, "disk"
        component = wc.Component(self.engine, data)
        if path is not None:
            self._write_cache(path, bytes(component.serialize()))
        self._memory_cache[digest] = component
        return component, "compiled"

    def _write_cache(self, path: Path, blob: bytes) -> None:
        # Write-then-rename so a concurrent reader never maps a half file.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        except OSError:
            pass  # the cache is an optimisation; a read-only disk is not an error

    def forget(self, digest: str) -> None:
        """Drop a component from the in-memory cache (the disk copy stays)."""
        self._memory_cache.pop(digest, None)

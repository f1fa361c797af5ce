"""Calling conventions between Python and component functions.

wasmtime-py's stock ``wasmtime.component.Func.__call__`` asks wasmtime for
the function's type on every call, builds converter objects from it, and
allocates a C value per argument (a ``list<u8>`` becomes one 32-byte C value
per byte); host imports defined with ``LinkerInstance.add_func`` do the same
in reverse. That costs 15-50 µs per call, far more than the wasm itself.

The *fast* convention here does the same job with everything resolved ahead
of time. The types of our world are fixed (the WIT is ours, and admission
checked the component against it), so each export and import gets a
precomputed layout of ``wasmtime_component_val_t`` records:

* arguments for an export are packed with ``struct.pack_into`` into one
  reusable arena, strings and byte lists point into the same arena (the C API
  only borrows call arguments), and one ctypes call enters wasm;
* host imports are registered with a raw C callback that reads its arguments
  straight out of the C array and writes results with wasmtime's allocator
  (the C API takes ownership of results).

The *stock* convention wraps wasmtime-py's own ``Func.__call__`` and
``add_func``; it is kept for comparison (``bench/sandbox.py``) and as a
reference the fast path is tested against.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component as wc

from sandbox.protocol import HOOKS, Hook, Param
from sandbox.runtime.hostcalls import LOG_LEVELS, Call

VAL = 32  # sizeof(wasmtime_component_val_t)
K_BOOL, K_U8, K_U32, K_U64, K_STRING, K_LIST, K_ENUM, K_OPTION, K_RESULT = (
    0, 2, 6, 8, 12, 13, 17, 18, 19,
)

_dll = ffi.dll


def _raw(name: str, restype: Any, *argtypes: Any) -> Any:
    # dll[name] (unlike dll.name) makes a fresh function object, so setting
    # argtypes here does not disturb wasmtime-py's own typed binding.
    fn = _dll[name]
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_vp, _sz = ctypes.c_void_p, ctypes.c_size_t
_func_call = _raw("wasmtime_component_func_call", _vp, _vp, _vp, _vp, _sz, _vp, _sz)
_byte_vec_new = _raw("wasm_byte_vec_new", None, _vp, _sz, ctypes.c_char_p)
_vallist_new_uninit = _raw("wasmtime_component_vallist_new_uninit", None, _vp, _sz)
_val_new = _raw("wasmtime_component_val_new", _vp, _vp)
_val_delete = _raw("wasmtime_component_val_delete", None, _vp)
_error_new = _raw("wasmtime_error_new", _vp, ctypes.c_char_p)
_set_fuel = _raw("wasmtime_context_set_fuel", _vp, _vp, ctypes.c_uint64)
_get_fuel = _raw("wasmtime_context_get_fuel", _vp, _vp, _vp)
_set_epoch_deadline = _raw("wasmtime_context_set_epoch_deadline", None, _vp, ctypes.c_uint64)

_string_at = ctypes.string_at
_memmove = ctypes.memmove
_pack_into = struct.pack_into
_unpack_from = struct.unpack_from
_HEAD = struct.Struct("<B7xQQ8x")  # kind, two 8-byte words of the union, padding
_U8_KIND_TEMPLATE = bytes([K_U8]) + bytes(VAL - 1)


class Meter:
    """Fuel and epoch deadline of one store, set and read with raw C calls
    (wasmtime-py's Store methods add a few µs of checks per call)."""

    __slots__ = ("ctx", "_fuel", "_fuel_addr")

    def __init__(self, store: wasmtime.Store) -> None:
        self.ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
        self._fuel = ctypes.c_uint64()
        self._fuel_addr = ctypes.addressof(self._fuel)

    def arm(self, fuel: int, ticks: int) -> None:
        err = _set_fuel(self.ctx, fuel)
        if err:
            raise wasmtime.WasmtimeError(error_message(err))
        _set_epoch_deadline(self.ctx, ticks)

    def fuel_left(self) -> int:
        if _get_fuel(self.ctx, self._fuel_addr):
            return 0
        return self._fuel.value

    def set_fuel(self, fuel: int) -> None:
        err = _set_fuel(self.ctx, fuel)
        if err:
            raise wasmtime.WasmtimeError(error_message(err))


class CallFailed(Exception):
    """Entering wasm returned an error (a trap, fuel, deadline, host fault)."""


def error_message(err_addr: int) -> str:
    err = wasmtime.WasmtimeError._from_ptr(ctypes.cast(err_addr, ctypes.POINTER(ffi.wasmtime_error_t)))
    return str(err)


# --------------------------------------------------------------------------
# Exports: Python -> guest
# --------------------------------------------------------------------------



class Arena:
    """A reusable C buffer that holds one call's argument records and data."""

    def __init__(self, size: int = 16 * 1024) -> None:
        self.resize(size)

    def resize(self, size: int) -> None:
        self.buf = ctypes.create_string_buffer(size)
        self.size = size
        self.addr = ctypes.addressof(self.buf)
        self.view = memoryview(self.buf).cast("B")


class FastExport:
    """One export (a hook) of one instance, called without per-call type work."""

    __slots__ = (
        "func", "func_addr", "ctx_addr", "kinds", "nparams", "nresults", "arena",
        "result", "result_addr", "strings_only", "head",
    )

    def __init__(self, func: wc.Func, store: wasmtime.Store, hook: str, arena: Arena) -> None:
        self.func = func  # keeps the wasmtime_component_func_t alive
        self.func_addr = ctypes.addressof(func._func)
        self.ctx_addr = ctypes.cast(store._context(), ctypes.c_void_p).value
        spec = HOOKS[Hook(hook)]
        self.kinds = tuple(kind for _, kind in spec.params)
        self.nparams = len(self.kinds)
        self.nresults = 1 if spec.returns_bool else 0
        self.arena = arena
        self.result = ctypes.create_string_buffer(VAL)
        self.result_addr = ctypes.addressof(self.result)
        self.strings_only = all(k is Param.STRING for k in self.kinds)
        self.head = struct.Struct("<" + "B7xQQ8x" * self.nparams)

    def __call__(self, args: Sequence[Any]) -> Any:
        n = self.nparams
        if len(args) != n:
            raise TypeError(f"expected {n} arguments, got {len(args)}")
        arena = self.arena
        if self.strings_only:
            # The hot case (every hook but on-enter/leave/callout/message):
            # one struct.pack for all records, strings right behind them.
            raws = [a.encode("utf-8") for a in args]
            fields: list[int] = []
            at = arena.addr + n * VAL
            for raw in raws:
                fields += (K_STRING, len(raw), at)
                at += len(raw)
            blob = self.head.pack(*fields) + b"".join(raws)
        else:
            blob = self._lay_out(args, arena.addr)
        if len(blob) > arena.size:
            arena.resize(max(len(blob), arena.size * 2))
            return self(args)  # addresses changed: lay out again
        arena.view[: len(blob)] = blob
        err = _func_call(self.func_addr, self.ctx_addr, arena.addr, n, self.result_addr, self.nresults)
        if err:
            raise CallFailed(error_message(err))
        if self.nresults:
            return self.result.raw[8] != 0
        return None

    def _lay_out(self, args: Sequence[Any], base: int) -> bytes:
        """Records and data for hooks with option<string> or list<u8> params."""
        kinds = self.kinds
        n = self.nparams
        # Slots 0..n-1 are the parameters; option payloads get slots after
        # them; string bytes and list element records follow the slots.
        slots = n + sum(1 for k in kinds if k is Param.OPTION_STRING)
        head = bytearray(slots * VAL)
        data = bytearray()
        data_base = base + slots * VAL
        extra = n
        for i in range(n):
            kind = kinds[i]
            value = args[i]
            if kind is Param.STRING:
                raw = value.encode("utf-8")
                _pack_into("<B7xQQ", head, i * VAL, K_STRING, len(raw), data_base + len(data))
                data += raw
            elif kind is Param.OPTION_STRING:
                if value is None:
                    _pack_into("<B7xQ", head, i * VAL, K_OPTION, 0)
                else:
                    raw = value.encode("utf-8")
                    _pack_into("<B7xQ", head, i * VAL, K_OPTION, base + extra * VAL)
                    _pack_into("<B7xQQ", head, extra * VAL, K_STRING, len(raw), data_base + len(data))
                    data += raw
                    extra += 1
            else:  # Param.BYTES: list<u8> as one record per byte
                data += bytes(-len(data) % 8)
                m = len(value)
                elems = bytearray(_U8_KIND_TEMPLATE * m)
                elems[8::VAL] = value
                _pack_into("<B7xQQ", head, i * VAL, K_LIST, m, data_base + len(data))
                data += elems
        return bytes(head + data)


class StockExport:
    """The same hook called through wasmtime-py's ``Func.__call__``."""

    __slots__ = ("func", "store")

    def __init__(self, func: wc.Func, store: wasmtime.Store, hook: str, arena: Arena) -> None:
        self.func = func
        self.store = store

    def __call__(self, args: Sequence[Any]) -> Any:
        try:
            return self.func(self.store, *args)
        except (wasmtime.WasmtimeError, HostRaised) as exc:
            # wasmtime-py re-raises a host function's exception after the
            # trap it caused unwinds the guest; either way the call failed.
            raise CallFailed(str(exc)) from None


class HostRaised(Exception):
    """A host import failed on the stock path (the Call records why)."""


# --------------------------------------------------------------------------
# Imports: guest -> Python
# --------------------------------------------------------------------------

class _Results:
    """Writers for the result records of host imports (wasmtime frees them)."""

    @staticmethod
    def _alloc_bytes(raw: bytes) -> tuple[int, int]:
        vec = ctypes.create_string_buffer(16)
        _byte_vec_new(vec, len(raw), raw)
        return _unpack_from("<QQ", vec.raw)  # (size, data)

    @classmethod
    def _boxed_string(cls, text: str) -> int:
        size, data = cls._alloc_bytes(text.encode("utf-8"))
        rec = ctypes.create_string_buffer(_HEAD.pack(K_STRING, size, data), VAL)
        return int(_val_new(rec))

    @staticmethod
    def _u8_list(value: bytes) -> tuple[int, int]:
        m = len(value)
        vl = ctypes.create_string_buffer(16)
        _vallist_new_uninit(vl, m)
        size, data = _unpack_from("<QQ", vl.raw)
        if m:
            elems = bytearray(_U8_KIND_TEMPLATE * m)
            elems[8::VAL] = value
            _memmove(data, bytes(elems), len(elems))
        return size, data

    @classmethod
    def option_bytes(cls, out: int, value: bytes | None) -> None:
        if value is None:
            _memmove(out, _HEAD.pack(K_OPTION, 0, 0), VAL)
            return
        size, data = cls._u8_list(value)
        rec = ctypes.create_string_buffer(_HEAD.pack(K_LIST, size, data), VAL)
        _memmove(out, _HEAD.pack(K_OPTION, _val_new(rec), 0), VAL)

    @classmethod
    def option_string(cls, out: int, value: str | None) -> None:
        box = 0 if value is None else cls._boxed_string(value)
        _memmove(out, _HEAD.pack(K_OPTION, box, 0), VAL)

    @classmethod
    def result_string(cls, out: int, value: tuple[bool, str | None]) -> None:
        ok, payload = value
        box = 0 if payload is None else cls._boxed_string(payload)
        _memmove(out, struct.pack("<B7x?7xQ8x", K_RESULT, ok, box), VAL)

    @staticmethod
    def u64(out: int, value: int) -> None:
        _memmove(out, _HEAD.pack(K_U64, value, 0), VAL)

    @staticmethod
    def boolean(out: int, value: bool) -> None:
        _memmove(out, _HEAD.pack(K_BOOL, 1 if value else 0, 0), VAL)

    @classmethod
    def string_list(cls, out: int, values: list[str]) -> None:
        m = len(values)
        vl = ctypes.create_string_buffer(16)
        _vallist_new_uninit(vl, m)
        size, data = _unpack_from("<QQ", vl.raw)
        recs = bytearray()
        for v in values:
            s, d = cls._alloc_bytes(v.encode("utf-8"))
            recs += _HEAD.pack(K_STRING, s, d)
        if m:
            _memmove(data, bytes(recs), len(recs))
        _memmove(out, _HEAD.pack(K_LIST, size, data), VAL)


def _arg_bytes(raw: bytes, i: int) -> bytes:
    """The bytes of string (or enum name) argument ``i``."""
    _, size, ptr = _HEAD.unpack_from(raw, i * VAL)
    return _string_at(ptr, size) if size else b""


def _arg_u8_list(raw: bytes, i: int) -> bytes:
    _, m, ptr = _HEAD.unpack_from(raw, i * VAL)
    if not m:
        return b""
    return _string_at(ptr, m * VAL)[8::VAL]


def _arg_u64(raw: bytes, i: int) -> int:
    return int(_unpack_from("<Q", raw, i * VAL + 8)[0])


def _arg_u32(raw: bytes, i: int) -> int:
    return int(_unpack_from("<I", raw, i * VAL + 8)[0])


Current = Callable[[], Call]
# A fast import: (call, raw argument records, results address) -> None
_FastImpl = Callable[[Call, bytes, int], None]


def _fast_impls() -> dict[str, _FastImpl]:
    R = _Results

    def tell(c: Call, a: bytes, out: int) -> None:
        c.tell(c.text(_arg_bytes(a, 0), "tell target"), c.text(_arg_bytes(a, 1), "tell text"))

    def say(c: Call, a: bytes, out: int) -> None:
        c.say(c.text(_arg_bytes(a, 0), "say text"))

    def emote(c: Call, a: bytes, out: int) -> None:
        c.emote(c.text(_arg_bytes(a, 0), "emote text"))

    def gmcp(c: Call, a: bytes, out: int) -> None:
        c.gmcp(c.text(_arg_bytes(a, 0), "gmcp target"), c.text(_arg_bytes(a, 1), "gmcp package"),
               c.text(_arg_bytes(a, 2), "gmcp payload"))

    def state_get(c: Call, a: bytes, out: int) -> None:
        R.option_bytes(out, c.state_get(c.text(_arg_bytes(a, 0), "state key")))

    def state_set(c: Call, a: bytes, out: int) -> None:
        key = c.text(_arg_bytes(a, 0), "state key")
        _, m, _p = _HEAD.unpack_from(a, VAL)
        c.charge_state(len(key) + m)
        c.state_set(key, _arg_u8_list(a, 1), charged=True)

    def state_delete(c: Call, a: bytes, out: int) -> None:
        c.state_delete(c.text(_arg_bytes(a, 0), "state key"))

    def callout(c: Call, a: bytes, out: int) -> None:
        method = c.text(_arg_bytes(a, 0), "callout method")
        args = _arg_u8_list(a, 2)
        if len(args) > c.limits.max_string_bytes:
            c.text(b" " * len(args), "callout args")  # raises the size fault
        R.u64(out, c.callout(method, _arg_u32(a, 1), args))

    def cancel_callout(c: Call, a: bytes, out: int) -> None:
        R.boolean(out, c.cancel_callout(_arg_u64(a, 0)))

    def set_heartbeat(c: Call, a: bytes, out: int) -> None:
        c.set_heartbeat(_arg_u32(a, 0))

    def clone(c: Call, a: bytes, out: int) -> None:
        R.result_string(out, c.clone(c.text(_arg_bytes(a, 0), "blueprint")))

    def destruct(c: Call, a: bytes, out: int) -> None:
        err = c.destruct(c.text(_arg_bytes(a, 0), "target"))
        R.result_string(out, (err is None, err))

    def move(c: Call, a: bytes, out: int) -> None:
        err = c.move(c.text(_arg_bytes(a, 0), "target"), c.text(_arg_bytes(a, 1), "destination"))
        R.result_string(out, (err is None, err))

    def environment(c: Call, a: bytes, out: int) -> None:
        R.option_string(out, c.environment(c.text(_arg_bytes(a, 0), "target")))

    def contents(c: Call, a: bytes, out: int) -> None:
        R.string_list(out, c.contents(c.text(_arg_bytes(a, 0), "target")))

    def query(c: Call, a: bytes, out: int) -> None:
        value = c.query(c.text(_arg_bytes(a, 0), "target"), c.text(_arg_bytes(a, 1), "key"))
        R.option_bytes(out, value)

    def now_ms(c: Call, a: bytes, out: int) -> None:
        R.u64(out, c.now_ms())

    def log(c: Call, a: bytes, out: int) -> None:
        c.log(_arg_bytes(a, 0).decode("ascii", "replace"), c.text(_arg_bytes(a, 1), "log text"))

    return {
        "tell": tell, "say": say, "emote": emote, "gmcp": gmcp, "state-get": state_get,
        "state-set": state_set, "state-delete": state_delete, "callout": callout,
        "cancel-callout": cancel_callout, "set-heartbeat": set_heartbeat, "clone": clone,
        "destruct": destruct, "move": move, "environment": environment,
        "contents": contents, "query": query, "now-ms": now_ms, "log": log,
    }


FAST_IMPORTS = _fast_impls()

_CALLBACK = ffi.wasmtime_component_func_callback_t
_RAW_CALLBACK = ctypes.CFUNCTYPE(_sz, _vp, _vp, _vp, _vp, _sz, _vp, _sz)
_FINALIZER = ctypes.CFUNCTYPE(None, _vp)(lambda _env: None)
_add_func = _raw(
    "wasmtime_component_linker_instance_add_func", _vp, _vp, ctypes.c_char_p, _sz,
    _RAW_CALLBACK, _vp, ctypes.CFUNCTYPE(None, _vp),
)


def _trap_with(call: Call | None, exc: BaseException) -> int:
    if call is not None:
        call.fail(exc)
    return _error_new(f"jitrealm host: {exc}".encode("utf-8", "replace")) or 0


def define_fast_imports(li: wc.LinkerInstance, current: Current, keepalive: list[Any]) -> None:
    """Define every host import on ``li`` with the fast convention."""
    for name, impl in FAST_IMPORTS.items():
        def callback(env: int, ctx: int, ty: int, args: int, nargs: int, results: int, nres: int,
                     impl: _FastImpl = impl) -> int:
            call = None
            try:
                call = current()
                raw = _string_at(args, nargs * VAL) if nargs else b""
                impl(call, raw, results)
                return 0
            except BaseException as exc:  # never let an exception cross into C
                return _trap_with(call, exc)

        cb = _RAW_CALLBACK(callback)
        keepalive.append(cb)
        encoded = name.encode()
        err = _add_func(ctypes.cast(li.ptr(), _vp), encoded, len(encoded), cb, None, _FINALIZER)
        if err:
            raise wasmtime.WasmtimeError(error_message(err))


def define_stock_imports(li: wc.LinkerInstance, current: Current) -> None:
    """Define every host import with wasmtime-py's own ``add_func`` conversions."""

    def wrap(name: str) -> Callable[..., Any]:
        def host(_store: Any, *args: Any) -> Any:
            call = current()
            try:
                return _stock_dispatch(call, name, list(args))
            except Exception as exc:
                call.fail(exc)
                raise HostRaised(str(exc)) from exc

        return host

    for name in FAST_IMPORTS:
        li.add_func(name, wrap(name))


#: What each string argument is called in errors, as the fast imports call it.
_STOCK_ARG_NAMES: dict[str, tuple[str, ...]] = {
    "tell": ("tell target", "tell text"), "say": ("say text",), "emote": ("emote text",),
    "gmcp": ("gmcp target", "gmcp package", "gmcp payload"), "state-get": ("state key",),
    "state-set": ("state key",), "state-delete": ("state key",), "callout": ("callout method",),
    "clone": ("blueprint",), "destruct": ("target",), "move": ("target", "destination"),
    "environment": ("target",), "contents": ("target",), "query": ("target", "key"),
    "log": ("log level", "log text"),
}


def _stock_dispatch(call: Call, name: str, args: list[Any]) -> Any:
    # The same checks, in the same order and with the same words, as the fast imports.
    what = _STOCK_ARG_NAMES.get(name, ())
    if name == "log":
        # The level is an enum case, not guest text: the fast path never
        # decodes (or charges) it either.
        level = args[0] if args[0] in LOG_LEVELS else LOG_LEVELS[0]
        return call.log(level, call.text(args[1].encode("utf-8"), what[1]))
    conv = [call.text(a.encode("utf-8"), what[i]) if isinstance(a, str) else a for i, a in enumerate(args)]
    if name == "state-set":  # the budget is charged before the key is checked
        value: bytes = args[1]
        call.charge_state(len(conv[0]) + len(value))
        return call.state_set(conv[0], value, charged=True)
    if name == "callout" and len(args[2]) > call.limits.max_string_bytes:
        call.text(b" " * len(args[2]), "callout args")  # raises the size fault
    if name == "clone":
        # result<string, string>: both cases are str, so wasmtime-py wants a tagged Variant.
        ok, payload = call.clone(conv[0])
        return wc.Variant("ok" if ok else "err", payload)
    if name in ("destruct", "move"):
        return getattr(call, name)(*conv)  # result<_, string>: None or the error text
    return getattr(call, name.replace("-", "_"))(*conv)

"""Admission: deciding whether a component may run at all.

A component is admitted when it is small enough, really is a component,
targets the ``blueprint`` world (exports ``jitrealm:realm/object`` with every
hook at the right type) and imports nothing but ``jitrealm:realm/host`` and,
for runtimes that need it (componentize-py), WASI 0.2 interfaces that the
sandbox grants nothing through: no preopened directories, no environment, no
arguments, no sockets, no inherited stdio. Anything else is refused with a
message that names the offending import, before any guest code runs.
"""

from __future__ import annotations

import re

import wasmtime
from wasmtime import component as wc
from wasmtime.component import _types as wct

from sandbox.protocol import HOOKS, AdmissionError

HOST_IMPORT = "jitrealm:realm/host@0.1.0"
OBJECT_EXPORT = "jitrealm:realm/object@0.1.0"

#: WASI 0.2 interfaces a guest runtime may import. The sandbox links them
#: with an empty WasiConfig, so they grant nothing: the filesystem has no
#: preopens, sockets have no network, stdio goes to a bounded log.
_WASI_IMPORT = re.compile(
    r"^wasi:(cli|clocks|filesystem|io|random|sockets)/[a-z0-9-]+@0\.2\.\d+$"
)



def describe(ty: wct.ValType) -> str:
    """A WIT-like spelling of a component value type, for comparisons and errors."""
    if isinstance(ty, wct.ListType):
        return f"list<{describe(ty.element)}>"
    if isinstance(ty, wct.OptionType):
        return f"option<{describe(ty.payload)}>"
    if isinstance(ty, wct.ResultType):
        ok = describe(ty.ok) if ty.ok is not None else "_"
        err = describe(ty.err) if ty.err is not None else "_"
        return f"result<{ok}, {err}>"
    return type(ty).__name__.lower()


def describe_func(fty: wct.FuncType) -> str:
    params = ", ".join(describe(t) for _, t in fty.params)
    result = fty.result
    return f"({params})" + (f" -> {describe(result)}" if result is not None else "")


def check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise AdmissionError(
            f"component is {len(data)} bytes, over the {max_bytes}-byte limit"
        )
    if not data.startswith(b"\0asm"):
        raise AdmissionError("not a WebAssembly binary (missing \\0asm magic)")
    # Byte 4..8 is the version/layer: 0x0d 0x00 0x01 0x00 for components.
    if data[4:8] != b"\x0d\x00\x01\x00":
        raise AdmissionError(
            "not a WebAssembly component (this is a core module; wrap it with "
            "`wasm-tools component new`)"
        )


#: What the shared Python runtime exports besides the hooks (wit/python.wit).
PYTHON_SOURCE_EXPORT = "jitrealm:realm/python-source@0.1.0"
_LOAD_TYPE = "(string, string, string) -> result<string, string>"


def check_runtime_world(engine: wasmtime.Engine, component: wc.Component) -> bool:
    """Check a Python runtime: the blueprint world (imports and hooks) and
    its ``load``. Returns True if it needs WASI."""
    needs_wasi = check_world(engine, component)
    extern = component.type.exports(engine).get(PYTHON_SOURCE_EXPORT)
    if extern is None or not isinstance(extern.ty, wct.ComponentInstanceType):
        raise AdmissionError(f"a Python runtime must export {PYTHON_SOURCE_EXPORT!r}")
    load = extern.ty.exports(engine).get("load")
    if load is None or not isinstance(load.ty, wct.FuncType):
        raise AdmissionError(f"{PYTHON_SOURCE_EXPORT} has no function 'load'")
    got = describe_func(load.ty)
    if got != _LOAD_TYPE:
        raise AdmissionError(f"'load' has type {got}, expected {_LOAD_TYPE}")
    return needs_wasi


def check_world(engine: wasmtime.Engine, component: wc.Component) -> bool:
    """Check imports and exports. Returns True if the component needs WASI."""
    ctype = component.type
    needs_wasi = False
    for name in ctype.imports(engine):
        if name == HOST_IMPORT:
            continue
        if _WASI_IMPORT.match(name):
            needs_wasi = True
            continue
        raise AdmissionError(
            f"forbidden import {name!r}: a blueprint may import only {HOST_IMPORT} "
            "(and WASI 0.2 for runtimes that need it)"
        )
    exports = ctype.exports(engine)
    extern = exports.get(OBJECT_EXPORT)
    if extern is None:
        raise AdmissionError(
            f"component does not target the blueprint world: no export {OBJECT_EXPORT!r} "
            f"(exports: {sorted(exports) or 'none'})"
        )
    target = extern.ty
    if not isinstance(target, wct.ComponentInstanceType):
        raise AdmissionError(f"export {OBJECT_EXPORT!r} is not an instance")
    hooks = target.exports(engine)
    for hook, spec in HOOKS.items():
        expected = spec.wit_type
        item = hooks.get(hook)
        if item is None:
            raise AdmissionError(f"missing hook {hook!r} in {OBJECT_EXPORT}")
        fty = item.ty
        if not isinstance(fty, wct.FuncType):
            raise AdmissionError(f"hook {hook!r} is not a function")
        got = describe_func(fty)
        if got != expected:
            raise AdmissionError(f"hook {hook!r} has type {got}, expected {expected}")
    return needs_wasi

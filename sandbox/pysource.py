"""A Python blueprint's version: its source, for the shared Python runtime.

Python blueprints are not compiled one by one. One runtime component
(CPython via componentize-py, built from the author SDK: see
``world-src/lib/realm_runtime.py`` and wit/python.wit) runs them all, and a
blueprint's version is a few KB: its source and the content hash of the
runtime it was built against.

The container is a WebAssembly core module with one custom section and
nothing else: ``\\0asm``, version 1, a custom section named
``jitrealm-python`` whose payload is a CBOR map ``{"format": 1, "runtime":
<sha-256 hex>, "file": <name tracebacks show>, "source": <text>}``. Being
wasm-shaped, it travels wherever a component does (the store, dumps,
publishing, the worker pool) and is routed to the WebAssembly runtime like
one; the sandbox recognises it (:func:`decode`) before it would refuse a core
module. ``wasm-tools objdump`` shows what it is.

Runtime components live in the compile cache directory, under
``python-runtimes/<sha-256>.wasm`` (:func:`runtime_path`): the build puts
them there and every sandbox (in process or in a worker) reads them from
there, compiling each once. The build also keeps them in a per-user cache
(:func:`shared_runtimes_dir`), so that a new build directory (a scratch
world, a test) does not build the same runtime again, and a sandbox whose
compile cache lacks one looks there too (:func:`find_runtime`).
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

import cbor2

from sandbox import leb128

#: The custom section that marks a Python source version.
SECTION = "jitrealm-python"
FORMAT = 1
_HEADER = b"\0asm\x01\0\0\0"
#: The cache subdirectory that holds runtime components.
RUNTIMES_DIR = "python-runtimes"


@dataclass(frozen=True, slots=True)
class PythonSource:
    runtime: str  # content hash of the runtime component
    file: str  # the file name tracebacks show
    source: str


class NotPythonSource(ValueError):
    """Bytes that claim to be a Python source version but are malformed."""


def _read_leb(data: bytes, at: int) -> tuple[int, int]:
    try:
        return leb128.decode(data, at)
    except ValueError as exc:
        raise NotPythonSource(str(exc)) from None


def encode(source: str, file: str, runtime: str) -> bytes:
    """The version bytes of ``source`` for the runtime whose hash is ``runtime``."""
    payload = cbor2.dumps({"format": FORMAT, "runtime": runtime, "file": file, "source": source})
    name = SECTION.encode()
    body = leb128.encode(len(name)) + name + payload
    return _HEADER + b"\0" + leb128.encode(len(body)) + body


def is_python_source(data: bytes) -> bool:
    """Cheap test: a core module whose first section is ours."""
    if not data.startswith(_HEADER) or len(data) < 10 or data[8] != 0:
        return False
    try:
        _, at = _read_leb(data, 9)
        length, at = _read_leb(data, at)
    except NotPythonSource:
        return False
    return data[at : at + length] == SECTION.encode()


def decode(data: bytes) -> PythonSource | None:
    """The source in ``data``; None when ``data`` is not a Python source
    version. Raises :class:`NotPythonSource` when it is one, malformed."""
    if not is_python_source(data):
        return None
    size, at = _read_leb(data, 9)
    end = at + size
    if end != len(data):
        raise NotPythonSource("a Python source version is one custom section and nothing else")
    name_len, at = _read_leb(data, at)
    at += name_len
    try:
        doc = cbor2.loads(data[at:end])
    except Exception as exc:  # cbor2 raises several kinds
        raise NotPythonSource(f"its payload is not CBOR: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotPythonSource(
            f"unknown format {doc.get('format') if isinstance(doc, dict) else doc!r}"
        )
    runtime, file, source = doc.get("runtime"), doc.get("file"), doc.get("source")
    if not (isinstance(runtime, str) and isinstance(file, str) and isinstance(source, str)):
        raise NotPythonSource("runtime, file and source must be text")
    if len(runtime) != 64 or any(c not in "0123456789abcdef" for c in runtime):
        raise NotPythonSource("runtime must be a SHA-256 in hex")
    return PythonSource(runtime, file, source)


def runtime_path(cache_dir: Path, digest: str) -> Path:
    """Where the runtime component with content hash ``digest`` is kept."""
    return cache_dir / RUNTIMES_DIR / f"{digest}.wasm"


def shared_runtimes_dir() -> Path:
    """The per-user cache of runtime components: ``$JITREALM_RUNTIME_CACHE``,
    else ``~/.cache/jitrealm/python-runtimes`` (the home directory from the
    password database, so that a sandbox worker, which gets no environment,
    finds the same one)."""
    override = os.environ.get("JITREALM_RUNTIME_CACHE")
    if override:
        return Path(override)
    try:
        home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        home = Path.home()
    return home / ".cache" / "jitrealm" / RUNTIMES_DIR


def find_runtime(cache_dir: Path | None, digest: str) -> Path | None:
    """Where the runtime ``digest`` is on this machine, if anywhere."""
    candidates = [runtime_path(cache_dir, digest)] if cache_dir is not None else []
    candidates.append(shared_runtimes_dir() / f"{digest}.wasm")
    return next((path for path in candidates if path.is_file()), None)

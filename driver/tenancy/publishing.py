"""Publishing versions of a blueprint: stage, canary, activate, roll back.

An author publishes a component (a WebAssembly component or a declarative
bundle). Before anything changes it is checked against the tenant's
``max_component_bytes`` quota and admitted by its runtime (the sandbox's
checks); a refusal leaves the world exactly as it was. The version is the
content hash, stored immutably (the tenant's ``unsaved_components`` go to the
store's versions table with the next commit).

Then one of:

* **stage**: the version is kept and listed as the blueprint's staged
  version, not run, until :func:`activate` makes it current;
* **activate**, optionally after a **canary**: up to K live objects of the
  blueprint have the new version's ``on-reload`` run on a *copy* of their
  state, in a transaction that can apply nothing (clone ids and callout
  handles it asks for are made up and never used). Every outcome is
  discarded. Only if all succeed does the new version become current;
  otherwise the failures are reported and the old version keeps running,
  untouched: no state, effects, messages, error records or quarantine
  strikes. The fuel a canary burns is charged to the tenant (not to any
  object), so rehearsals are not free CPU.

Activation is the hot reload the tenant always did: the pointer swaps, and
each object keeps its state and runs ``on-reload(old)`` before its next hook.
A new version lifts the blueprint's quarantine.

Each blueprint keeps at most ``versions_kept`` versions (never dropping the
current or the staged one) for rollback. A version that is neither current
nor run by any object is not held by the runtime; activating it again needs
its bytes: from what is not yet saved, from memory (a tenant with no
``load_component``, such as in tests, keeps its kept versions' bytes), or
from the store through the tenant's ``load_component``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from driver.runtimes import RuntimeKind, kind_of_code
from driver.tenancy.blueprints import Blueprint, Blueprints
from driver.tenancy.budgets import Budgets
from driver.tenancy.control import BlueprintVersions, CanaryFailure, PublishResult, VersionInfo
from driver.tenancy.errors import NoSuchBlueprint, NoSuchVersion, QuotaExceeded
from driver.tenancy.quarantine import Quarantine
from driver.tenancy.quotas import Quotas
from driver.tenancy.txn import Txn, World
from driver.world import ids
from driver.world.changes import Changes
from driver.world.objects import Graph, MudObject
from driver.world.timers import Callouts
from sandbox.protocol import ErrorKind, Hook

#: Reads a stored version's bytes (from the store), or None if it has none.
ComponentLoader = Callable[[str], Awaitable[bytes | None]]


class Host(World, Protocol):
    """What publishing needs of its tenant (the tenant implements it)."""

    name: str
    budgets: Budgets
    quarantine: Quarantine
    changes: Changes
    unsaved_components: dict[str, bytes]
    component_cache: dict[str, bytes]
    load_component: ComponentLoader | None
    clone_counter: int

    @property
    def committer(self) -> object | None: ...

    def peek_handle(self) -> int: ...


# -- publishing ------------------------------------------------------------------------------


async def publish(
    host: Host,
    path: str,
    data: bytes,
    *,
    kind: RuntimeKind | None = None,
    language: str | None = None,
    source: Path | None = None,
    stage: bool = False,
    canary: int = 0,
    quota: bool = True,
) -> PublishResult:
    """Publish ``data`` as a new version of ``path`` (see module docstring).

    Raises :class:`QuotaExceeded` (too big; ``quota=False`` skips the check,
    for the server's own world sources) or the runtime's ``AdmissionError``;
    in both cases nothing changed."""
    limit = host.quotas.max_component_bytes
    if quota and len(data) > limit:
        raise QuotaExceeded(
            f"the component is {len(data)} bytes, over this world's limit of {limit} "
            "bytes (quota max_component_bytes)"
        )
    kind = kind or kind_of_code(data)
    blueprints = host.blueprints
    version = await blueprints.adopt(data, kind)  # may raise AdmissionError: nothing changed
    bp = blueprints.get(path)
    current = bp.version if bp is not None else None
    if version == current:  # the same bytes again (adopt kept one admission of them)
        if bp is not None:
            _declare(blueprints, path, source, language, kind)
        return _result(host, path, version, current, activated=True, unchanged=True)
    checked, failures = 0, list[CanaryFailure]()
    if canary > 0 and not stage and bp is not None:
        checked, failures = await rehearse(host, bp, version, canary)
        if failures:
            blueprints.drop_unused(version)
            return _result(
                host, path, version, current, activated=False, checked=checked, failures=failures
            )
    bp = _declare(blueprints, path, source, language, kind)
    bp.record(version, len(data), time.time())
    _keep_bytes(host, version, data)
    if stage:
        bp.staged = version
        blueprints.drop_unused(version)  # kept in the store, not held by the runtime
        _trim(host, bp)
        host.changes.blueprints.add(path)
        return _result(host, path, version, current, activated=False, staged=True)
    previous = _make_current(host, bp, version)
    _trim(host, bp)
    return _result(host, path, version, previous, activated=True, checked=checked)


async def activate(
    host: Host, path: str, version: str | None = None, *, canary: int = 0
) -> PublishResult:
    """Make a kept ``version`` of ``path`` current: a staged version, or a
    rollback. None: the version published before the current one. Raises
    :class:`NoSuchBlueprint`, or :class:`NoSuchVersion` when no such version
    is kept (or its bytes cannot be found)."""
    bp = host.blueprints.get(path)
    if bp is None:
        raise NoSuchBlueprint(path)
    target = _resolve(bp, version)
    current = bp.version
    if target == current:
        return _result(host, path, target, current, activated=True, unchanged=True)
    blueprints = host.blueprints
    if target not in blueprints.held:
        data = await component_bytes(host, target)
        if data is None:
            raise NoSuchVersion(path, f"{target[:12]} (its component is no longer stored)")
        admitted = await blueprints.adopt(data, kind_of_code(data))
        if admitted != target:  # the store handed back other bytes
            blueprints.drop_unused(admitted)
            raise NoSuchVersion(path, f"{target[:12]} (the stored component does not match it)")
    checked, failures = 0, list[CanaryFailure]()
    if canary > 0:
        checked, failures = await rehearse(host, bp, target, canary)
        if failures:
            blueprints.drop_unused(target)
            return _result(
                host, path, target, current, activated=False, checked=checked, failures=failures
            )
    previous = _make_current(host, bp, target)
    return _result(host, path, target, previous, activated=True, checked=checked)


def versions(host: Host, path: str) -> BlueprintVersions:
    """The kept versions of ``path``, oldest first. Raises NoSuchBlueprint."""
    bp = host.blueprints.get(path)
    if bp is None:
        raise NoSuchBlueprint(path)
    infos = []
    for version in bp.history:
        meta = bp.meta.get(version)
        size = meta.size if meta is not None else len(_known_bytes(host, version) or b"")
        infos.append(VersionInfo(
            version, size, meta.published_at if meta is not None else None,
            current=version == bp.version, staged=version == bp.staged,
        ))  # fmt: skip
    return BlueprintVersions(path, bp.version, bp.staged, infos)


def all_versions(host: Host) -> list[BlueprintVersions]:
    """Every blueprint's versions, by path."""
    return [versions(host, path) for path in sorted(host.blueprints.by_path)]


async def component_bytes(host: Host, version: str) -> bytes | None:
    """A kept version's bytes: not yet saved, kept in memory, or from the store."""
    data = _known_bytes(host, version)
    if data is None and host.load_component is not None:
        data = await host.load_component(version)
    return data


# -- the canary --------------------------------------------------------------------------------


class Rehearsal:
    """The world as a canary's ``on-reload`` sees it: the live world to read,
    and clone ids and callout handles that are made up, never taken from
    the tenant's counters (so nothing of the run can show afterwards)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.graph: Graph = host.graph
        self.blueprints: Blueprints = host.blueprints
        self.quotas: Quotas = host.quotas
        self.callouts: Callouts = host.callouts
        self._clones = host.clone_counter
        self._handle = host.peek_handle()

    def can_load(self, object_id: str) -> bool:
        return self.host.can_load(object_id)

    def wall_ms(self) -> int:
        return self.host.wall_ms()

    def next_clone_id(self, blueprint: str) -> str:
        self._clones += 1
        return ids.clone_id(blueprint, self._clones)

    def next_handle(self) -> int:
        self._handle += 1
        return self._handle - 1


async def rehearse(
    host: Host, bp: Blueprint, version: str, count: int
) -> tuple[int, list[CanaryFailure]]:
    """Run ``version``'s ``on-reload`` for up to ``count`` live objects of
    ``bp`` on copies of their state; apply nothing. Returns how many were
    checked and the failures (one per failed object)."""
    chosen: list[MudObject] = []
    for obj in host.graph.by_blueprint(bp.path):
        if len(chosen) >= count:
            break
        chosen.append(obj)
    runtime = host.blueprints.runtimes[host.blueprints.kind_of.get(version, bp.kind)]
    failures: list[CanaryFailure] = []
    for obj in chosen:
        state = dict(obj.state)  # a copy: values are bytes, immutable
        outcome = await runtime.invoke(
            version, obj.id, Hook.ON_RELOAD, (obj.version or "",), state, host.quotas.limits,
            Txn(Rehearsal(host)), tenant=host.name,
        )  # fmt: skip
        host.budgets.charge_tenant_fuel(outcome.fuel_used)
        if outcome.error is not None:
            failures.append(CanaryFailure(obj.id, str(outcome.error.kind), outcome.error.message))
            continue
        over = _state_too_big(host.quotas, state, outcome.state_changes)
        if over is not None:
            failures.append(CanaryFailure(obj.id, str(ErrorKind.HOST_LIMIT), over))
    return len(chosen), failures


def _state_too_big(
    quotas: Quotas, state: dict[str, bytes], changes: dict[str, bytes | None]
) -> str | None:
    """Why the reloaded state would be refused live (None: it would not)."""
    for key, value in changes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    size = sum(len(k) + len(v) for k, v in state.items())
    limit = quotas.max_state_bytes_per_object
    if size > limit:
        return f"state of {size} bytes is over the {limit} bytes an object may hold"
    return None


# -- helpers -------------------------------------------------------------------------------------


def _declare(
    blueprints: Blueprints, path: str, source: Path | None, language: str | None, kind: RuntimeKind
) -> Blueprint:
    existing = blueprints.get(path)
    if language is None:
        language = (
            "json" if kind is RuntimeKind.DECLARATIVE else (existing.language if existing else "c")
        )
    return blueprints.declare(path, source, language, kind)


def _make_current(host: Host, bp: Blueprint, version: str) -> str | None:
    previous = host.blueprints.make_current(bp, version)
    # A new version is a fresh start for a quarantined blueprint.
    host.quarantine.release_blueprint(bp.path, [o.id for o in host.graph.by_blueprint(bp.path)])
    host.changes.blueprints.add(bp.path)
    return previous


def _keep_bytes(host: Host, version: str, data: bytes) -> None:
    if host.committer is not None:  # persistence drains these into the versions table
        host.unsaved_components[version] = data
    if host.load_component is None:
        host.component_cache[version] = data


def _known_bytes(host: Host, version: str) -> bytes | None:
    return host.unsaved_components.get(version) or host.component_cache.get(version)


def _trim(host: Host, bp: Blueprint) -> None:
    for dropped in bp.trim(host.quotas.versions_kept):
        if not any(dropped in other.history for other in host.blueprints.by_path.values()):
            host.component_cache.pop(dropped, None)


def _resolve(bp: Blueprint, version: str | None) -> str:
    """The kept version ``version`` names (a whole hash or a unique prefix of
    at least 6 characters); None: the one before the current one."""
    if version is None:
        if bp.version is None or bp.version not in bp.history:
            raise NoSuchVersion(bp.path, "before the current one (it has no current version)")
        at = bp.history.index(bp.version)
        if at == 0:
            raise NoSuchVersion(bp.path, f"before {bp.version[:12]} (it is the oldest kept)")
        return bp.history[at - 1]
    if version in bp.history:
        return version
    found = [v for v in bp.history if len(version) >= 6 and v.startswith(version)]
    if len(found) != 1:
        raise NoSuchVersion(bp.path, version)
    return found[0]


def _result(
    host: Host,
    path: str,
    version: str,
    previous: str | None,
    *,
    activated: bool,
    staged: bool = False,
    unchanged: bool = False,
    checked: int = 0,
    failures: list[CanaryFailure] | None = None,
) -> PublishResult:
    objects = sum(1 for _ in host.graph.by_blueprint(path))
    return PublishResult(
        path, version, previous, activated=activated, staged=staged, unchanged=unchanged,
        objects=objects, canary_checked=checked, canary_failures=failures or [],
    )  # fmt: skip

"""Persistence: group commit with output commit, and restoring a world.

Every tenant event marks what it changed (:mod:`driver.world.changes`) and leaves
what it said to players in an outbox. :class:`Persistence` is the tenants'
committer: it turns the marks into rows *on the event loop's thread* (so the
rows are a consistent picture), writes them to the store in one transaction
on a worker thread, and only then releases the held output. While one commit
is in flight, the events that run meanwhile pile up into the next one: that
is the group commit, and nothing waits for a timer.

A player is therefore never shown anything that a crash could take back:
if the process dies before a commit, the outputs of its events were never
sent.

When the store cannot write (a full disk), the realm pauses: no event runs,
players are told why, committed data is untouched, and the failed batch is
retried until it goes through.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio

from driver.store import logfiles
from driver.store.errors import StoreError, StoreFullError
from driver.store.records import (
    Batch,
    BlueprintRow,
    CalloutRow,
    ObjectRow,
    ResetRow,
    TenantRow,
    VersionRow,
)
from driver.tenancy import guestlog, quotas
from driver.tenancy.output import Outbox
from driver.tenancy.tenant import Tenant
from driver.world.changes import Changes
from driver.world.objects import MudObject

if TYPE_CHECKING:
    from driver.store import Store

log = logging.getLogger("jitrealm.persist")

RETRY_SECONDS = 1.0


class World(Protocol):
    """What persistence needs of the running world: its tenants, and a way
    to stop events while the store cannot save them (the loop)."""

    @property
    def tenants(self) -> list[Tenant]: ...
    def pause(self, why: str) -> None: ...
    def resume(self) -> None: ...


def _release(outboxes: list[tuple[Tenant, Outbox]]) -> None:
    """Hand durable events' output to each tenant's output layer, in order."""
    for tenant, outbox in outboxes:
        tenant.output.release(outbox)


def wall_ms() -> int:
    return int(time.time() * 1000)


class Persistence:
    """The tenants' committer (see module docstring)."""

    def __init__(self, store: Store, world: World) -> None:
        self.store = store
        self.world = world
        self.held: list[tuple[Tenant, Outbox]] = []  # outboxes of events not yet durable
        # Rows of events that are over, built as each ends: a tenant may be in
        # the middle of its next event (awaiting a sandbox worker) when the
        # commit loop runs, and a commit holds whole events only.
        self.pending = Batch()
        self.failed: Batch | None = None  # a batch the store refused (disk full)
        self._kick = trio.Event()
        self._alive_due = True  # write the wall clock at the next commit
        self.alive_every = 1.0  # seconds between such writes when idle
        self.commits = 0
        self.cpu_seconds = 0.0  # CPU spent building rows and committing them (both threads)
        self.commit_ms: list[float] = []  # recent commit latencies, for the benchmark
        self.commit_seconds = 0.0  # all commits' latency together, for /metrics
        self.last_commit_seconds = 0.0
        #: Where tenants' guest logs are appended (driver.store.logfiles):
        #: the store's data directory; None keeps them in memory only.
        self.log_data_dir: Path | None = getattr(store, "data_dir", None)

    # -- the Committer protocol -------------------------------------------------------

    def kick(self) -> None:
        """Commit what has changed soon (the loop is otherwise woken by events)."""
        self._kick.set()

    def event_done(self, tenant: Tenant, outbox: Outbox) -> None:
        if tenant.changes:
            cpu = time.thread_time()
            self._add_tenant(self.pending, tenant, tenant.changes.take())
            self.cpu_seconds += time.thread_time() - cpu
        if outbox:
            self.held.append((tenant, outbox))
        self._kick.set()

    # -- building rows ----------------------------------------------------------------

    def build_batch(self) -> Batch:
        """Rows for everything marked since the last batch; marks are taken.
        (The commit loop adds the wall clock when it writes.)"""
        batch, self.pending = self.pending, Batch()
        # Changes made outside any event (restore, start-up publishing, tools)
        # are saved too; a tenant in the middle of an event is left alone:
        # its changes go with the event when it ends.
        for tenant in self.world.tenants:
            if tenant.changes and not tenant.in_event:
                self._add_tenant(batch, tenant, tenant.changes.take())
        return batch

    def _add_tenant(self, batch: Batch, tenant: Tenant, changes: Changes) -> None:
        name = tenant.name
        if changes.counters or changes.blueprints:
            batch.put_tenant(tenant_row(tenant))
        graph = tenant.graph
        for object_id in changes.deleted:
            batch.delete_object(name, object_id)
        for object_id in changes.objects:
            obj = graph.get(object_id)
            if obj is None:
                batch.delete_object(name, object_id)
            else:
                batch.put_object(object_row(name, obj))
        offset = tenant.wall_ms() - tenant.clock()
        for handle in changes.callouts_gone:
            batch.delete_callout(name, handle)
        for handle in changes.callouts:
            callout = tenant.callouts.by_handle.get(handle)
            if callout is None:
                batch.delete_callout(name, handle)
            else:
                batch.put_callout(CalloutRow(
                    name, handle, callout.object_id, callout.method, callout.args,
                    int(offset + callout.due), handle,
                ))  # fmt: skip
        for object_id in changes.resets:
            due = tenant.resets.due_at(object_id)
            if due is None:
                batch.delete_reset(name, object_id)
            else:
                batch.put_reset(ResetRow(name, object_id, int(offset + due)))
        for path in changes.blueprints:
            bp = tenant.blueprints.get(path)
            if bp is None:
                batch.delete_blueprint(name, path)
                continue
            batch.put_blueprint(BlueprintRow(
                name, path, bp.version, bp.language,
                # source_hash (otherwise unused) carries the versions' metadata
                str(bp.source) if bp.source else None, bp.meta_json(), list(bp.history),
            ))  # fmt: skip
        for version, component in tenant.unsaved_components.items():
            batch.put_version(VersionRow(version, component))
        tenant.unsaved_components.clear()
        # Guest error records, for the tenant's authors: the store keeps the newest N.
        for error_row in tenant.error_log.take_unsaved():
            batch.add_error(error_row, keep=tenant.quotas.max_errors_kept)

    # -- the commit loop ----------------------------------------------------------------

    async def run(self) -> None:
        limiter = trio.CapacityLimiter(1)
        while True:
            await self._kick.wait()
            self._kick = trio.Event()
            cpu = time.thread_time()
            batch = self.build_batch()
            self.cpu_seconds += time.thread_time() - cpu
            logs = self._take_logs()
            if logs:
                await trio.to_thread.run_sync(self._write_logs, logs, limiter=limiter)
            outboxes, self.held = self.held, []
            if not batch and self.failed is None:
                # These events changed nothing, and everything before them
                # is durable (commits run one at a time, in order): what they
                # said can go out without waiting for a disk write, also
                # when the wall clock is due to be saved (it goes alone).
                _release(outboxes)
                if not self._alive_due:
                    continue
                outboxes = []
            self._alive_due = False
            batch.alive_wall_ms = wall_ms()
            if self.failed is not None:
                batch = self.failed.merge(batch)
            started = time.perf_counter()
            try:
                await trio.to_thread.run_sync(self._commit, batch, limiter=limiter)
            except StoreFullError as exc:
                await self._pause(batch, outboxes, f"the disk is full ({exc})")
                continue
            except StoreError as exc:
                await self._pause(batch, outboxes, f"the store failed ({exc})")
                continue
            self.commits += 1
            took = time.perf_counter() - started
            self.commit_seconds += took
            self.last_commit_seconds = took
            self.commit_ms.append(took * 1000)
            if len(self.commit_ms) > 10_000:
                del self.commit_ms[:5_000]
            if self.failed is not None:
                self.failed = None
                self.world.resume()
            _release(outboxes)

    async def keep_alive(self) -> None:
        """Commit the wall clock once a second even when nothing happens, so
        callouts restored after a crash keep the time they really had left."""
        while True:
            await trio.sleep(self.alive_every)
            self._alive_due = True
            self._kick.set()

    def _take_logs(self) -> list[tuple[str, list[dict[str, object]]]]:
        """Each tenant's guest log lines since the last commit, as file rows."""
        if self.log_data_dir is None:
            return []
        taken = []
        for tenant in self.world.tenants:
            lines = tenant.log.take_unsaved()
            if lines:
                taken.append((tenant.name, [guestlog.to_row(line) for line in lines]))
        return taken

    def _write_logs(self, logs: list[tuple[str, list[dict[str, object]]]]) -> None:
        """Runs in the worker thread. A log that cannot be written is not
        worth stopping the world for: it is reported and dropped."""
        assert self.log_data_dir is not None
        for name, rows in logs:
            try:
                logfiles.append(self.log_data_dir, name, rows)
            except OSError as exc:
                log.warning("cannot append to %s's guest log: %s", name, exc)

    def _commit(self, batch: Batch) -> None:
        """Runs in the worker thread: one transaction, its CPU counted."""
        cpu = time.thread_time()
        try:
            self.store.commit(batch)
        finally:
            self.cpu_seconds += time.thread_time() - cpu

    async def _pause(self, batch: Batch, outboxes: list[tuple[Tenant, Outbox]], why: str) -> None:
        """Keep the batch and its output; stop the world; retry after a while."""
        log.error("cannot commit: %s; the world is paused until it can", why)
        self.failed = batch
        self.held = outboxes + self.held
        self.world.pause(f"The world cannot save changes right now: {why}. Nothing is lost; please wait.")
        await trio.sleep(RETRY_SECONDS)
        self._kick.set()

    def save_now(self, tenant: Tenant) -> None:
        """Save what changed in ``tenant`` outside any event (an admin's
        change to it) with the next commit, even if the loop no longer
        serves it (suspended)."""
        if tenant.changes and not tenant.in_event:
            self._add_tenant(self.pending, tenant, tenant.changes.take())
        self._kick.set()

    def purge(self, name: str) -> None:
        """Delete tenant ``name`` and everything it owns from the store
        (with the next commit)."""
        self.pending.delete_tenant(name)
        self._kick.set()

    def save_all(self, tenant: Tenant) -> None:
        """Mark everything in ``tenant`` changed (first start, after a restore)."""
        for obj in tenant.graph.objects.values():
            tenant.touch(obj)
        for handle in tenant.callouts.by_handle:
            tenant.changes.callout(handle)
        tenant.changes.resets.update(tenant.resets.entries)
        tenant.changes.blueprints.update(tenant.blueprints.by_path)
        tenant.changes.counters = True
        self._kick.set()


# -- rows from live objects --------------------------------------------------------------


def tenant_row(tenant: Tenant) -> TenantRow:
    return TenantRow(
        tenant.name, quotas.as_flat(tenant.quotas), tenant.clone_counter, tenant.peek_handle(),
        tenant.settings.to_plain(),
    )  # fmt: skip


def object_row(tenant: str, obj: MudObject) -> ObjectRow:
    return ObjectRow(
        tenant, obj.id, obj.blueprint, obj.version, obj.env.id if obj.env else None,
        obj.arrival, obj.heartbeat_ms, dict(obj.state),
    )  # fmt: skip


# -- restoring ------------------------------------------------------------------------------

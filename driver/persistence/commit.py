"""Persistence: group commit with output commit, and restoring a world.

Every tenant event marks what it changed (:mod:`driver.changes`) and leaves
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

import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import trio

from driver.store.errors import StoreError, StoreFullError
from driver.store.records import (
    Batch,
    BlueprintRow,
    CalloutRow,
    ObjectRow,
    ResetRow,
    Snapshot,
    TenantRow,
    VersionRow,
)
from driver.world.changes import Changes
from driver.world.objects import MudObject
from driver.world.timers import Callout

if TYPE_CHECKING:
    from driver.app import Realm
    from driver.store import Store
    from driver.tenancy.tenant import Outbox, Tenant

log = logging.getLogger("jitrealm.persist")

RETRY_SECONDS = 1.0


def _wall_ms() -> int:
    return int(time.time() * 1000)


class Persistence:
    """The tenants' committer (see module docstring)."""

    def __init__(self, store: Store, realm: Realm) -> None:
        self.store = store
        self.realm = realm
        self.held: list[Outbox] = []  # outboxes of events not yet durable
        self.failed: Batch | None = None  # a batch the store refused (disk full)
        self._kick = trio.Event()
        self._alive_due = True  # write the wall clock at the next commit
        self.alive_every = 1.0  # seconds between such writes when idle
        self.commits = 0
        self.cpu_seconds = 0.0  # CPU spent building rows and committing them (both threads)
        self.commit_ms: list[float] = []  # recent commit latencies, for the benchmark

    # -- the Committer protocol -------------------------------------------------------

    def kick(self) -> None:
        """Commit what has changed soon (the loop is otherwise woken by events)."""
        self._kick.set()

    def event_done(self, tenant: Tenant, outbox: Outbox) -> None:
        if outbox:
            self.held.append(outbox)
        self._kick.set()

    # -- building rows ----------------------------------------------------------------

    def build_batch(self) -> Batch:
        """Rows for everything marked since the last batch; marks are taken.
        (The commit loop adds the wall clock when it writes.)"""
        batch = Batch()
        # Every tenant, not only those that ran events: changes made outside
        # any event (restore, start-up publishing, tools) are saved too.
        for tenant in self.realm.tenants:
            if tenant.changes:
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
                str(bp.source) if bp.source else None, None, list(bp.history),
            ))  # fmt: skip
        for version, component in tenant.unsaved_components.items():
            batch.put_version(VersionRow(version, component))
        tenant.unsaved_components.clear()

    # -- the commit loop ----------------------------------------------------------------

    async def run(self) -> None:
        limiter = trio.CapacityLimiter(1)
        while True:
            await self._kick.wait()
            self._kick = trio.Event()
            cpu = time.thread_time()
            batch = self.build_batch()
            self.cpu_seconds += time.thread_time() - cpu
            outboxes, self.held = self.held, []
            if not batch and not self._alive_due and self.failed is None:
                # These events changed nothing, and everything before them
                # is durable (commits run one at a time, in order): what they
                # said can go out without waiting for a disk write.
                for outbox in outboxes:
                    self.realm.players.release(outbox)
                continue
            self._alive_due = False
            batch.alive_wall_ms = _wall_ms()
            if self.failed is not None:
                batch = self.failed.merge(batch)
            started = time.perf_counter()
            try:
                await trio.to_thread.run_sync(self._commit, batch, limiter=limiter)
            except StoreFullError as exc:
                self._pause(batch, outboxes, f"the disk is full ({exc})")
                continue
            except StoreError as exc:
                self._pause(batch, outboxes, f"the store failed ({exc})")
                continue
            self.commits += 1
            self.commit_ms.append((time.perf_counter() - started) * 1000)
            if len(self.commit_ms) > 10_000:
                del self.commit_ms[:5_000]
            if self.failed is not None:
                self.failed = None
                self.realm.resume()
            for outbox in outboxes:
                self.realm.players.release(outbox)

    async def keep_alive(self) -> None:
        """Commit the wall clock once a second even when nothing happens, so
        callouts restored after a crash keep the time they really had left."""
        while True:
            await trio.sleep(self.alive_every)
            self._alive_due = True
            self._kick.set()

    def _commit(self, batch: Batch) -> None:
        """Runs in the worker thread: one transaction, its CPU counted."""
        cpu = time.thread_time()
        try:
            self.store.commit(batch)
        finally:
            self.cpu_seconds += time.thread_time() - cpu

    def _pause(self, batch: Batch, outboxes: list[Outbox], why: str) -> None:
        """Keep the batch and its output; stop the world; retry soon."""
        log.error("cannot commit: %s; the world is paused until it can", why)
        self.failed = batch
        self.held = outboxes + self.held
        self.realm.pause(f"The world cannot save changes right now: {why}. Nothing is lost; please wait.")

        async def retry() -> None:
            await trio.sleep(RETRY_SECONDS)
            self._kick.set()

        assert self.realm.players.nursery is not None
        self.realm.players.nursery.start_soon(retry)

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
    return TenantRow(tenant.name, dataclasses.asdict(tenant.quotas), tenant.clone_counter, tenant.peek_handle())


def object_row(tenant: str, obj: MudObject) -> ObjectRow:
    return ObjectRow(
        tenant, obj.id, obj.blueprint, obj.version, obj.env.id if obj.env else None,
        obj.arrival, obj.heartbeat_ms, dict(obj.state),
    )  # fmt: skip


# -- restoring ------------------------------------------------------------------------------


def restore(realm: Realm, snapshot: Snapshot) -> list[str]:
    """Rebuild the realm's tenant from a snapshot. Returns problems (not fatal).

    Objects are not re-created: no ``on-load`` runs. Callouts and resets keep
    the time they had left when the world was last known running.
    """
    tenant = realm.tenant
    problems: list[str] = []
    alive = snapshot.alive_wall_ms or _wall_ms()
    now = tenant.clock()
    for row in snapshot.tenants:
        if row.name == tenant.name:
            tenant.clone_counter = row.clone_counter
            tenant.set_next_handle(row.next_handle)
    needed = {row.version for row in snapshot.blueprints if row.tenant == tenant.name and row.version}
    needed |= {row.version for row in snapshot.objects if row.tenant == tenant.name and row.version}
    admitted: set[str] = set()
    for version in sorted(needed):
        data = snapshot.versions.get(version)
        if data is None:
            problems.append(f"version {version[:12]} is missing from the store")
            continue
        try:
            tenant.blueprints.adopt(data)
        except Exception as exc:  # AdmissionError, or a damaged component
            problems.append(f"version {version[:12]} refused: {exc}")
            continue
        admitted.add(version)
    for row in snapshot.blueprints:
        if row.tenant != tenant.name:
            continue
        bp = tenant.blueprints.declare(row.path, None, row.language)
        if row.source:
            from pathlib import Path

            bp.source = Path(row.source)
        bp.history = list(row.history)
        bp.version = row.version if row.version in admitted else None
    graph = tenant.graph
    rows = [r for r in snapshot.objects if r.tenant == tenant.name]
    for row in rows:
        obj = MudObject(row.id, row.blueprint, row.version if row.version in admitted else None)
        obj.state = dict(row.state)
        obj.heartbeat_ms = row.heartbeat_ms
        obj.arrival = row.position
        graph.objects[row.id] = obj
        if obj.version is not None:
            tenant.blueprints.pin(obj.version)
    for row in rows:  # in position order: contents come back in arrival order
        if row.env is None:
            continue
        obj, env = graph.objects[row.id], graph.objects.get(row.env)
        if env is None:
            problems.append(f"{row.id} was in {row.env}, which is gone; it is nowhere now")
            continue
        obj.env = env
        if env.contents is None:
            env.contents = []
        env.contents.append(obj)
        graph.arrivals = max(graph.arrivals, row.position)
    for obj in graph.objects.values():
        if obj.heartbeat_ms > 0:
            tenant.heartbeats.set(obj.id, obj.heartbeat_ms, now)
    for row in snapshot.callouts:
        if row.tenant == tenant.name and row.object_id in graph.objects:
            left = max(0, row.due_wall_ms - alive)
            tenant.callouts.schedule(Callout(row.handle, row.object_id, row.method, row.args, now + left))
    for row in snapshot.resets:
        if row.tenant == tenant.name and row.object_id in graph.objects:
            left = max(0, row.due_wall_ms - alive)
            tenant.resets.restore(row.object_id, tenant.quotas.reset_interval_ms, now + left)
    tenant.changes = Changes()  # what was just read is what the store holds
    return problems

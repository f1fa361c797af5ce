"""Restoring a tenant's world from a store snapshot."""

from __future__ import annotations

from pathlib import Path

from driver.persistence.commit import wall_ms
from driver.runtimes import RuntimeKind, kind_of_code
from driver.store.records import Snapshot
from driver.tenancy.tenant import Tenant
from driver.world.changes import Changes
from driver.world.objects import MudObject
from driver.world.timers import Callout
from sandbox.protocol import AdmissionError


async def restore(tenant: Tenant, snapshot: Snapshot) -> list[str]:
    """Rebuild the realm's tenant from a snapshot. Returns problems (not fatal).

    Objects are not re-created: no ``on-load`` runs. Callouts and resets keep
    the time they had left when the world was last known running.
    """
    problems: list[str] = []
    alive = snapshot.alive_wall_ms or wall_ms()
    now = tenant.clock()
    for tenant_row in snapshot.tenants:
        if tenant_row.name == tenant.name:
            tenant.clone_counter = tenant_row.clone_counter
            tenant.set_next_handle(tenant_row.next_handle)
    needed = {
        row.version for row in snapshot.blueprints if row.tenant == tenant.name and row.version
    }
    needed |= {row.version for row in snapshot.objects if row.tenant == tenant.name and row.version}
    admitted: set[str] = set()
    for version in sorted(needed):
        data = snapshot.versions.get(version)
        if data is None:
            problems.append(f"version {version[:12]} is missing from the store")
            continue
        try:
            await tenant.blueprints.adopt(data, kind_of_code(data))
        except AdmissionError as exc:  # refused, or a damaged component
            problems.append(f"version {version[:12]} refused: {exc}")
            continue
        admitted.add(version)
    for bp_row in snapshot.blueprints:
        if bp_row.tenant != tenant.name:
            continue
        kind = RuntimeKind.DECLARATIVE if bp_row.language == "json" else RuntimeKind.WASM
        bp = tenant.blueprints.declare(bp_row.path, None, bp_row.language, kind)
        if bp_row.source:
            bp.source = Path(bp_row.source)
        # Each version once, where it was last published; then what is known
        # of each (sizes, times, the staged one), kept as JSON in source_hash.
        bp.history = list(reversed(dict.fromkeys(reversed(bp_row.history))))
        bp.version = bp_row.version if bp_row.version in admitted else None
        bp.load_meta(bp_row.source_hash, sizes=snapshot.versions)
    graph = tenant.graph
    rows = [r for r in snapshot.objects if r.tenant == tenant.name]
    for obj_row in rows:
        obj = MudObject(
            obj_row.id, obj_row.blueprint, obj_row.version if obj_row.version in admitted else None
        )
        obj.state = dict(obj_row.state)
        obj.heartbeat_ms = obj_row.heartbeat_ms
        obj.arrival = obj_row.position
        graph.objects[obj_row.id] = obj
        if obj.version is not None:
            tenant.blueprints.pin(obj.version)
    for obj_row in rows:  # in position order: contents come back in arrival order
        if obj_row.env is None:
            continue
        obj, env = graph.objects[obj_row.id], graph.objects.get(obj_row.env)
        if env is None:
            problems.append(f"{obj_row.id} was in {obj_row.env}, which is gone; it is nowhere now")
            continue
        obj.env = env
        if env.contents is None:
            env.contents = []
        env.contents.append(obj)
        graph.arrivals = max(graph.arrivals, obj_row.position)
    for obj in graph.objects.values():
        if obj.heartbeat_ms > 0:
            tenant.heartbeats.set(obj.id, obj.heartbeat_ms, now)
    for callout_row in snapshot.callouts:
        if callout_row.tenant == tenant.name and callout_row.object_id in graph.objects:
            left = max(0, callout_row.due_wall_ms - alive)
            tenant.callouts.schedule(
                Callout(
                    callout_row.handle,
                    callout_row.object_id,
                    callout_row.method,
                    callout_row.args,
                    now + left,
                )
            )
    for reset_row in snapshot.resets:
        if reset_row.tenant == tenant.name and reset_row.object_id in graph.objects:
            left = max(0, reset_row.due_wall_ms - alive)
            tenant.resets.restore(reset_row.object_id, tenant.quotas.reset_interval_ms, now + left)
    tenant.error_log.restore(snapshot.errors)  # the records the tenant's authors read
    tenant.changes = Changes()  # what was just read is what the store holds
    return problems

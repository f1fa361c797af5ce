"""Recovery tools: what a wizard does to a world that world code has run away
with. Each works on an object id or on a blueprint path (then on every
object of that blueprint, master and clones), and each is one event's worth
of work, so it never waits behind the storm it stops: players' events, the
wizard's included, are served ahead of timers.
"""

from __future__ import annotations

from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.objects import MudObject


def targets(tenant: Tenant, name: str) -> list[MudObject]:
    """The live objects ``name`` means: one object, or a blueprint's objects."""
    obj = tenant.graph.get(name)
    if obj is not None and (ids.is_clone(name) or ids.is_player(name)):
        return [obj]
    found = list(tenant.graph.by_blueprint(name))
    if obj is not None and obj not in found:
        found.append(obj)
    return found


def cancel_callouts(tenant: Tenant, name: str) -> int:
    """Cancel every pending callout of ``name``'s objects; returns how many."""
    cancelled = 0
    for obj in targets(tenant, name):
        for handle in tenant.callouts.drop_object(obj.id):
            tenant.changes.callout_gone(handle)
            cancelled += 1
    return cancelled


def purge(tenant: Tenant, blueprint: str) -> int:
    """Destruct every clone of ``blueprint`` (not its master); returns how many."""
    doomed = [o for o in tenant.graph.by_blueprint(blueprint) if ids.is_clone(o.id)]
    for obj in doomed:
        if obj.id in tenant.graph:
            tenant.destruct(obj)
    return len(doomed)


def quarantine(tenant: Tenant, name: str) -> bool:
    """Quarantine an object or a blueprint by hand. False if no such thing."""
    if tenant.graph.get(name) is None and tenant.blueprints.get(name) is None:
        return False
    if tenant.blueprints.get(name) is not None and not ids.is_clone(name):
        tenant.quarantine.blueprints.add(name)
    else:
        tenant.quarantine.objects.add(name)
    tenant.stop_timers(name, "quarantined by a wizard")
    return True


def release(tenant: Tenant, name: str) -> bool:
    """Lift a quarantine and give the objects their heartbeats back. False if
    ``name`` was not quarantined."""
    if not tenant.quarantine.release(name):
        return False
    now = tenant.clock()
    for obj in targets(tenant, name):
        if obj.heartbeat_ms > 0:
            tenant.heartbeats.set(obj.id, obj.heartbeat_ms, now)
    return True

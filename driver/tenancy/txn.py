"""The world as one running hook sees it: live graph plus the hook's own
reserved operations.

The sandbox records a hook's clone/destruct/move requests as effects and
applies none of them unless the hook returns normally. While the hook runs,
though, it should see its own requests: after ``move(coin, bag)``,
``environment(coin)`` is the bag. :class:`Txn` gives that view: reads consult
the staged operations first, then the live graph, and nothing in the live
graph changes until the tenant applies the outcome.
"""

from __future__ import annotations

from typing import Protocol

from driver.tenancy.blueprints import Blueprints
from driver.tenancy.quotas import Quotas
from driver.world import ids
from driver.world.objects import Graph
from driver.world.timers import Callouts
from sandbox.protocol import HostLimit, WorldRefusal


class World(Protocol):
    """What a transaction reads of its tenant (the tenant implements it)."""

    graph: Graph
    blueprints: Blueprints
    quotas: Quotas
    callouts: Callouts

    def can_load(self, object_id: str) -> bool: ...
    def wall_ms(self) -> int: ...
    def next_clone_id(self, blueprint: str) -> str: ...
    def next_handle(self) -> int: ...

_GONE = "\0gone"  # staged location of a destructed object


class Txn:
    """A :class:`sandbox.protocol.HostWorld` for one invocation (see module doc)."""

    __slots__ = ("tenant", "moved", "created", "callouts_reserved")

    def __init__(self, tenant: World) -> None:
        self.tenant = tenant
        self.moved: dict[str, str | None] = {}  # object id -> staged environment id (or _GONE)
        self.created: dict[str, str] = {}  # staged clone id -> blueprint
        self.callouts_reserved = 0

    # -- reads ------------------------------------------------------------------

    def _exists(self, object_id: str) -> bool:
        if self.moved.get(object_id) == _GONE:
            return False
        return object_id in self.created or object_id in self.tenant.graph

    def environment(self, target: str) -> str | None:
        if target in self.moved:
            where = self.moved[target]
            return None if where == _GONE else where
        obj = self.tenant.graph.get(target)
        return obj.env.id if obj is not None and obj.env is not None else None

    def contents(self, target: str) -> list[str]:
        obj = self.tenant.graph.get(target)
        live = [o.id for o in (obj.contents or ())] if obj is not None else []
        if not self.moved:
            return live
        kept = [i for i in live if i not in self.moved]
        arrived = [i for i, where in self.moved.items() if where == target and i not in kept]
        return kept + arrived

    def query(self, asker: str, target: str, key: str) -> bytes | None:
        obj = self.tenant.graph.get(target)
        if obj is None or not self._exists(target):
            return None
        if key not in obj.public_keys():
            return None
        return obj.state.get(key)

    def now_ms(self) -> int:
        return self.tenant.wall_ms()

    # -- reserved operations ----------------------------------------------------------

    def clone(self, asker: str, blueprint: str) -> str:
        tenant = self.tenant
        try:
            path = ids.normalize_blueprint(blueprint)
        except ids.BadId as exc:
            raise WorldRefusal(str(exc)) from None
        bp = tenant.blueprints.get(path)
        if bp is None or bp.version is None:
            raise WorldRefusal(f"no such blueprint: {path}")
        if len(tenant.graph) + len(self.created) >= tenant.quotas.max_objects:
            raise WorldRefusal(f"object quota reached ({tenant.quotas.max_objects})")
        new_id = tenant.next_clone_id(path)
        self.created[new_id] = path
        return new_id

    def destruct(self, asker: str, target: str) -> None:
        if not self._exists(target):
            raise WorldRefusal(f"no such object: {target}")
        if ids.is_player(target):
            raise WorldRefusal("players cannot be destructed")
        self.moved[target] = _GONE

    def move(self, asker: str, target: str, destination: str) -> None:
        if not self._exists(target):
            raise WorldRefusal(f"no such object: {target}")
        if not self._exists(destination) and not self.tenant.can_load(destination):
            raise WorldRefusal(f"no such destination: {destination}")
        # Refuse cycles: the destination may not be (inside) the target.
        at: str | None = destination
        for _ in range(10_000):
            if at is None:
                break
            if at == target:
                raise WorldRefusal(f"cannot move {target} into itself")
            at = self.environment(at)
        self.moved[target] = destination

    # -- scheduling ----------------------------------------------------------------

    def next_callout_handle(self) -> int:
        tenant = self.tenant
        self.callouts_reserved += 1
        if len(tenant.callouts) + self.callouts_reserved > tenant.quotas.max_pending_callouts:
            raise HostLimit(f"pending callout quota reached ({tenant.quotas.max_pending_callouts})")
        return tenant.next_handle()

    def cancel_callout(self, asker: str, handle: int) -> bool:
        return self.tenant.callouts.pending(handle, asker)

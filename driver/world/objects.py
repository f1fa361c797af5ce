"""Objects and the container graph of one tenant.

An object is a light record; everything it *is* beyond that lives in its
state map (``key -> CBOR bytes``) and in its blueprint's code. The driver
owns the containment graph: every object has at most one environment, and
an environment lists its contents in arrival order.

Conventional state keys (documented in ``wit/realm.wit``) are decoded on
demand by the helpers at the bottom, so ``look`` and noun matching never
need a wasm call.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from typing import Any

import cbor2

from driver.world import ids


class MudObject:
    """One object. ``__slots__`` keep a clone's driver-side record small."""

    __slots__ = ("id", "blueprint", "version", "env", "contents", "heartbeat_ms", "state", "arrival", "__weakref__")

    def __init__(self, object_id: str, blueprint: str | None, version: str | None) -> None:
        self.id = object_id
        self.blueprint = blueprint  # None for players: they run no guest code
        self.version = version  # the version this object last ran (pinned)
        self.env: MudObject | None = None
        self.contents: list[MudObject] | None = None  # allocated on first arrival
        self.heartbeat_ms = 0
        self.state: dict[str, bytes] = {}
        self.arrival = 0  # when it entered its environment: orders contents

    def __repr__(self) -> str:
        return f"<MudObject {self.id}>"

    @property
    def is_player(self) -> bool:
        return self.blueprint is None

    # -- conventional keys --------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """Decode state ``key`` from CBOR; ``default`` when absent or undecodable."""
        raw = self.state.get(key)
        if raw is None:
            return default
        try:
            return cbor2.loads(raw)
        except Exception:
            return default

    def set(self, key: str, value: Any) -> None:
        self.state[key] = cbor2.dumps(value)

    def text(self, key: str, default: str = "") -> str:
        value = self.get(key)
        return value if isinstance(value, str) else default

    @property
    def name(self) -> str:
        return self.text("name") or ids.blueprint_of(self.id).rsplit("/", 1)[-1]

    @property
    def short(self) -> str:
        return self.text("short") or self.name

    def nouns(self) -> list[str]:
        found = self.get("ids")
        nouns = [n.lower() for n in found if isinstance(n, str)] if isinstance(found, list) else []
        name = self.text("name")
        if name:
            nouns.append(name.lower())
        return nouns

    def exits(self) -> dict[str, str]:
        found = self.get("exits")
        if not isinstance(found, dict):
            return {}
        return {str(k): str(v) for k, v in found.items() if isinstance(k, str) and isinstance(v, str)}

    def verbs(self) -> builtins.set[str] | None:
        """Verbs the object asked to be offered (`verbs` key); None means all."""
        found = self.get("verbs")
        if not isinstance(found, list):
            return None
        return {v for v in found if isinstance(v, str)}

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.get(key)
        return value if isinstance(value, bool) else default

    def public_keys(self) -> builtins.set[str]:
        found = self.get("public")
        keys = {k for k in found if isinstance(k, str)} if isinstance(found, list) else set()
        return keys | ALWAYS_PUBLIC


#: Conventional keys any object may `query` of any other.
ALWAYS_PUBLIC = frozenset({"name", "short", "long", "ids", "exits", "area"})


class Graph:
    """All objects of a tenant by id, and the moves between them.

    ``on_change`` is called with every object whose record changes (a move),
    so the tenant can mark it for persistence."""

    def __init__(self, on_change: Callable[[MudObject], None] | None = None) -> None:
        self.objects: dict[str, MudObject] = {}
        self.on_change = on_change
        self.arrivals = 0

    def __len__(self) -> int:
        return len(self.objects)

    def __contains__(self, object_id: str) -> bool:
        return object_id in self.objects

    def get(self, object_id: str) -> MudObject | None:
        return self.objects.get(object_id)

    def add(self, obj: MudObject) -> MudObject:
        if obj.id in self.objects:
            raise ValueError(f"{obj.id} already exists")
        self.objects[obj.id] = obj
        return obj

    def move(self, obj: MudObject, dest: MudObject | None) -> MudObject | None:
        """Put ``obj`` into ``dest`` (None: nowhere). Returns the old environment."""
        old = obj.env
        if old is dest:
            return old
        if dest is not None and self.inside(dest, obj):
            raise ValueError(f"cannot move {obj.id} into itself ({dest.id})")
        if old is not None and old.contents is not None:
            old.contents.remove(obj)
            if not old.contents:
                old.contents = None
        obj.env = dest
        if dest is not None:
            if dest.contents is None:
                dest.contents = []
            dest.contents.append(obj)
            self.arrivals += 1
            obj.arrival = self.arrivals
        if self.on_change is not None:
            self.on_change(obj)
        return old

    @staticmethod
    def inside(obj: MudObject, container: MudObject) -> bool:
        """True if ``obj`` is ``container`` or somewhere inside it."""
        at: MudObject | None = obj
        while at is not None:
            if at is container:
                return True
            at = at.env
        return False

    def remove(self, obj: MudObject) -> list[MudObject]:
        """Take ``obj`` out of the world; its contents fall into its environment.
        Returns the objects that fell."""
        fallen = list(obj.contents or ())
        for item in fallen:
            self.move(item, obj.env)
        self.move(obj, None)
        del self.objects[obj.id]
        return fallen

    def contents(self, obj: MudObject) -> list[MudObject]:
        return list(obj.contents or ())

    def by_blueprint(self, blueprint: str) -> Iterator[MudObject]:
        return (o for o in self.objects.values() if o.blueprint == blueprint)

"""Driver benchmark: commands per second, reload with 10,000 clones, memory per clone.

Prints one JSON document.

* ``commands_per_second``: the whole path on one core with the in-process
  sandbox: an input line enters a session handler, becomes a tenant event, is
  offered to a C guest's ``on-command`` (the counter: read state, write
  state, tell, say), the effects are applied, and the text reaches the
  session. Two players share the room, so every command also produces a
  broadcast.
* ``reload_ms_10000_clones``: publishing a new version of a blueprint that
  has 10,000 clones (admission of the new component + the pointer swap; the
  clones migrate lazily on their next hook), plus the cost of that first hook.
* ``bytes_per_clone``: driver-side memory per clone, state excluded
  (tracemalloc over 10,000 bare clone records).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from common import ROOT

from driver.app import Realm, RealmConfig
from driver.auth.accounts import MemoryAccountStore
from driver.net.session import ClientInfo, Session
from driver.world import ids
from sandbox.build import manifest as build_manifest
from sandbox.build import worldbuild

COUNTER = "/examples/counter"


class NullSession(Session):
    """A session that counts what it is sent (the socket's place)."""

    def __init__(self) -> None:
        self.info = ClientInfo(transport="bench", peer="bench")
        self.chunks = 0

    def send_text(self, text: str) -> None:
        self.chunks += 1

    def send_prompt(self, text: str) -> None:
        self.chunks += 1

    def send_gmcp(self, package: str, data: object) -> None:
        self.chunks += 1

    def close(self, reason: str = "") -> None:
        pass


def make_realm() -> Realm:
    realm = Realm(RealmConfig(), accounts=MemoryAccountStore())
    errors = realm.build(progress=None)
    if errors:
        print(f"warning: {len(errors)} blueprint(s) failed to build", file=sys.stderr)
    realm.publish_all()
    return realm


def bench_commands(realm: Realm, seconds: float = 3.0) -> dict[str, float]:
    tenant = realm.tenant
    room = tenant.find(realm.start_room)
    players = realm.players
    sessions = []
    for name in ("ann", "bob"):
        session = NullSession()
        pid = ids.player_id(name)
        from driver.players.gateway import Link

        players.links[pid] = Link(pid, name.capitalize(), False, session, players.clock())
        body = tenant.add_player(pid, {})
        body.set("name", name.capitalize())
        tenant.move(body, room)
        sessions.append(session)
    counter = tenant.clone(COUNTER)
    tenant.move(counter, room)
    while realm.step():
        pass
    ann = ids.player_id("ann")
    rates = []
    total = 0
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while time.perf_counter() < deadline:
            for _ in range(100):
                players.command(ann, "push")
                while realm.step():
                    pass
            n += 100
        rates.append(n / (time.perf_counter() - start))
        total += n
    assert counter.get("count") == total, (counter.get("count"), total)
    return {
        "commands_per_second": round(statistics.median(rates)),
        "commands_run": total,
        "session_writes": sum(s.chunks for s in sessions),
    }


def bench_reload(realm: Realm, clones: int = 10_000) -> dict[str, float]:
    tenant = realm.tenant
    start = time.perf_counter()
    made = [tenant.clone(COUNTER) for _ in range(clones)]
    clone_s = time.perf_counter() - start
    entry = build_manifest.load(realm.config.build_dir)[COUNTER]
    source = realm.config.world_dir / entry.source
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        (world / "examples").mkdir(parents=True)
        shutil.copytree(realm.config.world_dir / "include", world / "include")
        # A text no earlier run compiled, so the new version really compiles.
        token = os.urandom(4).hex()
        text = source.read_text().replace("a brass counter", f"a polished brass counter ({token})")
        (world / entry.source).write_text(text)
        result = worldbuild.build_world(world, Path(tmp) / "build", wit_dir=ROOT / "wit")
        assert result.ok, result.failed
        data = result.artifacts[COUNTER].read()
    start = time.perf_counter()
    version, old = tenant.blueprints.publish(COUNTER, data)
    reload_ms = (time.perf_counter() - start) * 1000
    assert version != old
    start = time.perf_counter()
    outcome = tenant.run_hook(made[0], "on-command", ("/player/ann", "look", ""))
    first_hook_ms = (time.perf_counter() - start) * 1000
    assert outcome is not None and outcome.ok
    assert made[0].get("count") is None and made[0].version == version
    return {
        "clones": clones,
        "clone_with_on_load_us": round(clone_s / clones * 1e6, 1),
        "reload_ms_10000_clones": round(reload_ms, 2),
        "first_hook_after_reload_ms": round(first_hook_ms, 3),
    }


def bench_memory(realm: Realm, clones: int = 10_000) -> dict[str, float]:
    tenant = realm.tenant
    tenant.find(realm.start_room)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    made = [tenant._create(tenant.next_clone_id(COUNTER), COUNTER) for _ in range(clones)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The list holding them is the benchmark's, not the driver's.
    grown -= sys.getsizeof(made)
    return {"bytes_per_clone": round(grown / clones, 1)}


def main() -> None:
    realm = make_realm()
    result: dict[str, object] = {"benchmark": "driver"}
    result.update(bench_commands(realm))
    result.update(bench_reload(realm))
    result.update(bench_memory(realm))
    result["goals"] = {
        "commands_per_second_ge_5000": result["commands_per_second"] >= 5000,
        "reload_10000_clones_le_100ms": result["reload_ms_10000_clones"] <= 100,
        "bytes_per_clone_le_1024": result["bytes_per_clone"] <= 1024,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""The running realm: sandbox, tenants, players, and the event loop.

:class:`Realm` ties the driver together. It builds the world from source and
publishes every blueprint into its tenant, runs the tenants' events on one
trio task (round-robin, a time budget per turn, sleeping until the next
timer or the next input), and answers the wizard's ``reload``.

Only the default tenant is served to players for now; the loop already
serves any number of tenants fairly, so adding tenants needs no rewrite.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import trio

from driver.auth.accounts import AccountStore, MemoryAccountStore, ScryptParams
from driver.players.gateway import Players
from driver.tenancy.tenant import Quotas, Tenant
from driver.world import ids
from sandbox.build import manifest as build_manifest
from sandbox.protocol import AdmissionError, CompileError
from sandbox.runtime.host import Sandbox

log = logging.getLogger("jitrealm")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class RealmConfig:
    world_dir: Path = PROJECT_ROOT / "world-src"
    build_dir: Path = PROJECT_ROOT / "build"
    data_dir: Path = Path("var")
    wit_dir: Path = PROJECT_ROOT / "wit"
    tenant: str = "demo"
    quotas: Quotas = field(default_factory=Quotas)
    kdf_params: ScryptParams | None = None  # None: the accounts module's default
    linkdead_seconds: float = 600.0
    telnet_port: int = 4000


class Realm:
    """See module docstring."""

    def __init__(
        self,
        config: RealmConfig,
        *,
        sandbox: Sandbox | None = None,
        accounts: AccountStore | None = None,
    ) -> None:
        self.config = config
        self.sandbox = sandbox or Sandbox(cache_dir=config.build_dir / "cache")
        self.accounts = accounts if accounts is not None else MemoryAccountStore()
        self.players = Players(
            self, self.accounts, kdf_params=config.kdf_params, linkdead_seconds=config.linkdead_seconds
        )
        self.tenant = Tenant(config.tenant, self.sandbox, self.players, quotas=config.quotas)
        self.tenants: list[Tenant] = [self.tenant]
        self.title = "JitRealm"
        self.start_room = "/rooms/start"
        self.started_at = time.time()
        self._wake = trio.Event()
        self.paused: str | None = None  # why the world is stopped (the store cannot write)
        self._read_world_config()

    # -- the world ---------------------------------------------------------------------------

    def _read_world_config(self) -> None:
        path = self.config.world_dir / "world.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("%s: ignored: %s", path, exc)
            return
        if isinstance(data, dict):
            self.title = str(data.get("title", self.title))
            start = data.get("start")
            if isinstance(start, str):
                self.start_room = ids.normalize_blueprint(start)

    def build(self, paths: list[Path] | None = None, progress: TextIO | None = sys.stderr) -> list[CompileError]:
        """Compile world sources into the build dir. Returns the errors."""
        from sandbox.build import worldbuild

        result = worldbuild.build_world(
            self.config.world_dir, self.config.build_dir, paths,
            wit_dir=self.config.wit_dir, progress=progress,
        )
        return list(result.failed.values())

    def publish_all(self) -> list[str]:
        """Publish every built blueprint into the tenant. Returns problems."""
        problems: list[str] = []
        for path, entry in sorted(build_manifest.load(self.config.build_dir).items()):
            if entry.component is None:
                continue  # declarative bundles run in the room runtime (a later issue)
            try:
                self._publish(path, entry)
            except (AdmissionError, OSError) as exc:
                problems.append(f"{path}: {exc}")
                log.error("blueprint %s refused: %s", path, exc)
        return problems

    def _publish(self, path: str, entry: build_manifest.Entry) -> tuple[str, str | None]:
        assert entry.component is not None
        data = (self.config.build_dir / entry.component).read_bytes()
        return self.tenant.publish(
            path, data, source=self.config.world_dir / entry.source, language=entry.language
        )

    def reload(self, path: str) -> str:
        """Recompile ``path`` and make the new version current.

        Raises CompileError (the old version keeps running) or AdmissionError.
        Objects keep their state and run ``on-reload(old)`` before their next hook.
        """
        bp = self.tenant.blueprints.get(path)
        if bp is None:
            raise KeyError(f"no such blueprint: {path}")
        if bp.source is not None and bp.source.exists():
            errors = self.build([bp.source], progress=None)
            if errors:
                raise errors[0]
        entry = build_manifest.load(self.config.build_dir).get(path)
        if entry is None or entry.component is None:
            raise KeyError(f"no built component for {path}")
        started = time.perf_counter()
        version, old = self._publish(path, entry)
        took = (time.perf_counter() - started) * 1000
        if version == old:
            return f"{path} is unchanged (version {version[:12]})."
        users = sum(1 for o in self.tenant.graph.by_blueprint(path))
        return (
            f"Reloaded {path}: {(old or '-')[:12]} -> {version[:12]} in {took:.1f} ms; "
            f"{users} object{'s' if users != 1 else ''} keep their state and run on-reload before their next hook."
        )

    # -- the event loop -------------------------------------------------------------------

    def wake(self) -> None:
        """Input arrived: let the loop run it now."""
        self._wake.set()

    def pause(self, why: str) -> None:
        """Stop running events (the store cannot save them) and say why."""
        if self.paused is None:
            for pid in list(self.players.links):
                self.players.send_now(pid, ("text", f"{{red}}{why}{{/}}\n"))
        self.paused = why

    def resume(self) -> None:
        if self.paused is not None:
            self.paused = None
            for pid in list(self.players.links):
                self.players.send_now(pid, ("text", "{green}The world can save again. Carry on!{/}\n"))
            self.wake()

    def step(self) -> bool:
        """Run one round: collect due timers, give each busy tenant a turn.
        Returns True if any tenant still has work queued."""
        now_by_tenant = [(t, t.clock()) for t in self.tenants]
        for tenant, now in now_by_tenant:
            tenant.collect_due(now)
        for tenant in list(self.tenants):
            if tenant.busy:
                tenant.run_turn()
        # Rotate so that the same tenant does not always go first.
        if len(self.tenants) > 1:
            self.tenants.append(self.tenants.pop(0))
        return any(t.busy for t in self.tenants)

    def _sleep_seconds(self) -> float:
        soonest = math.inf
        for tenant in self.tenants:
            due = tenant.next_due()
            if due is not None:
                soonest = min(soonest, (due - tenant.clock()) / 1000)
        return max(0.0, soonest)

    async def run_loop(self) -> None:
        while True:
            if self.paused is not None:
                self._wake = trio.Event()
                with trio.move_on_after(0.5):
                    await self._wake.wait()
                continue
            if self.step():
                await trio.sleep(0)  # let I/O in between turns
                continue
            self._wake = trio.Event()
            with trio.move_on_after(self._sleep_seconds()):
                await self._wake.wait()

    async def reap_loop(self, every: float = 10.0) -> None:
        while True:
            await trio.sleep(every)
            self.players.reap_linkdead()

    def mssp(self) -> dict[str, str]:
        return {
            "NAME": self.title,
            "PLAYERS": str(len(self.players.online())),
            "UPTIME": str(int(self.started_at)),
            "CODEBASE": "JitRealm 0.1",
            "PORT": str(self.config.telnet_port),
            "CRAWL DELAY": "-1",
            "UTF-8": "1",
            "GMCP": "1",
            "MCCP": "1",
            "ANSI": "1",
        }


def watch_sources(realm: Realm, notify: Callable[[str], None]) -> Callable[[], object]:
    """A coroutine factory for `--watch`: rebuild and reload changed sources.

    Polls modification times twice a second; a well-kept file-watching
    library (watchfiles) would add a compiled dependency for what is a
    dozen lines here, and polling works the same on every platform.
    """
    world = realm.config.world_dir

    def scan() -> dict[Path, float]:
        found: dict[Path, float] = {}
        for pattern in ("*.c", "*.py", "*.h"):
            for path in world.rglob(pattern):
                try:
                    found[path] = path.stat().st_mtime
                except OSError:
                    pass
        return found

    async def run() -> None:
        seen = scan()
        while True:
            await trio.sleep(0.5)
            now = scan()
            changed = [p for p, m in now.items() if seen.get(p) != m]
            seen = now
            for source in changed:
                rel = source.relative_to(world)
                if rel.parts[0] in ("include", "lib"):
                    continue
                try:
                    path = ids.normalize_blueprint(rel.as_posix())
                except ids.BadId:
                    continue
                try:
                    if realm.tenant.blueprints.get(path) is None:
                        errors = realm.build([source], progress=None)
                        if errors:
                            raise errors[0]
                        realm.publish_all()
                        notify(f"[watch] new blueprint {path} published.")
                    else:
                        notify("[watch] " + realm.reload(path))
                except (CompileError, AdmissionError, KeyError, OSError) as exc:
                    notify(f"[watch] {path}: {exc}")

    return run

"""One tenant's world, wired from its parts.

:class:`Realm` builds the pieces and connects them: the tenant (the world's
objects and events), the players layer (presence, delivery, the gateway)
and its live rooms, over a runtime that runs blueprint code. The world the
server was started with (``world-src``) also builds itself from source and
answers the wizard's ``reload``; other tenants' code is published through
the admin API. A realm alone has a loop of its own (tests, tools); on a
server every realm shares one loop, one runtime and one store
(:mod:`driver.worlds`). :func:`open_realm` restores a single world from its
data directory.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

from driver import compiles
from driver.auth.accounts import ScryptParams
from driver.net.admission import Admission, ConnectionLimits
from driver.persistence.commit import Persistence
from driver.persistence.restore import restore
from driver.players.delivery import Delivery
from driver.players.gateway import Gateway
from driver.players.presence import Presence
from driver.rooms import RoomHost
from driver.runtimes import Runtime, RuntimeKind
from driver.runtimes.declarative import DeclarativeRuntime
from driver.store.accounts import AccountStore, MemoryAccountStore
from driver.store.records import Snapshot
from driver.store.sqlite import SqliteStore
from driver.tenancy.errors import NoSuchBlueprint, NotBuilt, WorldError
from driver.tenancy.loop import Loop
from driver.tenancy.output import Text
from driver.tenancy.quotas import Quotas
from driver.tenancy.tenant import Tenant
from driver.world import ids
from driver.world.settings import WorldSettings
from sandbox.build import manifest as build_manifest
from sandbox.build.worldbuild import LANGUAGES, SDK_DIRS
from sandbox.protocol import AdmissionError, CompileError

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
    build_limits: compiles.BuildLimits = field(default_factory=compiles.BuildLimits)
    timers_paused: bool = False  # start with timers held until a wizard resumes them
    # Connections per address and before login, the pre-login timeout: for
    # every listener together (driver.net.admission).
    connection_limits: ConnectionLimits = field(default_factory=ConnectionLimits)


class Realm:
    """See module docstring."""

    def __init__(
        self,
        config: RealmConfig,
        *,
        runtime: Runtime | None = None,
        accounts: AccountStore | None = None,
        name: str | None = None,
        settings: WorldSettings | None = None,
        quotas: Quotas | None = None,
        loop: Loop | None = None,
        admission: Admission | None = None,
    ) -> None:
        """``name`` defaults to the configured tenant, the one built from
        ``config.world_dir``; any other realm has no sources. With ``loop``
        (shared by a server's realms) the caller adds the tenant to it once
        the world is restored; without, the realm has a loop of its own."""
        self.config = config
        self.name = name or config.tenant
        self.has_sources = self.name == config.tenant
        if runtime is None:
            from driver.runtimes.inproc import InprocRuntime

            runtime = InprocRuntime(cache_dir=config.build_dir / "cache")
        self.runtime = runtime
        self.accounts = accounts if accounts is not None else MemoryAccountStore()
        if settings is None:
            settings = read_world_settings(config.world_dir) if self.has_sources else WorldSettings()
        self.settings = settings
        self.presence = Presence()
        self.delivery = Delivery(self.presence, self.settings)
        # Declarative rooms (statechart bundles) run beside the WebAssembly blueprints.
        self.declarative = DeclarativeRuntime()
        self.tenant = Tenant(
            self.name,
            {RuntimeKind.WASM: runtime, RuntimeKind.DECLARATIVE: self.declarative},
            self.delivery,
            quotas=quotas if quotas is not None else config.quotas,
        )
        self.tenant.settings = self.settings
        self.delivery.tenant = self.tenant
        self.tenant.timers_paused = config.timers_paused
        self.loop = loop if loop is not None else Loop([self.tenant], announce=self._announce)
        self.players = Gateway(
            self.tenant, self.presence, self.delivery, self.accounts, self.settings,
            reload=self.reload,
            kdf_params=config.kdf_params, linkdead_seconds=config.linkdead_seconds,
            admission=admission if admission is not None else Admission(config.connection_limits),
        )  # fmt: skip
        # Live rooms for WebSocket clients; the gateway hands them client events.
        self.rooms = RoomHost({self.name: self.tenant}, self.declarative)
        self.players.client_events = self.rooms
        self.started_at = time.time()

    @property
    def title(self) -> str:
        return self.settings.title

    @property
    def start_room(self) -> str:
        return self.settings.start_room

    def _announce(self, text: str) -> None:
        for pid in list(self.presence.links):
            self.delivery.send_now(pid, Text(text))

    # -- the world ---------------------------------------------------------------------------

    @property
    def dirs(self) -> compiles.BuildDirs:
        return compiles.BuildDirs(self.config.world_dir, self.config.build_dir, self.config.wit_dir)

    async def build(self, paths: list[Path] | None = None) -> list[CompileError]:
        """Compile world sources into the build dir, in a child process
        (:mod:`driver.compiles`). Returns the errors. (Only the realm built
        from ``world-src`` has sources: the others have nothing to build.)"""
        if not self.has_sources:
            return []
        return await compiles.build(self.dirs, paths, self.config.build_limits)

    async def publish_all(self) -> list[str]:
        """Publish every built blueprint into the tenant. Returns problems."""
        problems: list[str] = []
        if not self.has_sources:
            return problems
        for path, entry in sorted(build_manifest.load(self.config.build_dir).items()):
            try:
                await self._publish(path, entry)
            except (AdmissionError, OSError) as exc:
                problems.append(f"{path}: {exc}")
                log.error("blueprint %s refused: %s", path, exc)
        return problems

    async def _publish(self, path: str, entry: build_manifest.Entry) -> tuple[str, str | None]:
        data = await trio.Path(self.config.build_dir / entry.output).read_bytes()
        kind = RuntimeKind.DECLARATIVE if entry.bundle is not None else RuntimeKind.WASM
        return await self.tenant.publish(
            path, data, source=self.config.world_dir / entry.source, language=entry.language,
            kind=kind,
        )

    def new_sources(self, path: str) -> list[Path]:
        """The source files in the world directory that would define the
        blueprint ``path`` (normalised), which is not in the world yet:
        ``/newbie/lever`` is ``newbie/lever.c`` or ``.py`` or ``.json``."""
        if not self.has_sources:
            return []
        parts = path.strip("/").split("/")
        if not parts or not parts[0] or parts[0] in SDK_DIRS.values() or ".." in parts:
            return []
        base = self.config.world_dir.joinpath(*parts)
        return [found for suffix in LANGUAGES if (found := base.with_name(base.name + suffix)).is_file()]

    async def reload(self, path: str) -> str:
        """Recompile ``path`` and make the new version current; a blueprint
        whose source is in the world directory but was never built is
        built and loaded (`reload` and `clone` of a new file).

        Nothing here blocks the loop: the compile runs in a child process,
        admission in a thread or a worker; the old version serves players
        until the new one is admitted, and the swap itself is O(1). Raises
        CompileError (the old version keeps running), AdmissionError, or a
        WorldError. Objects keep their state and run ``on-reload(old)``
        before their next hook.
        """
        bp = self.tenant.blueprints.get(path)
        if bp is None and not self.new_sources(path):
            raise NoSuchBlueprint(path)
        if not self.has_sources:
            raise WorldError(f"{self.name} has no sources here: publish {path} through the API")
        warnings: list[str] = []
        sources = self.new_sources(path) if bp is None else [bp.source] if bp.source is not None and bp.source.exists() else []
        if sources:
            report = await compiles.build_report(self.dirs, sources, self.config.build_limits)
            if report.errors:
                raise report.errors[0]
            warnings = report.warnings
        entry = build_manifest.load(self.config.build_dir).get(path)
        if entry is None:
            raise NotBuilt(path)
        started = time.perf_counter()
        version, old = await self._publish(path, entry)
        took = (time.perf_counter() - started) * 1000
        said = "".join(f"\n{w}" for w in warnings)
        if bp is None:
            return f"Loaded the new blueprint {path} from {entry.source}: version {version[:12]} (admitted in {took:.1f} ms).{said}"
        if version == old:
            return f"{path} is unchanged (version {version[:12]}).{said}"
        users = sum(1 for o in self.tenant.graph.by_blueprint(path))
        return (
            f"Reloaded {path}: {(old or '-')[:12]} -> {version[:12]} (admitted in {took:.1f} ms); "
            f"{users} object{'s' if users != 1 else ''} keep their state and run on-reload before their next hook."
            + said
        )

    def mssp(self) -> dict[str, str]:
        return {
            "NAME": self.title,
            "PLAYERS": str(len(self.presence.online())),
            "UPTIME": str(int(self.started_at)),
            "CODEBASE": "JitRealm 0.1",
            "PORT": str(self.config.telnet_port),
            "CRAWL DELAY": "-1",
            "UTF-8": "1",
            "GMCP": "1",
            "MCCP": "1",
            "ANSI": "1",
        }


def read_world_settings(world_dir: Path) -> WorldSettings:
    """The world's ``world.json`` (title, start room); defaults when absent or bad."""
    settings = WorldSettings()
    path = world_dir / "world.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return settings
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("%s: ignored: %s", path, exc)
        return settings
    if isinstance(data, dict):
        settings.title = str(data.get("title", settings.title))
        start = data.get("start")
        if isinstance(start, str):
            settings.start_room = ids.normalize_blueprint(start)
    return settings


async def restore_realm(realm: Realm, snapshot: Snapshot) -> None:
    """Put back what ``snapshot`` holds of ``realm``'s tenant. Bodies the
    restart put back in rooms are link-dead until their players return (and
    stowed after the usual grace if they do not)."""
    for problem in await restore(realm.tenant, snapshot):
        log.warning("restore %s: %s", realm.name, problem)
    realm.players.restore_bodies()


async def open_realm(config: RealmConfig, runtime: Runtime | None = None) -> tuple[Realm, Persistence]:
    """Open the store under ``config.data_dir``, restore the world it holds,
    then build and publish the world's sources on top (the build decides
    which version each blueprint runs; objects keep their state).

    Raises :class:`driver.store.StoreError` with a clear message for a data
    directory that cannot be used (newer schema, locked, corrupt).
    """
    store = SqliteStore(config.data_dir)
    try:
        snapshot = store.load()
        realm = Realm(config, runtime=runtime, accounts=store)
        persistence = Persistence(store, realm.loop)
        await restore_realm(realm, snapshot)
        realm.tenant.committer = persistence
        for err in await realm.build():
            print(f"build error: {err}", file=sys.stderr)
        for problem in await realm.publish_all():
            print(f"refused: {problem}", file=sys.stderr)
        if not snapshot.tenants:
            persistence.save_all(realm.tenant)  # a new world: write it all once
    except BaseException:
        store.close()
        raise
    return realm, persistence

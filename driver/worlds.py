"""Every tenant's world on one server: created, suspended, resumed and
deleted while the server runs, and reached by players by name.

A :class:`Worlds` holds one :class:`~driver.app.Realm` per tenant over what
they share: one loop (each tenant on a task of its own, see
:mod:`driver.tenancy.loop`), one sandbox runtime, one store and one
connection admission. Each realm keeps what is its own: objects,
blueprints, accounts, wizards, errors, quotas, who is online, channels.

Players pick a world by name. On the shared telnet port a connection starts
at the default world's login screen and may type ``world <name>`` there to
go to another world's (:class:`_Front`); a world may also have a telnet port
of its own, and its web client and WebSocket live at ``/t/<name>/``. A world
at its connection quota turns newcomers away at the door.

It is also what the admin API asks (:class:`driver.tenancy.control.Control`):
tenants, quotas, publishing, usage, errors, roles. Quotas changed here take
effect at once: the tenant's budgets are rebuilt at the new rates.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from driver import oplog
from driver.app import Realm, RealmConfig, read_world_settings, restore_realm
from driver.net import ansi
from driver.net.admission import Admission
from driver.net.session import Session, SessionHandler
from driver.net.telnet_server import TelnetConfig, serve_telnet
from driver.persistence.commit import Persistence
from driver.runtimes import Runtime
from driver.store.accounts import AccountNotFound, AccountStore, MemoryAccountStore
from driver.store.sqlite import SqliteStore
from driver.tenancy import quotas as quota_names
from driver.tenancy import recovery
from driver.tenancy.control import (
    BlueprintVersions,
    ErrorInfo,
    LogLine,
    PublishResult,
    QuarantineInfo,
    ServerFigures,
    TenantInfo,
    TenantState,
    Usage,
)
from driver.tenancy.errors import BadRequest, NoSuchTenant, TenantExists
from driver.tenancy.loop import Loop
from driver.tenancy.output import Text
from driver.tenancy.quotas import Quotas
from driver.world import ids
from driver.world.settings import WorldSettings

log = logging.getLogger("jitrealm")

#: What a tenant may be called: it is typed at login and appears in URLs.
TENANT_NAME = re.compile(r"[a-z][a-z0-9-]{1,31}")

SUSPENDED_NOTICE = (
    "{bold yellow}{title} has been suspended by the server's administrator{why}. "
    "Your character is saved. Goodbye.{/}\n"
)


def check_tenant_name(name: str) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise BadRequest(
            f"a tenant's name is 2 to 32 of a-z, 0-9 and '-', starting with a letter (not {name[:40]!r})"
        )
    return name


@dataclass(slots=True)
class _Running:
    """What runs for one realm beside the loop: its reaper, live rooms and
    own port, all under one cancel scope (cancelled when it is suspended or
    deleted)."""

    scope: trio.CancelScope
    port: int | None = None


class Worlds:
    """See module docstring."""

    def __init__(
        self,
        config: RealmConfig,
        runtime: Runtime,
        *,
        store: SqliteStore | None = None,
        loop: Loop | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.store = store
        self.loop = loop if loop is not None else Loop([], announce=self.announce)
        self.admission = admission if admission is not None else Admission(config.connection_limits)
        self.realms: dict[str, Realm] = {}
        self.persistence: Persistence | None = None
        self.nursery: trio.Nursery | None = None
        self.telnet_host = "127.0.0.1"
        self.telnet_config: TelnetConfig | None = None
        self._running: dict[str, _Running] = {}
        self.started_at = time.time()
        #: Stops the server as SIGTERM does (set by the CLI); None: cannot.
        self.request_shutdown: Callable[[], None] | None = None
        self.admin_port: int | None = None

    @classmethod
    def of(cls, realm: Realm, persistence: Persistence | None = None) -> Worlds:
        """A server of one realm made on its own (tests, tools): its loop and
        admission become the server's."""
        worlds = cls(
            realm.config, realm.runtime, loop=realm.loop, admission=realm.players.admission
        )
        worlds.realms[realm.name] = realm
        worlds.persistence = persistence
        return worlds

    # -- the realms -------------------------------------------------------------------

    @property
    def default(self) -> Realm:
        """The world a connection on the shared port starts at."""
        realm = self.realms.get(self.config.tenant)
        if realm is None:
            realm = next(iter(self.realms.values()))
        return realm

    def get(self, name: str) -> Realm:
        realm = self.realms.get(name)
        if realm is None:
            raise NoSuchTenant(name)
        return realm

    def open_realm_for(self, name: str) -> Realm | None:
        """The realm ``name`` if players may enter it now."""
        realm = self.realms.get(name)
        if realm is None or realm.settings.suspended is not None:
            return None
        return realm

    def _accounts(self, name: str) -> AccountStore:
        return self.store.accounts_of(name) if self.store is not None else MemoryAccountStore()

    def _new_realm(self, name: str, settings: WorldSettings | None, quotas: Quotas) -> Realm:
        realm = Realm(
            self.config, runtime=self.runtime, accounts=self._accounts(name), name=name,
            settings=settings, quotas=quotas, loop=self.loop, admission=self.admission,
        )  # fmt: skip
        realm.tenant.committer = self.persistence
        if self.store is not None:
            realm.tenant.load_component = self._load_component  # kept versions, for rollback
        realm.players.nursery = self.nursery
        realm.players.request_shutdown = self.request_shutdown
        self.realms[name] = realm
        return realm

    async def _load_component(self, version: str) -> bytes | None:
        store = self.store
        assert store is not None
        return await trio.to_thread.run_sync(store.get_version, version)

    def set_shutdown(self, request: Callable[[], None]) -> None:
        """What an admin's `shutdown` calls when its countdown ends, in every world."""
        self.request_shutdown = request
        for realm in self.realms.values():
            realm.players.request_shutdown = request

    def announce(self, text: str) -> None:
        """Tell every player of every world now (the store cannot save, ...)."""
        for realm in self.realms.values():
            for pid in list(realm.presence.links):
                realm.delivery.send_now(pid, Text(text))

    # -- running ----------------------------------------------------------------------

    async def run_realm(self, realm: Realm) -> None:
        """What runs for ``realm`` beside the loop, until it is suspended,
        deleted or the server stops."""
        with trio.CancelScope() as scope:
            running = self._running[realm.name] = _Running(scope)
            try:
                async with trio.open_nursery() as nursery:
                    realm.players.nursery = realm.players.nursery or self.nursery
                    nursery.start_soon(realm.players.reap_loop)
                    nursery.start_soon(realm.rooms.run)
                    if realm.settings.port is not None:
                        running.port = await nursery.start(self._serve_port, realm)
            finally:
                if self._running.get(realm.name) is running:
                    del self._running[realm.name]

    async def _serve_port(self, realm: Realm, *, task_status: trio.TaskStatus[int]) -> None:
        port = realm.settings.port
        assert port is not None
        try:
            await serve_telnet(
                _WorldGate(realm), self.telnet_host, port, mssp_info=realm.mssp,
                config=self.telnet_config, admission=self.admission, task_status=task_status,
            )  # fmt: skip
        except OSError as exc:
            # A port of a world's own that cannot be opened must not stop the server.
            log.error("%s: cannot listen on port %d: %s", realm.name, port, exc)
            task_status.started(0)

    def start(self, realm: Realm) -> None:
        """Serve ``realm``: its events in the loop, its side tasks."""
        self.loop.add(realm.tenant)
        realm.tenant.has_work.set()
        if self.nursery is not None and realm.name not in self._running:
            self.nursery.start_soon(self.run_realm, realm)

    def _stop(self, realm: Realm) -> None:
        self.loop.remove(realm.tenant)
        running = self._running.pop(realm.name, None)
        if running is not None:
            running.scope.cancel()

    def port_of(self, name: str) -> int | None:
        running = self._running.get(name)
        return running.port if running is not None else None

    # -- the shared port and the web ---------------------------------------------------

    def connect(self, session: Session) -> SessionHandler:
        """A connection on the shared port: the default world's login
        screen, from which ``world <name>`` goes to another."""
        return _Front(self, session)

    def route(self, name: str) -> _WorldGate | None:
        """The web's ``/t/<name>/``: that world's gateway, if it is open."""
        realm = self.open_realm_for(name)
        return _WorldGate(realm) if realm is not None else None

    def sessions(self) -> int:
        return sum(len(r.players.connections) for r in self.realms.values())

    def shutdown(self) -> int:
        """Tell every session of every world that the server stops."""
        return sum(realm.players.shutdown() for realm in self.realms.values())

    async def wait_closed(self, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while any(r.players.connections for r in self.realms.values()):
                await trio.sleep(0.02)
        return not any(r.players.connections for r in self.realms.values())

    # -- persistence ------------------------------------------------------------------

    def _save(self, realm: Realm) -> None:
        """Write the tenant's row (settings, quotas) with the next commit."""
        realm.tenant.changes.counters = True
        if self.persistence is not None:
            self.persistence.save_now(realm.tenant)

    # -- Control: tenants -------------------------------------------------------------

    def tenants(self) -> list[TenantInfo]:
        return [self._info(realm) for _, realm in sorted(self.realms.items())]

    def tenant(self, name: str) -> TenantInfo:
        return self._info(self.get(name))

    def _info(self, realm: Realm) -> TenantInfo:
        s = realm.settings
        return TenantInfo(
            name=realm.name,
            state=TenantState.SUSPENDED if s.suspended is not None else TenantState.ACTIVE,
            title=s.title, start_room=s.start_room, port=s.port, created_at=s.created_at,
            players_online=len(realm.presence.online()),
            objects=len(realm.tenant.graph),
            blueprints=len(realm.tenant.blueprints.by_path),
            suspended_reason=s.suspended,
        )  # fmt: skip

    async def create_tenant(
        self, name: str, *, title: str | None = None, start_room: str | None = None,
        port: int | None = None, quotas: dict[str, float] | None = None,
    ) -> TenantInfo:  # fmt: skip
        check_tenant_name(name)
        if name in self.realms:
            raise TenantExists(name)
        limits = quota_names.with_changes(Quotas(), quotas or {})
        if port is not None and not 0 < port < 65536:
            raise BadRequest(f"port {port} is out of range")
        if port is not None and any(r.settings.port == port for r in self.realms.values()):
            raise BadRequest(f"port {port} is another world's")
        settings = WorldSettings(
            title=(title or name.capitalize())[:80],
            start_room=ids.normalize_blueprint(start_room or "/rooms/start"),
            port=port, created_at=time.time(),
        )  # fmt: skip
        realm = self._new_realm(name, settings, limits)
        self._save(realm)
        self.start(realm)
        oplog.event(oplog.TENANT_CREATED, name, title=settings.title, port=port)
        return self._info(realm)

    async def suspend_tenant(self, name: str, reason: str = "") -> TenantInfo:
        realm = self.get(name)
        if realm.settings.suspended is None:
            realm.settings.suspended = reason
            why = f" ({ansi.escape(reason)})" if reason else ""
            realm.players.shutdown(
                SUSPENDED_NOTICE.replace("{title}", ansi.escape(realm.title)).replace("{why}", why)
            )
            self._stop(realm)
            self._save(realm)
            oplog.event(oplog.TENANT_SUSPENDED, name, reason=reason)
        return self._info(realm)

    async def resume_tenant(self, name: str) -> TenantInfo:
        realm = self.get(name)
        if realm.settings.suspended is not None:
            realm.settings.suspended = None
            self._save(realm)
            self.start(realm)
            oplog.event(oplog.TENANT_RESUMED, name)
        return self._info(realm)

    async def delete_tenant(self, name: str) -> None:
        realm = self.get(name)
        if name == self.config.tenant:
            raise BadRequest(f"{name} is the server's default world; it cannot be deleted")
        realm.players.shutdown("{bold yellow}This world has been deleted. Goodbye.{/}\n")
        self._stop(realm)
        del self.realms[name]
        for version in {o.version for o in realm.tenant.graph.objects.values() if o.version}:
            self.runtime.release(version)
        if self.persistence is not None:
            self.persistence.purge(name)
        oplog.event(oplog.TENANT_DELETED, name)

    # -- Control: quotas --------------------------------------------------------------

    def quotas(self, name: str) -> dict[str, float]:
        return quota_names.as_flat(self.get(name).tenant.quotas)

    def set_quotas(self, name: str, changes: dict[str, float]) -> dict[str, float]:
        realm = self.get(name)
        realm.tenant.set_quotas(quota_names.with_changes(realm.tenant.quotas, changes))
        self._save(realm)
        oplog.event(oplog.QUOTA_CHANGE, name, changes=dict(changes))
        return self.quotas(name)

    # -- Control: publishing -------------------------------------------------------------

    async def publish(
        self, name: str, path: str, data: bytes, *, stage: bool = False, canary: int = 0
    ) -> PublishResult:
        realm = self._open(name)
        result = await realm.tenant.publish_version(
            ids.normalize_blueprint(path), data, stage=stage, canary=canary
        )
        oplog.event(
            oplog.PUBLISH, name, path=result.path, version=result.version[:12],
            activated=result.activated, staged=result.staged,
            canary_failures=len(result.canary_failures),
        )  # fmt: skip
        return result

    def versions(self, name: str, path: str) -> BlueprintVersions:
        return self.get(name).tenant.versions(ids.normalize_blueprint(path))

    def blueprints(self, name: str) -> list[BlueprintVersions]:
        return self.get(name).tenant.all_versions()

    async def activate(self, name: str, path: str, version: str | None = None) -> PublishResult:
        realm = self._open(name)
        result = await realm.tenant.activate(ids.normalize_blueprint(path), version)
        oplog.event(oplog.PUBLISH, name, path=result.path, version=result.version[:12],
                    activated=result.activated, rollback=True)  # fmt: skip
        return result

    def _open(self, name: str) -> Realm:
        """A tenant whose code may change now: not suspended (its loop is
        stopped, so nothing would run the new version's hooks)."""
        realm = self.get(name)
        if realm.settings.suspended is not None:
            raise BadRequest(f"{name} is suspended: resume it first")
        return realm

    # -- Control: observing ----------------------------------------------------------------

    def usage(self, name: str) -> Usage:
        realm = self.get(name)
        return realm.tenant.usage(
            connections=len(realm.players.connections), players_online=len(realm.presence.online())
        )

    def errors(self, name: str, limit: int = 100) -> list[ErrorInfo]:
        return self.get(name).tenant.error_infos(limit)

    def logs(
        self,
        name: str,
        limit: int = 100,
        *,
        blueprint: str | None = None,
        level: str | None = None,
        since: float | None = None,
    ) -> list[LogLine]:
        return self.get(name).tenant.log_lines(limit, blueprint=blueprint, level=level, since=since)

    def quarantines(self, name: str) -> list[QuarantineInfo]:
        return self.get(name).tenant.quarantine_infos()

    def release(self, name: str, target: str) -> list[QuarantineInfo]:
        tenant = self.get(name).tenant
        if not recovery.release(tenant, target):
            raise BadRequest(f"{target} is not quarantined in {name}")
        return tenant.quarantine_infos()

    # -- Control: roles -----------------------------------------------------------------

    def set_wizard(self, name: str, account: str, wizard: bool) -> None:
        realm = self.get(name)
        if not realm.players.moderation.set_wizard(account, wizard, by="the admin API"):
            raise AccountNotFound(account)

    # -- Control: the server --------------------------------------------------------------

    def figures(self) -> ServerFigures:
        p = self.persistence
        return ServerFigures(
            sessions=self.sessions(),
            events_run=sum(r.tenant.events_run for r in self.realms.values()),
            commits=p.commits if p is not None else 0,
            commit_seconds_total=p.commit_seconds if p is not None else 0.0,
            commit_last_seconds=p.last_commit_seconds if p is not None else 0.0,
            uptime_seconds=time.time() - self.started_at,
            tenants=[self.usage(name) for name in sorted(self.realms)],
        )


class _WorldGate:
    """One world's gateway as a listener sees it: a world at its
    connection quota, or suspended, turns newcomers away."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm

    def connect(self, session: Session) -> SessionHandler:
        refusal = refuse(self.realm)
        if refusal is not None:
            session.send_text(refusal)
            session.close("refused")
            return _Closed()
        return self.realm.players.connect(session)


def refuse(realm: Realm) -> str | None:
    """Why ``realm`` takes no new connection now (None: it does)."""
    if realm.settings.suspended is not None:
        return f"{ansi.escape(realm.title)} is suspended. Try again later.\n"
    if len(realm.players.connections) >= realm.tenant.quotas.max_connections:
        return f"{ansi.escape(realm.title)} is full right now. Try again in a little while.\n"
    return None


class _Closed:
    """The handler of a session turned away at the door."""

    def on_line(self, text: str) -> None:
        pass

    def on_gmcp(self, package: str, data: Any) -> None:
        pass

    def on_disconnect(self, reason: str) -> None:
        pass


class _Front:
    """A shared-port connection: a world's login screen, and ``world
    <name>`` to move to another world's before logging in."""

    # One per connection on the shared port, for as long as it stays: no __dict__.
    __slots__ = ("worlds", "session", "inner")

    def __init__(self, worlds: Worlds, session: Session) -> None:
        self.worlds = worlds
        self.session = session
        others = sorted(
            n
            for n, r in worlds.realms.items()
            if r is not worlds.default and r.settings.suspended is None
        )
        if others:
            session.send_text(
                "{dim}Other worlds here: " + ", ".join(others)
                + ". Type {bold}world <name>{/}{dim} to go to one.{/}\n"
            )  # fmt: skip
        self.inner: Any = _WorldGate(worlds.default).connect(session)

    def on_line(self, text: str) -> None:
        words = text.split()
        inner = self.inner
        if len(words) == 2 and words[0].lower() == "world" and getattr(inner, "at_login", False):
            self._go(words[1].lower())
            return
        inner.on_line(text)

    def _go(self, name: str) -> None:
        realm = self.worlds.open_realm_for(name)
        if realm is None:
            self.session.send_text(
                f"There is no open world called {ansi.escape(name[:40])} here.\n"
            )
            self.inner.on_line("")  # the login screen asks again
            return
        refusal = refuse(realm)
        if refusal is not None:
            self.session.send_text(refusal)
            self.inner.on_line("")
            return
        self.inner.detach()
        self.inner = realm.players.connect(self.session)

    def on_gmcp(self, package: str, data: Any) -> None:
        self.inner.on_gmcp(package, data)

    def on_event(self, name: str, payload: Any) -> None:
        handler = getattr(self.inner, "on_event", None)
        if handler is not None:
            handler(name, payload)

    def on_disconnect(self, reason: str) -> None:
        self.inner.on_disconnect(reason)


# -- opening a server's worlds ------------------------------------------------------------


async def open_worlds(config: RealmConfig, runtime: Runtime) -> tuple[Worlds, Persistence]:
    """Open the store under ``config.data_dir`` and restore every tenant it
    holds; on first start, create the default tenant. The default tenant is
    then built from its sources and published on top (the build decides
    which version each blueprint runs; objects keep their state).

    Raises :class:`driver.store.StoreError` for a data directory that
    cannot be used (newer schema, locked, corrupt).
    """
    store = SqliteStore(config.data_dir)
    try:
        snapshot = store.load()
        worlds = Worlds(config, runtime, store=store)
        persistence = Persistence(store, worlds.loop)
        worlds.persistence = persistence
        rows = {row.name: row for row in snapshot.tenants}
        if config.tenant not in rows:
            settings = read_world_settings(config.world_dir)
            settings.created_at = time.time()
            worlds._new_realm(config.tenant, settings, config.quotas)
        for name, row in sorted(rows.items()):
            settings = WorldSettings.from_plain(row.settings)
            if name == config.tenant:
                # The default world's title and start room are its world.json's.
                source = read_world_settings(config.world_dir)
                settings.title, settings.start_room = source.title, source.start_room
                settings.created_at = settings.created_at or time.time()
            realm = worlds._new_realm(name, settings, quota_names.from_flat(row.quotas))
        for realm in worlds.realms.values():
            await restore_realm(realm, snapshot)
        default = worlds.realms[config.tenant]
        for err in await default.build():
            print(f"build error: {err}", file=sys.stderr)
        for problem in await default.publish_all():
            print(f"refused: {problem}", file=sys.stderr)
        for realm in worlds.realms.values():
            if realm.name not in rows:
                persistence.save_all(realm.tenant)  # a new world: write it all once
            if realm.settings.suspended is None:
                worlds.loop.add(realm.tenant)
    except BaseException:
        store.close()
        raise
    return worlds, persistence

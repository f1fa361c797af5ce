"""Shared helpers for driver tests: a built test world, a fake clock, and
fake outputs/sessions that record what players would see; a realm with a
wizard, and players logged in to it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from driver.app import Realm, RealmConfig
from driver.auth.accounts import Backoff, LoginThrottle, ScryptParams, hash_password, new_account
from driver.net import ansi
from driver.net.session import ClientInfo, Session
from driver.runtimes import Runtime
from driver.runtimes.inproc import InprocRuntime
from driver.store.accounts import AccountStore, MemoryAccountStore
from driver.tenancy.tenant import Event, Quotas, Tenant
from sandbox.build import manifest as build_manifest
from sandbox.build import worldbuild
from sandbox.runtime.host import Sandbox

ROOT = Path(__file__).resolve().parent.parent
WIT = ROOT / "wit"
BASIC_WORLD = Path(__file__).resolve().parent / "worlds" / "basic"
DEMO_WORLD = ROOT / "world-src"  # Thornwick, the demo world
CHEAP = ScryptParams(n=16, r=1, p=1)  # password hashing fast enough for tests


def copy_world(src: Path, dest: Path) -> Path:
    """Copy a test world (following the SDK symlink) so a test may edit it."""
    shutil.copytree(src, dest, symlinks=False)
    return dest


def build(world: Path, build_dir: Path) -> worldbuild.BuildResult:
    result = worldbuild.build_world(world, build_dir, wit_dir=WIT, progress=None)
    assert result.ok, {k: str(v) for k, v in result.failed.items()}
    return result


async def publish(tenant: Tenant, world: Path, build_dir: Path) -> None:
    for path, entry in build_manifest.load(build_dir).items():
        if entry.component:
            await tenant.blueprints.publish(
                path, (build_dir / entry.component).read_bytes(), source=world / entry.source
            )


def event(fn: Callable[[], object]) -> Event:
    """An event (async, as a tenant runs them) that calls the plain ``fn``."""

    async def run() -> None:
        fn()

    return run


class FakeClock:
    """A clock that only moves when told: a tenant's (milliseconds; the
    default start) or a login throttle's (seconds)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, by: float) -> None:
        self.now += by


class RecordingOutput:
    """A tenant Output that keeps what each player would have seen."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.moves: list[str] = []

    def text(self, player_id: str, text: str) -> None:
        self.texts.setdefault(player_id, []).append(ansi.strip(text))

    def room_changed(self, player_id: str) -> None:
        self.moves.append(player_id)

    def gmcp(self, player_id: str, package: str, data: Any) -> None:
        self.texts.setdefault(player_id, []).append(f"[gmcp {package} {data!r}]")

    def release(self, outbox: list) -> None:
        raise AssertionError("RecordingOutput sends at once; nothing is ever held")

    def seen(self, player_id: str) -> str:
        return "".join(self.texts.get(player_id, []))


def as_runtime(runtime: Runtime | Sandbox) -> Runtime:
    """A test's runtime: a backend fixture's, or the session sandbox in process."""
    return InprocRuntime(runtime) if isinstance(runtime, Sandbox) else runtime


async def make_tenant(runtime: Runtime | Sandbox, world: Path, build_dir: Path, **quota_overrides: Any) -> tuple[Tenant, RecordingOutput, FakeClock]:
    output = RecordingOutput()
    clock = FakeClock()
    tenant = Tenant("test", as_runtime(runtime), output, quotas=Quotas(**quota_overrides), clock=clock)
    await publish(tenant, world, build_dir)
    return tenant, output, clock


async def drain(tenant: Tenant, rounds: int = 100) -> None:
    """Run every queued event (bounded)."""
    for _ in range(rounds):
        if not tenant.busy:
            return
        await tenant.run_turn(budget_ms=1000)
    raise AssertionError("tenant still busy after draining")


class FakeSession(Session):
    """A Session that records output instead of writing to a socket."""

    def __init__(self, peer: str = "127.0.0.1:5555") -> None:
        self.info = ClientInfo(transport="test", peer=peer, gmcp=True, gmcp_packages={"room", "char"})
        self.out: list[str] = []
        self.gmcp: list[tuple[str, Any]] = []
        self.closed: str | None = None
        self.echo = True

    def send_text(self, text: str) -> None:
        self.out.append(ansi.strip(text))

    def send_prompt(self, text: str) -> None:
        self.out.append(text)

    def send_gmcp(self, package: str, data: Any) -> None:
        if self.wants_gmcp(package):
            self.gmcp.append((package, data))

    def set_echo(self, on: bool) -> None:
        self.echo = on

    def close(self, reason: str = "") -> None:
        self.closed = reason

    def text(self) -> str:
        return "".join(self.out)


class TelnetClient:
    """A plain, dumb telnet client over a real socket: it refuses nothing and
    agrees to nothing, strips telnet commands and ANSI from what it reads,
    and waits for expected text (bounded in time)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.seen = ""
        self._raw = bytearray()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> TelnetClient:
        return cls(await trio.open_tcp_stream(host, port))

    @classmethod
    async def log_in(cls, port: int, line: str, until: str = "Obvious exits", timeout: float = 10.0) -> TelnetClient:
        """Connect and, at the name prompt, type the one-line login ``line``
        (``create ann secret99``); back once ``until`` has been seen."""
        client = await cls.connect(port)
        await client.expect("What is your name?")
        await client.command(line, until, timeout)
        return client

    def _absorb(self, data: bytes) -> None:
        import re

        self._raw += data
        out = bytearray()
        raw = self._raw
        i = 0
        while i < len(raw):
            b = raw[i]
            if b != 255:
                out.append(b)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # an IAC split across reads
            cmd = raw[i + 1]
            if cmd == 255:
                out.append(255)
                i += 2
            elif cmd == 250:  # SB ... IAC SE
                end = raw.find(b"\xff\xf0", i)
                if end < 0:
                    break
                i = end + 2
            elif cmd in (251, 252, 253, 254):
                if i + 2 >= len(raw):
                    break
                i += 3
            else:
                i += 2
        del raw[:i]
        text = out.decode("utf-8", "replace").replace("\r", "")
        self.seen += re.sub(r"\x1b\[[0-9;]*m", "", text)

    async def expect(self, needle: str, timeout: float = 10.0) -> str:
        """Read until ``needle`` has appeared; return everything seen so far
        and forget it, so the next expect looks only at newer text."""
        with trio.fail_after(timeout):
            while needle not in self.seen:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError(f"closed before {needle!r}; saw {self.seen[-300:]!r}")
                self._absorb(data)
        seen, self.seen = self.seen, self.seen[self.seen.index(needle) + len(needle):]
        return seen

    async def send(self, line: str) -> None:
        await self.stream.send_all(line.encode() + b"\r\n")

    async def command(self, line: str, needle: str, timeout: float = 10.0) -> str:
        await self.send(line)
        return await self.expect(needle, timeout)

    async def close(self) -> None:
        await self.stream.aclose()


def make_throttle(clock: FakeClock, **kwargs: Any) -> LoginThrottle:
    """A login throttle on ``clock`` (seconds): an account is locked after 3
    failures, an address after 5 (2 s and 1 s, doubling, at most a minute)."""
    return LoginThrottle(
        clock=clock,
        account_policy=Backoff(free=3, base=2.0, cap=60.0),
        address_policy=Backoff(free=5, base=1.0, cap=60.0),
        **kwargs,
    )


def add_wizard(accounts: AccountStore) -> None:
    """The wizard ``admin``, password ``wizardly``."""
    accounts.create(new_account("admin", hash_password("wizardly", CHEAP), is_wizard=True))


async def make_realm(runtime: Runtime | Sandbox, world: Path, build_dir: Path, **config: Any) -> Realm:
    """A Realm over a built test world (every blueprint published), with
    accounts in memory: only the wizard so far. ``config``: more RealmConfig."""
    accounts = MemoryAccountStore()
    add_wizard(accounts)
    realm = Realm(
        RealmConfig(world_dir=world, build_dir=build_dir, kdf_params=CHEAP, **config),
        runtime=as_runtime(runtime),
        accounts=accounts,
    )
    assert await realm.publish_all() == []
    return realm


@asynccontextmanager
async def running(realm: Realm) -> AsyncIterator[trio.Nursery]:
    """The realm's event loop runs (no network) until the block ends."""
    async with trio.open_nursery() as nursery:
        realm.players.nursery = nursery
        nursery.start_soon(realm.loop.run)
        yield nursery
        nursery.cancel_scope.cancel()


async def wait_for(session: FakeSession, needle: str, timeout: float = 5.0) -> str:
    """Wait (bounded) until ``needle`` is in what ``session`` was sent; return all of it."""
    with trio.fail_after(timeout):
        while needle not in session.text():
            await trio.sleep(0.005)
    return session.text()


async def login(realm: Realm, line: str, peer: str = "127.0.0.1:1") -> tuple[FakeSession, Any]:
    """A FakeSession that connects and types the one-line login ``line``; back once it stands in a room."""
    session = FakeSession(peer)
    handler = realm.players.connect(session)
    handler.on_line(line)
    await wait_for(session, "Obvious exits")
    return session, handler


async def send(session: FakeSession, handler: Any, line: str, expect: str, timeout: float = 5.0) -> str:
    """Type ``line``; return what the session was sent from then on, once it shows ``expect``."""
    session.out.clear()
    handler.on_line(line)
    return await wait_for(session, expect, timeout)

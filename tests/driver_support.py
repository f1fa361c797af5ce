"""Shared helpers for driver tests: a built test world, a fake clock, and
fake outputs/sessions that record what players would see."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from driver.net import ansi
from driver.net.session import ClientInfo, Session
from driver.tenant import Quotas, Tenant
from sandbox import build_manifest, worldbuild
from sandbox.host import Sandbox

ROOT = Path(__file__).resolve().parent.parent
WIT = ROOT / "wit"
BASIC_WORLD = Path(__file__).resolve().parent / "worlds" / "basic"


def copy_world(src: Path, dest: Path) -> Path:
    """Copy a test world (following the SDK symlink) so a test may edit it."""
    shutil.copytree(src, dest, symlinks=False)
    return dest


def build(world: Path, build_dir: Path) -> worldbuild.BuildResult:
    result = worldbuild.build_world(world, build_dir, wit_dir=WIT, progress=None)
    assert result.ok, {k: str(v) for k, v in result.failed.items()}
    return result


def publish(tenant: Tenant, world: Path, build_dir: Path) -> None:
    for path, entry in build_manifest.load(build_dir).items():
        if entry.component:
            tenant.blueprints.publish(
                path, (build_dir / entry.component).read_bytes(), source=world / entry.source
            )


class FakeClock:
    """A tenant clock (milliseconds) that only moves when told."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms


class RecordingOutput:
    """A tenant Output that keeps what each player would have seen."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.moves: list[str] = []

    def text(self, player_id: str, text: str) -> None:
        self.texts.setdefault(player_id, []).append(ansi.strip(text))

    def room_changed(self, player_id: str) -> None:
        self.moves.append(player_id)

    def release(self, outbox: list) -> None:
        raise AssertionError("RecordingOutput sends at once; nothing is ever held")

    def seen(self, player_id: str) -> str:
        return "".join(self.texts.get(player_id, []))


def make_tenant(sandbox: Sandbox, world: Path, build_dir: Path, **quota_overrides: Any) -> tuple[Tenant, RecordingOutput, FakeClock]:
    output = RecordingOutput()
    clock = FakeClock()
    tenant = Tenant("test", sandbox, output, quotas=Quotas(**quota_overrides), clock=clock)
    publish(tenant, world, build_dir)
    return tenant, output, clock


def drain(tenant: Tenant, rounds: int = 100) -> None:
    """Run every queued event (bounded)."""
    for _ in range(rounds):
        if not tenant.busy:
            return
        tenant.run_turn(budget_ms=1000)
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

"""SIGKILL in the middle of a stream of changes: nothing acknowledged is lost.

The real server runs in a subprocess on a real data directory. Several
players stream state-changing commands (`count <n>`, answered with
`counted <n>` once the change is durable); the server is killed with SIGKILL
at a random moment; after a restart every player's remembered number must be
at least the last one they were told about. Twenty kills, at random points.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from ..driver_support import BASIC_WORLD, ROOT, TelnetClient

KILLS = 20
PLAYERS = ("ann", "bob", "cyd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`jitrealm run` in a subprocess over the basic test world."""

    def __init__(self, data: Path, build_dir: Path, sandbox: str = "inproc", *extra: str) -> None:
        self.data, self.build_dir = data, build_dir
        self.sandbox, self.extra = sandbox, extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    async def start(self) -> None:
        self.port = free_port()
        env = dict(os.environ, JITREALM_ADMIN_PASSWORD="wizardly", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driver.cli", "run", "--admin", "off", "--data", str(self.data), "--world", str(BASIC_WORLD),
             "--build", str(self.build_dir), "--telnet", f"127.0.0.1:{self.port}", "--http", f"127.0.0.1:{free_port()}",
             "--sandbox", self.sandbox, *self.extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        said: list[bytes] = []
        with trio.fail_after(60):
            while True:
                line = await trio.to_thread.run_sync(self.proc.stdout.readline)
                if not line:
                    tail = b"".join(said[-10:]).decode(errors="replace")
                    raise AssertionError(f"server exited with {self.proc.wait()}:\n{tail}")
                said.append(line)
                if b" is up:" in line:
                    break
        # Drain the rest of its output so the pipe never fills.
        trio.lowlevel.spawn_system_task(trio.to_thread.run_sync, self.proc.stdout.read)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


async def login(port: int, name: str, first: bool) -> TelnetClient:
    verb = "create" if first else "connect"
    return await TelnetClient.log_in(port, f"{verb} {name} secret99", until="> ", timeout=20)


async def stream(client: TelnetClient, start: int, acked: dict[str, int], name: str) -> None:
    """Send count start, start+1, ... and note every acknowledgement."""
    n = start
    pending: list[int] = []
    while True:
        n += 1
        pending.append(n)
        await client.send(f"count {n}")
        while len(pending) > 5:  # keep a few in flight
            await client.expect(f"counted {pending[0]}")
            acked[name] = pending.pop(0)


@pytest.mark.parametrize("sandbox", ["inproc", "workers"])
async def test_sigkill_under_load_loses_nothing_acknowledged(basic_build, tmp_path, sandbox):
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    server = Server(tmp_path / "var", basic_build, sandbox)
    acked = dict.fromkeys(PLAYERS, 0)
    try:
        for kill in range(KILLS):
            await server.start()
            clients = {name: await login(server.port, name, first=(kill == 0)) for name in PLAYERS}
            if kill:
                for name, client in clients.items():
                    seen = await client.command("recall", "recalled ")
                    seen = await client.expect("\n")
                    remembered = int(seen.split()[0]) if seen.split() else -1
                    assert remembered >= acked[name], (kill, name, remembered, acked[name])
                    acked[name] = remembered
            async with trio.open_nursery() as nursery:
                for name, client in clients.items():
                    nursery.start_soon(stream, client, acked[name], acked, name)
                await trio.sleep(rng.uniform(0.05, 1.0))
                server.kill()  # the middle of the stream, at a random point
                nursery.cancel_scope.cancel()
            for client in clients.values():
                with trio.move_on_after(1):
                    await client.close()
        await server.start()
        for name in PLAYERS:
            client = await login(server.port, name, first=False)
            await client.command("recall", "recalled ")
            seen = await client.expect("\n")
            assert int(seen.split()[0]) >= acked[name]
            await client.close()
        assert all(n > 0 for n in acked.values())
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()

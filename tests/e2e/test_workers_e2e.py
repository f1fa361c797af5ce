"""The server with its sandbox in worker processes, end to end over telnet.

`jitrealm run --sandbox workers` runs in a subprocess. The driver process
maps no wasmtime (its workers do); a worker SIGKILLed in the middle of a
stream of commands costs each player at most one failed command, nobody is
disconnected, and nothing acknowledged is lost, then or after a restart.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import trio

from ..driver_support import TelnetClient
from .test_crash import Server, login

PLAYERS = ("ann", "bob", "cyd")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def maps_wasmtime(pid: int) -> bool:
    return "wasmtime" in Path(f"/proc/{pid}/maps").read_text()


async def stream(client: TelnetClient, name: str, acked: dict[str, int], failed: dict[str, int],
                 stop: trio.Event) -> None:
    """`count n`, one at a time: each is acknowledged or reported failed."""
    n = acked[name]
    while not stop.is_set():
        await trio.sleep(0.15)  # as a player types: under the input rate limit
        n += 1
        await client.send(f"count {n}")
        with trio.move_on_after(20) as timer:
            while True:
                if f"counted {n}" in client.seen:
                    acked[name] = n
                    await client.expect(f"counted {n}")
                    break
                if "went wrong" in client.seen:
                    failed[name] += 1
                    await client.expect("went wrong")
                    break
                data = await client.stream.receive_some(65536)
                if not data:
                    raise EOFError(f"{name} was disconnected")
                client._absorb(data)  # noqa: SLF001
        if timer.cancelled_caught:
            raise AssertionError(f"{name}: no answer to count {n}; saw {client.seen[-400:]!r}")


async def test_a_killed_worker_costs_at_most_one_command_each(basic_build, tmp_path):
    server = Server(tmp_path / "var", basic_build, "workers", "--workers", "2")
    acked = dict.fromkeys(PLAYERS, 0)
    failed = dict.fromkeys(PLAYERS, 0)
    try:
        await server.start()
        assert server.proc is not None
        driver = server.proc.pid
        clients = {name: await login(server.port, name, first=True) for name in PLAYERS}
        workers = children(driver)
        assert workers, "the server started no worker processes"
        assert not maps_wasmtime(driver), "the driver process maps wasmtime"
        assert any(maps_wasmtime(w) for w in workers), "no worker maps wasmtime"
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            for name, client in clients.items():
                nursery.start_soon(stream, client, name, acked, failed, stop)
            await trio.sleep(1.0)
            before = dict(acked)
            for worker in children(driver):
                os.kill(worker, signal.SIGKILL)  # every worker, mid-stream
            await trio.sleep(2.0)
            stop.set()
        assert all(n <= 1 for n in failed.values()), failed
        assert all(acked[p] > before[p] for p in PLAYERS), (before, acked)  # they carried on
        assert not maps_wasmtime(driver)
        for name, client in clients.items():
            await client.command("recall", "recalled ")
            seen = await client.expect("\n")
            assert int(seen.split()[0]) == acked[name]
            await client.close()
        server.kill()
        await server.start()
        for name in PLAYERS:
            client = await login(server.port, name, first=False)
            await client.command("recall", "recalled ")
            seen = await client.expect("\n")
            assert int(seen.split()[0]) == acked[name]
            await client.close()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()

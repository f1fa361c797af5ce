"""The server: a realm's loop, persistence and listeners, run together.

:func:`serve` is what `jitrealm run` runs, and what the end-to-end tests and
benchmarks start on free ports.
"""

from __future__ import annotations

import gc
import sys

import trio

from driver.app import Realm
from driver.net.telnet_server import TelnetConfig, serve_telnet
from driver.persistence.commit import Persistence
from driver.watch import watch_sources


async def serve(realm: Realm, telnet: tuple[str, int], http: tuple[str, int], *, watch: bool = False,
                telnet_config: TelnetConfig | None = None, persistence: Persistence | None = None,
                task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the realm's loop and its listeners until cancelled.

    Reports the bound (telnet, http) ports, so tests can pass port 0.
    """
    from driver.net.web import serve_web

    _tune_gc()
    async with trio.open_nursery() as nursery:
        realm.players.nursery = nursery
        if persistence is not None:
            nursery.start_soon(persistence.run)
            nursery.start_soon(persistence.keep_alive)
        nursery.start_soon(realm.loop.run)
        nursery.start_soon(realm.players.reap_loop)
        nursery.start_soon(_sweep_loop, realm)
        telnet_port = await nursery.start(
            lambda task_status: serve_telnet(
                realm.players, telnet[0], telnet[1], mssp_info=realm.mssp, config=telnet_config, task_status=task_status
            )
        )
        http_port = await nursery.start(
            lambda task_status: serve_web(realm.players, http[0], http[1], task_status=task_status)
        )
        realm.config.telnet_port = telnet_port
        if watch:
            def notify(message: str) -> None:
                print(message, file=sys.stderr, flush=True)
                for pid in list(realm.players.links):
                    if realm.players.is_wizard(pid):
                        realm.players.text(pid, message + "\n")
            nursery.start_soon(watch_sources(realm, notify))
        task_status.started((telnet_port, http_port))


async def _sweep_loop(realm: Realm, every: float = 10.0, idle_seconds: float = 60.0) -> None:
    """Give memory back: instances idle for a minute are dropped."""
    while True:
        await trio.sleep(every)
        realm.runtime.sweep(idle_seconds)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector from stalling the game.

    Every session's in-flight read lives about as long as a player's pause
    between commands, long enough to reach the old generation; with
    thousands of sessions Python's default thresholds then run a full
    collection every couple of seconds, each walking hundreds of thousands
    of objects (~300 ms measured by bench/net.py). The world loaded at
    start-up is frozen out of collections, and the thresholds are raised:
    the server makes almost no cyclic garbage (36 objects in a 20 s run),
    so this costs no memory, and p99 latency drops from ~500 ms to ~9 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 1000)



"""The server: a realm's loop, persistence and listeners, run together.

:func:`serve` is what `jitrealm run` runs, and what the end-to-end tests and
benchmarks start on free ports.
"""

from __future__ import annotations

import errno
import gc
import os
import socket
import sys

import trio

from driver.app import Realm
from driver.net.admission import Admission
from driver.net.telnet_server import TelnetConfig, serve_telnet
from driver.persistence.commit import Persistence
from driver.runtimes import Runtime
from driver.watch import watch_sources
from driver.worlds import Worlds


class CannotListen(Exception):
    """A listener could not be opened (the port is taken, the address is not
    this machine's, ...): a one-line reason for the operator, no traceback."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        shown = f"[{host}]" if ":" in host else host
        if error.errno == errno.EADDRINUSE:
            reason = "address already in use"
        elif isinstance(error, socket.gaierror) or not error.errno or error.errno < 0:
            reason = str(error.strerror or error)  # a name that does not resolve, say
        else:
            reason = os.strerror(error.errno)
        reason = reason[:1].lower() + reason[1:]
        super().__init__(f"cannot listen on {shown}:{port}: {reason}")
        self.host, self.port, self.error = host, port, error


async def serve(target: Realm | Worlds, telnet: tuple[str, int], http: tuple[str, int], *,
                watch: bool = False, telnet_config: TelnetConfig | None = None,
                persistence: Persistence | None = None, admin: tuple[str, int] | None = None,
                task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the worlds' loop and listeners until cancelled: one realm made on
    its own (tests, tools) or a server's worlds (:func:`driver.worlds.open_worlds`).

    Reports the bound (telnet, http) ports, so tests can pass port 0; with
    ``admin``, the admin API listens there too (its port: ``worlds.admin_port``;
    its tokens are the store's).
    Raises :class:`CannotListen` (inside an exception group, as trio
    reports a nursery's failure) when a listener cannot be opened.
    """
    from driver.net.web import serve_web

    worlds = target if isinstance(target, Worlds) else Worlds.of(target, persistence)
    persistence = persistence or worlds.persistence
    _tune_gc()
    async with trio.open_nursery() as nursery:
        worlds.nursery = nursery
        worlds.telnet_host, worlds.telnet_config = telnet[0], telnet_config
        for realm in worlds.realms.values():
            realm.players.nursery = nursery
        if persistence is not None:
            nursery.start_soon(persistence.run)
            nursery.start_soon(persistence.keep_alive)
        nursery.start_soon(worlds.loop.run)
        for realm in list(worlds.realms.values()):
            if realm.settings.suspended is None:
                nursery.start_soon(worlds.run_realm, realm)  # reaper, live rooms, own port
        nursery.start_soon(_sweep_loop, worlds.runtime)
        nursery.start_soon(_collect_after_floods, worlds.admission)
        # One admission for every listener: connections per address and
        # before login are counted across telnet and WebSocket together.
        admission = worlds.admission
        default = worlds.default
        try:
            telnet_port = await nursery.start(
                lambda task_status: serve_telnet(
                    worlds, telnet[0], telnet[1], mssp_info=default.mssp, config=telnet_config,
                    admission=admission, task_status=task_status,
                )
            )
        except OSError as exc:
            raise CannotListen(telnet[0], telnet[1], exc) from None
        try:
            http_port = await nursery.start(
                lambda task_status: serve_web(
                    worlds, http[0], http[1], admission=admission, route=worlds.route,
                    task_status=task_status,
                )
            )
        except OSError as exc:
            raise CannotListen(http[0], http[1], exc) from None
        default.config.telnet_port = telnet_port
        if admin is not None:
            from driver.admin.serve import run_admin

            if worlds.store is None:
                raise ValueError("the admin API needs a store for its tokens")
            store = worlds.store
            try:
                worlds.admin_port = await nursery.start(
                    lambda task_status: run_admin(
                        worlds, store, admin[0], admin[1], task_status=task_status
                    )
                )
            except OSError as exc:
                raise CannotListen(admin[0], admin[1], exc) from None
        if watch:
            def notify(message: str) -> None:
                print(message, file=sys.stderr, flush=True)
                for pid in list(default.players.links):
                    if default.players.is_wizard(pid):
                        default.players.text(pid, message + "\n")
            nursery.start_soon(watch_sources(default, notify))
        task_status.started((telnet_port, http_port))


#: Seconds the sessions get, when the server stops, to be told and to flush.
SHUTDOWN_GRACE = 5.0


async def stop(target: Realm | Worlds, grace: float = SHUTDOWN_GRACE) -> int:
    """Before the server stops: tell every session (telnet or WebSocket, at
    the login screen or playing, in every world) and close it, waiting up to
    ``grace`` seconds for them to flush. Without it a telnet client just
    sees the connection die. Returns how many sessions were told."""
    if isinstance(target, Worlds):
        told = target.shutdown()
        await target.wait_closed(grace)
        return told
    told = target.players.shutdown()
    await target.players.wait_closed(grace)
    return told


async def _sweep_loop(runtime: Runtime, every: float = 10.0, idle_seconds: float = 60.0) -> None:
    """Give memory back: instances idle for a minute are dropped."""
    while True:
        await trio.sleep(every)
        runtime.sweep(idle_seconds)


async def _collect_after_floods(
    admission: Admission, every: float = 10.0, flood: int = 1000
) -> None:
    """Give memory back after a flood of connections has closed.

    A closed connection's objects are freed at once (reference counting),
    but the allocator keeps the memory of a thousand of them as long as a
    few small objects parked on the interpreter's free lists sit among it;
    only a full collection empties those lists, and :func:`_tune_gc` makes
    full collections rare. Measured with 5,000 connections: RSS +58 MB
    while open, +49 MB after they closed, +25 MB after one collection. So
    once ``flood`` connections were admitted since the last look and most
    are gone again, collect once (a few ms to ~100 ms, rarely).
    """
    seen = admission.admitted
    while True:
        await trio.sleep(every)
        admitted = admission.admitted
        if admitted - seen >= flood and admission.open * 4 <= admitted - seen:
            gc.collect()
            seen = admitted
        elif admission.open == 0:
            seen = admitted  # quiet: start counting afresh


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



"""The `jitrealm` command: run the server, build the world, invoke a hook.

    jitrealm run [--data DIR] [--world DIR] [--telnet HOST:PORT] [--http HOST:PORT]
                 [--sandbox inproc] [--watch]
    jitrealm build [PATH...]
    jitrealm invoke COMPONENT HOOK [ARG...] [--self ID] [--state JSON] ...
    jitrealm dump --data DIR -o FILE
    jitrealm restore FILE --data DIR
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from driver.app import PROJECT_ROOT, Realm, RealmConfig, watch_sources
from driver.net.telnet_server import TelnetConfig, serve_telnet
from driver.persistence.commit import Persistence, restore
from driver.store import snapshot
from driver.store.errors import StoreError
from driver.store.sqlite import SqliteStore

log = logging.getLogger("jitrealm")


def parse_hostport(text: str, default_port: int) -> tuple[str, int]:
    """``127.0.0.1:4000``, ``[::1]:4000``, ``:4000``, ``localhost`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port = text, ""
    else:
        host, port = text, ""
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range in {text!r}")
    return host or "127.0.0.1", number


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jitrealm run", description="Start the JitRealm server.")
    p.add_argument("--data", type=Path, default=Path("var"), help="data directory (default ./var)")
    p.add_argument("--world", type=Path, default=PROJECT_ROOT / "world-src", help="world source directory")
    p.add_argument("--build", type=Path, default=PROJECT_ROOT / "build", help="build output directory")
    p.add_argument("--telnet", type=lambda s: parse_hostport(s, 4000), default=("127.0.0.1", 4000),
                   metavar="HOST:PORT", help="telnet listener (default 127.0.0.1:4000)")
    p.add_argument("--http", type=lambda s: parse_hostport(s, 4080), default=("127.0.0.1", 4080),
                   metavar="HOST:PORT", help="HTTP + WebSocket listener (default 127.0.0.1:4080)")
    p.add_argument("--sandbox", choices=["inproc"], default="inproc",
                   help="where guest code runs (inproc: in this process)")
    p.add_argument("--watch", action="store_true", help="rebuild and reload blueprints when their source changes")
    return p


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
        nursery.start_soon(realm.run_loop)
        nursery.start_soon(realm.reap_loop)
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


def open_realm(config: RealmConfig) -> tuple[Realm, Persistence]:
    """Open the store under ``config.data_dir``, restore the world it holds,
    then build and publish the world's sources on top (the build decides
    which version each blueprint runs; objects keep their state).

    Raises :class:`driver.store.StoreError` with a clear message for a data
    directory that cannot be used (newer schema, locked, corrupt).
    """
    store = SqliteStore(config.data_dir)
    try:
        snapshot = store.load()
        realm = Realm(config, accounts=store)
        persistence = Persistence(store, realm)
        for problem in restore(realm, snapshot):
            log.warning("restore: %s", problem)
        realm.tenant.committer = persistence
        for err in realm.build():
            print(f"build error: {err}", file=sys.stderr)
        for problem in realm.publish_all():
            print(f"refused: {problem}", file=sys.stderr)
        if not snapshot.tenants:
            persistence.save_all(realm.tenant)  # a new world: write it all once
    except BaseException:
        store.close()
        raise
    return realm, persistence


def cmd_run(argv: Sequence[str]) -> int:
    ns = _run_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from driver.auth.accounts import ensure_admin

    config = RealmConfig(world_dir=ns.world, build_dir=ns.build, data_dir=ns.data, telnet_port=ns.telnet[1])
    try:
        realm, persistence = open_realm(config)
    except StoreError as exc:
        print(f"jitrealm: cannot open the world in {ns.data}: {exc}", file=sys.stderr)
        return 2
    try:
        password = ensure_admin(realm.accounts, os.environ)
    except (ValueError, StoreError) as exc:
        print(f"jitrealm: {exc}", file=sys.stderr)
        return 2
    if password:
        print(f"Created wizard account 'admin' with password: {password}  (shown once)", flush=True)
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            telnet_port, http_port = await nursery.start(
                functools.partial(serve, realm, ns.telnet, ns.http, watch=ns.watch, persistence=persistence)
            )
            print(
                f"{realm.title} is up: telnet {_show_host(ns.telnet[0])}:{telnet_port}, "
                f"browser http://{_show_host(ns.http[0])}:{http_port}/  "
                f"({len(realm.tenant.blueprints.by_path)} blueprints, start room {realm.start_room})",
                flush=True,
            )

    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("\nShutting down.", file=sys.stderr)
    finally:
        persistence.store.close()
    return 0


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


def _show_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def cmd_dump(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="jitrealm dump", description="Write a consistent snapshot of a world (live or stopped).")
    p.add_argument("--data", type=Path, default=Path("var"), help="data directory (default ./var)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the dump file to write")
    ns = p.parse_args(argv)
    try:
        store = SqliteStore(ns.data, readonly=True)
        try:
            counts = snapshot.dump_to_path(store, ns.output)
        finally:
            store.close()
    except (StoreError, OSError) as exc:
        print(f"jitrealm dump: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {ns.output}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def cmd_restore(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="jitrealm restore", description="Load a dump into an empty data directory.")
    p.add_argument("file", type=Path, help="a dump written by `jitrealm dump` (- for standard input)")
    p.add_argument("--data", type=Path, default=Path("var"), help="data directory (default ./var); must be empty")
    ns = p.parse_args(argv)
    source = sys.stdin.buffer if str(ns.file) == "-" else ns.file
    try:
        counts = snapshot.restore(source, ns.data)
    except (StoreError, OSError) as exc:
        print(f"jitrealm restore: {exc}", file=sys.stderr)
        return 2
    print(f"restored into {ns.data}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: jitrealm {run,build,invoke,dump,restore} ...  (jitrealm COMMAND --help for details)"
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        return cmd_run(rest)
    if command == "dump":
        return cmd_dump(rest)
    if command == "restore":
        return cmd_restore(rest)
    if command == "build":
        from sandbox.build import worldbuild

        return worldbuild.main(rest)
    if command == "invoke":
        from sandbox.runtime import offline

        return offline.main(rest)
    print(f"jitrealm: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

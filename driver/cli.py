"""The `jitrealm` command: run the server, build the world, invoke a hook.

    jitrealm run [--data DIR] [--world DIR] [--telnet HOST:PORT] [--http HOST:PORT]
                 [--sandbox inproc] [--watch]
    jitrealm build [PATH...]
    jitrealm invoke COMPONENT HOOK [ARG...] [--self ID] [--state JSON] ...
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from .net.telnet_server import TelnetConfig, serve_telnet
from .realm import PROJECT_ROOT, Realm, RealmConfig, watch_sources

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
                telnet_config: TelnetConfig | None = None,
                task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the realm's loop and its listeners until cancelled.

    Reports the bound (telnet, http) ports, so tests can pass port 0.
    """
    from .net.web import serve_web

    async with trio.open_nursery() as nursery:
        realm.players.nursery = nursery
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


def cmd_run(argv: Sequence[str]) -> int:
    ns = _run_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from .accounts import ensure_admin

    ns.data.mkdir(parents=True, exist_ok=True)
    config = RealmConfig(world_dir=ns.world, build_dir=ns.build, data_dir=ns.data, telnet_port=ns.telnet[1])
    realm = Realm(config)
    errors = realm.build()
    for err in errors:
        print(f"build error: {err}", file=sys.stderr)
    for problem in realm.publish_all():
        print(f"refused: {problem}", file=sys.stderr)
    try:
        password = ensure_admin(realm.accounts, os.environ)
    except ValueError as exc:
        print(f"jitrealm: {exc}", file=sys.stderr)
        return 2
    if password:
        print(f"Created wizard account 'admin' with password: {password}  (shown once)", flush=True)
    print(
        f"{realm.title} is up: telnet {ns.telnet[0]}:{ns.telnet[1]}, "
        f"browser http://{ns.http[0]}:{ns.http[1]}/  "
        f"({len(realm.tenant.blueprints.by_path)} blueprints, start room {realm.start_room})",
        flush=True,
    )
    try:
        trio.run(functools.partial(serve, realm, ns.telnet, ns.http, watch=ns.watch))
    except KeyboardInterrupt:
        print("\nShutting down.", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: jitrealm {run,build,invoke} ...  (jitrealm COMMAND --help for details)"
    if not args or args[0] in ("-h", "--help"):
        print(usage)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        return cmd_run(rest)
    if command == "build":
        from sandbox import worldbuild

        return worldbuild.main(rest)
    if command == "invoke":
        from sandbox import offline

        return offline.main(rest)
    print(f"jitrealm: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

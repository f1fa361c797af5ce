"""The `jitrealm` command: run the server, build the world, invoke a hook.

    jitrealm run [--data DIR] [--world DIR] [--telnet HOST:PORT] [--http HOST:PORT]
                 [--sandbox inproc] [--watch]
    jitrealm build [PATH...]
    jitrealm invoke COMPONENT|SOURCE|/BLUEPRINT HOOK [ARG...] [--self ID] [--state JSON] ...
    jitrealm logs [--data DIR] [--tenant T] [--follow] [--blueprint B] [--level L]
    jitrealm dump --data DIR -o FILE
    jitrealm restore FILE --data DIR
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import trio

from driver.app import PROJECT_ROOT, RealmConfig
from driver.runtimes.wasm import start_wasm_runtime
from driver.server import CannotListen, serve, stop
from driver.store import snapshot
from driver.store.errors import StoreError
from driver.store.sqlite import SqliteStore
from driver.worlds import open_worlds

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
    p.add_argument("--sandbox", choices=["workers", "inproc"], default="workers",
                   help="where guest code runs: a pool of worker processes (default), or in this process")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="worker processes with --sandbox workers (default: the number of cores)")
    p.add_argument("--watch", action="store_true", help="rebuild and reload blueprints when their source changes")
    p.add_argument("--timers-paused", action="store_true",
                   help="start with the world's timers held until a wizard types `timers resume`")
    p.add_argument("--admin", type=lambda s: None if s == "off" else parse_hostport(s, 4081),
                   default=("127.0.0.1", 4081), metavar="HOST:PORT",
                   help="the admin and author HTTP API (default 127.0.0.1:4081; `off`: none)")
    p.add_argument("--log-format", choices=["plain", "json"], default="plain",
                   help="the operators' log (logins, moderation, publishes...): plain or JSON lines")
    p.add_argument("--log-file", type=Path, default=None, metavar="PATH",
                   help="append the operators' log to PATH (default: stderr)")
    return p


def cmd_run(argv: Sequence[str]) -> int:
    ns = _run_parser().parse_args(argv)
    if ns.workers < 1:
        print("jitrealm: --workers must be at least 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from driver import oplog

    oplog.configure(ns.log_format, ns.log_file)  # the operators' log (driver/oplog.py)
    from driver.auth.accounts import ensure_admin

    config = RealmConfig(
        world_dir=ns.world, build_dir=ns.build, data_dir=ns.data, telnet_port=ns.telnet[1],
        timers_paused=ns.timers_paused,
    )  # fmt: skip
    status = 0

    async def main() -> None:
        nonlocal status
        async with trio.open_nursery() as nursery:
            runtime = await start_wasm_runtime(
                nursery, ns.sandbox, workers=ns.workers, cache_dir=config.build_dir / "cache"
            )
            try:
                worlds, persistence = await open_worlds(config, runtime)
            except StoreError as exc:
                print(f"jitrealm: cannot open the world in {ns.data}: {exc}", file=sys.stderr)
                status = 2
                nursery.cancel_scope.cancel()
                return
            # The first start's secrets: the wizard `admin`, and the API's root token.
            root: str | None = None
            try:
                password = ensure_admin(worlds.default.accounts, os.environ)
                if ns.admin is not None:
                    from driver.admin.tokens import ensure_root_token

                    assert worlds.store is not None
                    root = ensure_root_token(worlds.store, os.environ)
            except (ValueError, StoreError) as exc:
                print(f"jitrealm: {exc}", file=sys.stderr)
                status = 2
                persistence.store.close()
                nursery.cancel_scope.cancel()
                return
            if password:
                print(f"Created wizard account 'admin' with password: {password}  (shown once)", flush=True)
            if root:
                print(f"Created the admin API's root token: {root}  (shown once)", flush=True)
            # `shutdown` typed by an admin in game stops the server as SIGTERM does.
            stop_requested = trio.Event()
            worlds.set_shutdown(stop_requested.set)
            try:
                try:
                    telnet_port, http_port = await nursery.start(
                        functools.partial(serve, worlds, ns.telnet, ns.http, watch=ns.watch, admin=ns.admin)
                    )
                except BaseExceptionGroup as group:
                    cannot = _cannot_listen(group)
                    if cannot is None:
                        raise
                    # A port in use is an operator's mistake, not a bug: one line.
                    print(f"jitrealm: {cannot}", file=sys.stderr)
                    status = 2
                    nursery.cancel_scope.cancel()
                    return
                realm = worlds.default
                others = len(worlds.realms) - 1
                oplog.event(oplog.SERVER_START, None, telnet=telnet_port, http=http_port,
                            admin=worlds.admin_port, worlds=len(worlds.realms), sandbox=ns.sandbox)  # fmt: skip
                print(
                    f"{realm.title} is up: telnet {_show_host(ns.telnet[0])}:{telnet_port}, "
                    f"browser http://{_show_host(ns.http[0])}:{http_port}/  "
                    f"({len(realm.tenant.blueprints.by_path)} blueprints, start room {realm.start_room}, "
                    f"sandbox {ns.sandbox}"
                    + (f"; {others} other world{'s' if others != 1 else ''}" if others else "")
                    + ")"
                    + (f", admin API http://{_show_host(ns.admin[0])}:{worlds.admin_port}/api/v1/"
                       if ns.admin is not None else ""),
                    flush=True,
                )
                # SIGINT (Ctrl-C) or SIGTERM (systemd, docker stop), or an
                # admin's `shutdown`: every player is told and their output
                # flushed before we go.
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    why = await _stop_reason(signals, stop_requested)
                    print(f"\n{why}: shutting down.", file=sys.stderr, flush=True)
                    told = await stop(worlds)
                    print(f"Told {told} session{'s' if told != 1 else ''}; stopped.", file=sys.stderr, flush=True)
                    oplog.event(oplog.SERVER_STOP, None, reason=why, sessions_told=told)
                    oplog.flush()
                    nursery.cancel_scope.cancel()
            finally:
                persistence.store.close()

    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("\nShutting down.", file=sys.stderr)
    return status


async def _stop_reason(signals: AsyncIterator[int], requested: trio.Event) -> str:
    """Wait for SIGINT/SIGTERM or an admin's `shutdown`; say which came."""
    reason = "shutdown"
    async with trio.open_nursery() as nursery:

        async def signal_came() -> None:
            nonlocal reason
            async for signum in signals:
                reason = signal.Signals(signum).name
                break
            nursery.cancel_scope.cancel()

        async def asked() -> None:
            await requested.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(signal_came)
        nursery.start_soon(asked)
    return reason


def _cannot_listen(group: BaseExceptionGroup[BaseException]) -> CannotListen | None:
    """The first CannotListen in ``group`` (nested as trio's nurseries nest them)."""
    found = group.subgroup(lambda exc: isinstance(exc, CannotListen))
    while found is not None:
        first = found.exceptions[0]
        if isinstance(first, CannotListen):
            return first
        found = first if isinstance(first, BaseExceptionGroup) else None
    return None


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


def _locate_invoke(argv: list[str]) -> list[str] | int:
    """`jitrealm invoke` of a blueprint id (``/examples/counter``) or a
    source file: build it if needed (into ``--build``, as `jitrealm build`
    would) and run the component built, as that blueprint. Returns the
    arguments for :func:`sandbox.runtime.offline.main`, or an exit status."""
    from sandbox.build import locate, worldbuild
    from sandbox.protocol import CompileError

    pre = argparse.ArgumentParser(add_help=False)
    for option in ("--self", "--state", "--fuel", "--memory-mb", "--timeout-ms", "--cache-dir", "--world", "--build"):
        pre.add_argument(option)
    pre.add_argument("target", nargs="?")
    known, _ = pre.parse_known_args(argv)
    target = known.target
    if not target or "-h" in argv or "--help" in argv:
        return argv
    root = worldbuild.project_root()
    world = Path(known.world) if known.world else root / "world-src"
    build = Path(known.build) if known.build else root / "build"
    try:
        component, self_id, warnings = locate.component_for(
            target, world_dir=world, build_dir=build, wit_dir=root / "wit"
        )
    except FileNotFoundError as exc:
        print(f"jitrealm invoke: {exc}", file=sys.stderr)
        return 2
    except CompileError as exc:
        notes = getattr(exc, "__notes__", None)
        print(f"jitrealm invoke: {exc}" + ("".join(f"\n{n}" for n in notes) if notes else ""), file=sys.stderr)
        return 2
    for warning in warnings:
        print(warning, file=sys.stderr)
    out = list(argv)
    out[out.index(target)] = str(component)
    i = 0
    while i < len(out):  # --world and --build are ours, not offline's
        if out[i] in ("--world", "--build") and i + 1 < len(out):
            del out[i : i + 2]
        else:
            i += 1
    if self_id is not None and known.self is None:
        out += ["--self", self_id]
    return out


def cmd_logs(argv: Sequence[str]) -> int:
    """`jitrealm logs`: offline against ``--data DIR``, else over the admin API."""
    if "--data" not in argv and not any(a.startswith("--data=") for a in argv):
        from driver.admin import commands

        return commands.main("logs", argv)
    from driver.store import logfiles
    from driver.tenancy import guestlog

    p = argparse.ArgumentParser(prog="jitrealm logs", description="What a world's code logged (offline: --data DIR).")
    p.add_argument("--data", type=Path, required=True, help="the server's data directory")
    p.add_argument("--tenant", default=os.environ.get("JITREALM_TENANT") or "demo", help="the world (default demo)")
    p.add_argument("--blueprint", help="only this blueprint's (or object's) lines")
    p.add_argument("--level", help="only this level and above (debug, info, warn, error)")
    p.add_argument("--limit", type=int, default=100, help="the newest N lines (default 100)")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines as they come")
    p.add_argument("--json", action="store_true", help="JSON lines, as stored")
    ns = p.parse_args(argv)
    if not ns.data.is_dir():
        print(f"jitrealm logs: {ns.data} is not a data directory", file=sys.stderr)
        return 2
    blueprint = ns.blueprint
    if blueprint and not blueprint.startswith("/"):
        blueprint = "/" + blueprint
    since: float | None = None
    limit = ns.limit
    try:
        while True:
            lines = [ln for row in logfiles.read(ns.data, ns.tenant) if (ln := guestlog.from_row(row)) is not None]
            for line in guestlog.select(lines, limit, blueprint=blueprint, level=ns.level, since=since):
                print(json.dumps(guestlog.to_row(line)) if ns.json else guestlog.render(line), flush=True)
                since = line.at
            if not ns.follow:
                return 0
            if since is None:
                since = lines[-1].at if lines else 0.0
            limit = 10_000
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: jitrealm {run,build,invoke,dump,restore,stubs,"
        "publish,versions,rollback,tenant,quota,usage,errors,logs,token} ...  (jitrealm COMMAND --help for details)"
    )
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

        located = _locate_invoke(rest)
        return located if isinstance(located, int) else offline.main(located)
    if command == "logs":
        return cmd_logs(rest)
    if command == "stubs":
        from driver.dsl import stubs

        return stubs.main(rest)
    if command in ("publish", "versions", "rollback", "tenant", "quota", "usage", "errors", "token"):
        from driver.admin import commands  # the admin API's client side

        return commands.main(command, rest)
    print(f"jitrealm: unknown command {command!r}\n{usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

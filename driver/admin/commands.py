"""The ``jitrealm`` subcommands that talk to a server's admin API: publish,
versions, rollback, tenant, quota, usage, errors and token.

The server is ``--server`` or ``$JITREALM_SERVER`` (default
http://127.0.0.1:4081), the token ``--token`` or ``$JITREALM_TOKEN``, the
tenant ``--tenant`` or ``$JITREALM_TENANT``. Output is for people unless
``--json``. Exit status: 0 done, 1 the server refused (one line on stderr),
2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from driver.admin.client import DEFAULT_SERVER, SERVER_ENV, TOKEN_ENV, ApiError, Client, quote_path

TENANT_ENV = "JITREALM_TENANT"
COMMANDS = ("publish", "versions", "rollback", "tenant", "quota", "usage", "errors", "logs", "token")
API = "/api/v1"


class UsageError(Exception):
    """The command line is wrong (exit status 2)."""


class Failed(Exception):
    """The server answered, but the answer is a failure (a canary that
    failed): printed like a success, then exit status 1."""

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


Out = Callable[[str], None]


def _common(*, inner: bool = False) -> argparse.ArgumentParser:
    """The options every command takes. A sub-command's copy (``inner``)
    has no defaults, so that it does not undo the same option given before
    the sub-command's name (``jitrealm tenant --json list``)."""
    unset: object = argparse.SUPPRESS if inner else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server", default=unset, help=f"the admin API (default ${SERVER_ENV} or {DEFAULT_SERVER})"
    )
    common.add_argument("--token", default=unset, help=f"a bearer token (default ${TOKEN_ENV})")
    common.add_argument(
        "--json",
        action="store_true",
        default=unset if inner else False,
        help="print the server's JSON answer",
    )
    return common


def _tenant_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tenant", help=f"the tenant (default ${TENANT_ENV})")


def _parser(command: str) -> argparse.ArgumentParser:
    common = _common()
    inner = _common(inner=True)
    prog = f"jitrealm {command}"
    if command == "publish":
        p = argparse.ArgumentParser(prog=prog, parents=[common], description="Publish a component (.wasm) or a declarative bundle (.json) as a new version of a blueprint.")  # fmt: skip
        p.add_argument("file", type=Path)
        p.add_argument(
            "--as", dest="path", required=True, help="the blueprint path, e.g. /rooms/meadow"
        )
        _tenant_arg(p)
        p.add_argument(
            "--stage", action="store_true", help="keep the version but do not activate it"
        )
        p.add_argument(
            "--canary",
            type=int,
            default=0,
            metavar="K",
            help="first run on-reload on copies of K live objects",
        )
        return p
    if command == "versions":
        p = argparse.ArgumentParser(prog=prog, parents=[common], description="List a blueprint's kept versions (or every blueprint's, without PATH).")  # fmt: skip
        p.add_argument("path", nargs="?")
        _tenant_arg(p)
        return p
    if command == "rollback":
        p = argparse.ArgumentParser(prog=prog, parents=[common], description="Make an earlier (or a staged) version of a blueprint current.")  # fmt: skip
        p.add_argument("path")
        _tenant_arg(p)
        p.add_argument(
            "--to", dest="version", help="the version (default: the one before the current one)"
        )
        return p
    if command == "tenant":
        p = argparse.ArgumentParser(
            prog=prog, parents=[common], description="Manage tenants (a root token)."
        )
        sub = p.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", parents=[inner])
        create.add_argument("name")
        create.add_argument("--title")
        create.add_argument("--port", type=int, help="a telnet port of its own")
        create.add_argument("--start-room")
        sub.add_parser("list", parents=[inner])
        for action in ("show", "resume"):
            sub.add_parser(action, parents=[inner]).add_argument("name")
        suspend = sub.add_parser("suspend", parents=[inner])
        suspend.add_argument("name")
        suspend.add_argument("--reason", default="")
        delete = sub.add_parser("delete", parents=[inner])
        delete.add_argument("name")
        delete.add_argument(
            "--yes", action="store_true", help="really delete the tenant and its world"
        )
        return p
    if command == "quota":
        p = argparse.ArgumentParser(
            prog=prog, parents=[common], description="Read or change a tenant's quotas."
        )
        sub = p.add_subparsers(dest="action", required=True)
        get = sub.add_parser("get", parents=[inner])
        _tenant_arg(get)
        get.add_argument("names", nargs="*", help="only these quotas")
        set_ = sub.add_parser("set", parents=[inner])
        _tenant_arg(set_)
        set_.add_argument("changes", nargs="+", metavar="NAME=VALUE")
        return p
    if command in ("usage", "errors"):
        p = argparse.ArgumentParser(
            prog=prog, parents=[common], description=f"The tenant's {command}."
        )
        _tenant_arg(p)
        if command == "errors":
            p.add_argument("--limit", type=int, default=20)
        return p
    if command == "logs":
        p = argparse.ArgumentParser(
            prog=prog, parents=[common],
            description="What the tenant's code logged (offline, against a data directory: --data DIR).",
        )  # fmt: skip
        _tenant_arg(p)
        p.add_argument("--blueprint", help="only this blueprint's (or object's) lines")
        p.add_argument("--level", help="only this level and above (debug, info, warn, error)")
        p.add_argument("--limit", type=int, default=100)
        p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines (polls)")
        return p
    if command == "token":
        p = argparse.ArgumentParser(prog=prog, parents=[common], description="Make, list and revoke a tenant's API tokens.")  # fmt: skip
        sub = p.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", parents=[inner])
        _tenant_arg(create)
        create.add_argument("--role", choices=["author", "admin"], required=True)
        create.add_argument("--label", default="")
        listing = sub.add_parser("list", parents=[inner])
        _tenant_arg(listing)
        sub.add_parser("revoke", parents=[inner]).add_argument("id")
        return p
    raise UsageError(f"unknown command {command!r}")


def _tenant(ns: argparse.Namespace, environ: Mapping[str, str]) -> str:
    tenant = ns.tenant or environ.get(TENANT_ENV)
    if not tenant:
        raise UsageError(f"which tenant? give --tenant NAME (or set {TENANT_ENV})")
    return str(tenant)


def _when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _parse_change(text: str) -> tuple[str, float]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise UsageError(f"want NAME=VALUE, not {text!r}")
    try:
        value = float(raw.replace("_", ""))
    except ValueError:
        raise UsageError(f"{name}: not a number: {raw!r}") from None
    return name.strip(), int(value) if value.is_integer() else value


def _print_publish(result: Mapping[str, Any], out: Out) -> None:
    what = f"{result['path']} {result['version']}"
    if result["unchanged"]:
        out(f"{what}: unchanged (those bytes are already current)")
    elif result["activated"]:
        before = f" (was {result['previous']})" if result.get("previous") else ""
        out(
            f"{what}: active{before}; {result['objects']} live object(s) run on-reload before their next hook"
        )
    elif result["staged"] and not result["canary_failures"]:
        out(
            f"{what}: staged (activate it with: jitrealm rollback {result['path']} --to {result['version']})"
        )
    if result.get("canary_checked"):
        failures = result["canary_failures"]
        out(f"canary: {result['canary_checked']} object(s) checked, {len(failures)} failed")
        for failure in failures:
            out(f"  {failure['object_id']}: {failure['kind']}: {failure['message']}")
        if failures:
            out(
                f"{what} was not activated; {result.get('previous') or 'the old version'} keeps running"
            )


def _print_versions(bp: Mapping[str, Any], out: Out) -> None:
    out(bp["path"])
    for v in reversed(bp["versions"]):
        mark = "*" if v["current"] else ("s" if v["staged"] else " ")
        out(f"  {mark} {v['version']}  {_number(v['size'])} bytes  {_when(v['published_at'])}")


def _print_tenant(t: Mapping[str, Any], out: Out) -> None:
    state = t["state"] + (f" ({t['suspended_reason']})" if t.get("suspended_reason") else "")
    port = f", port {t['port']}" if t.get("port") else ""
    out(f"{t['name']}: {t['title']} — {state}{port}")
    out(f"  start room {t['start_room']}; {t['players_online']} online, {t['objects']} objects, {t['blueprints']} blueprints; created {_when(t['created_at'])}")  # fmt: skip


def _print_usage(u: Mapping[str, Any], out: Out) -> None:
    out(f"{u['tenant']}:")
    out(f"  fuel            {_number(u['fuel_used'])} used; {_number(round(u['fuel_per_second']))}/s of {_number(u['fuel_per_second_quota'])}/s")  # fmt: skip
    out(f"  waited for fuel {u['fuel_wait_seconds']:.3f} s")
    out(f"  memory          {_number(u['memory_bytes'])} bytes")
    out(f"  objects         {_number(u['objects'])} ({_number(u['state_bytes'])} bytes of state)")
    out(f"  callouts        {_number(u['callouts_pending'])} pending")
    out(f"  connections     {_number(u['connections'])} ({_number(u['players_online'])} players)")
    out(f"  events run      {_number(u['events_run'])}")
    errors = u.get("errors_by_kind") or {}
    out("  errors          " + (", ".join(f"{k} {n}" for k, n in sorted(errors.items())) or "none"))


def _print_error(e: Mapping[str, Any], out: Out) -> None:
    where = e["blueprint"] or "?"
    if e.get("version"):
        where += f"@{e['version'][:12]}"
    out(f"{_when(e['at'])}  {e['kind']:<10} {e['object_id']} {e['hook']} ({where}) ref {e['ref']}")
    out(f"    {e['message']}")


def run(
    command: str, ns: argparse.Namespace, client: Client, out: Out, environ: Mapping[str, str]
) -> Any:
    """Carry out one parsed command; the server's answer (printed by the
    caller with ``--json``, else printed here for people)."""
    human = not ns.json
    if command == "publish":
        tenant = _tenant(ns, environ)
        try:
            data = ns.file.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {ns.file}: {exc.strerror}") from None
        kind = "application/json" if ns.file.suffix == ".json" else "application/wasm"
        query = {"stage": "1" if ns.stage else None, "canary": ns.canary or None}
        result = client.request(
            "POST",
            f"{API}/tenants/{tenant}/blueprints/{quote_path(ns.path)}/versions",
            data=data,
            content_type=kind,
            query=query,
        )
        if human:
            _print_publish(result, out)
        if result.get("canary_failures"):
            raise Failed(f"canary failed on {len(result['canary_failures'])} object(s)", result)
        return result
    if command == "versions":
        tenant = _tenant(ns, environ)
        if ns.path:
            result = client.get(f"{API}/tenants/{tenant}/blueprints/{quote_path(ns.path)}/versions")
            listed = [result]
        else:
            result = client.get(f"{API}/tenants/{tenant}/blueprints")
            listed = result["blueprints"]
        if human:
            for bp in listed:
                _print_versions(bp, out)
        return result
    if command == "rollback":
        tenant = _tenant(ns, environ)
        result = client.post(
            f"{API}/tenants/{tenant}/blueprints/{quote_path(ns.path)}/activate",
            {"version": ns.version},
        )
        if human:
            _print_publish(result, out)
        return result
    if command == "tenant":
        return _tenant_command(ns, client, out)
    if command == "quota":
        tenant = _tenant(ns, environ)
        if ns.action == "get":
            result = client.get(f"{API}/tenants/{tenant}/quotas")
        else:
            changes = dict(_parse_change(text) for text in ns.changes)
            result = client.patch(f"{API}/tenants/{tenant}/quotas", {"quotas": changes})
        if human:
            wanted = set(ns.names) if ns.action == "get" and ns.names else None
            quotas: dict[str, Any] = result["quotas"]
            if wanted is not None and wanted - set(quotas):
                raise UsageError(f"no such quota: {', '.join(sorted(wanted - set(quotas)))}")
            width = max((len(n) for n in quotas), default=0)
            for name, value in quotas.items():
                if wanted is None or name in wanted:
                    out(f"{name:<{width}}  {_number(value)}")
        return result
    if command == "usage":
        result = client.get(f"{API}/tenants/{_tenant(ns, environ)}/usage")
        if human:
            _print_usage(result, out)
        return result
    if command == "errors":
        result = client.get(f"{API}/tenants/{_tenant(ns, environ)}/errors", limit=ns.limit)
        if human:
            for error in result["errors"]:
                _print_error(error, out)
            if not result["errors"]:
                out("no errors")
        return result
    if command == "logs":
        return _logs_command(ns, client, out, environ)
    if command == "token":
        return _token_command(ns, client, out, environ)
    raise UsageError(f"unknown command {command!r}")


def _logs_command(ns: argparse.Namespace, client: Client, out: Out, environ: Mapping[str, str]) -> Any:
    """`jitrealm logs`: the newest lines, then (``--follow``) every new one,
    polling once a second with ``since``."""
    path = f"{API}/tenants/{_tenant(ns, environ)}/logs"
    blueprint = ns.blueprint if not ns.blueprint or ns.blueprint.startswith("/") else "/" + ns.blueprint
    since: float | None = None
    limit = ns.limit
    while True:
        result = client.get(path, limit=limit, blueprint=blueprint, level=ns.level, since=since)
        if ns.json and not ns.follow:
            return result  # printed whole by main
        for line in result["logs"]:
            out(json.dumps(line, sort_keys=True) if ns.json else _log_line(line))
            since = line["at"]
        if not ns.follow:
            if not result["logs"]:
                out("no log lines")
            return result
        limit = 1000
        time.sleep(1.0)


def _log_line(line: dict[str, Any]) -> str:
    where = line["object_id"]
    if line.get("blueprint"):
        version = f"@{line['version'][:12]}" if line.get("version") else ""
        where += f" [{line['blueprint']}{version}]"
    return f"{_when(line['at'])} {line['level']:<6} {where}: {line['text']}"


def _tenant_command(ns: argparse.Namespace, client: Client, out: Out) -> Any:
    human = not ns.json
    action = ns.action
    if action == "list":
        result = client.get(f"{API}/tenants")
        if human:
            for t in result["tenants"]:
                _print_tenant(t, out)
        return result
    base = f"{API}/tenants/{ns.name}"
    if action == "create":
        body = {"name": ns.name, "title": ns.title, "port": ns.port, "start_room": ns.start_room}
        result = client.post(f"{API}/tenants", {k: v for k, v in body.items() if v is not None})
    elif action == "show":
        result = client.get(base)
    elif action == "suspend":
        result = client.post(base + "/suspend", {"reason": ns.reason})
    elif action == "resume":
        result = client.post(base + "/resume")
    else:  # delete
        if not ns.yes:
            raise UsageError(f"deleting {ns.name} destroys its world: add --yes")
        result = client.delete(base)
        if human:
            out(f"deleted {ns.name} ({result['tokens_revoked']} token(s) revoked)")
        return result
    if human:
        _print_tenant(result, out)
    return result


def _token_command(
    ns: argparse.Namespace, client: Client, out: Out, environ: Mapping[str, str]
) -> Any:
    human = not ns.json
    if ns.action == "revoke":
        result = client.delete(f"{API}/tokens/{ns.id}")
        if human:
            out(f"revoked {result['revoked']}")
        return result
    tenant = _tenant(ns, environ)
    if ns.action == "create":
        body = {"role": ns.role, "label": ns.label}
        result = client.post(f"{API}/tenants/{tenant}/tokens", body)
        if human:
            out(f"{result['role']} token {result['id']} for {tenant}: {result['token']}")
            out("(shown once: keep it; give it to the CLI as --token or $JITREALM_TOKEN)")
        return result
    result = client.get(f"{API}/tenants/{tenant}/tokens")
    if human:
        for row in result["tokens"]:
            out(f"{row['id']}  {row['role']:<6} {_when(row['created_at'])}  {row['label']}")
    return result


def main(
    command: str,
    argv: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
    out: Out | None = None,
    err: Out | None = None,
) -> int:
    """``jitrealm COMMAND ARGV...``; the exit status."""
    environ = os.environ if environ is None else environ
    out = out or (lambda line: print(line, flush=True))
    err = err or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        parser = _parser(command)
        try:
            ns = parser.parse_args(list(argv))
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return int(exc.code or 0)
        server = ns.server or environ.get(SERVER_ENV) or DEFAULT_SERVER
        client = Client(server, ns.token or environ.get(TOKEN_ENV))
        result = run(command, ns, client, out, environ)
    except UsageError as exc:
        err(f"jitrealm {command}: {exc}")
        return 2
    except Failed as exc:
        if ns.json:
            out(json.dumps(exc.result, indent=2, sort_keys=True))
        err(f"jitrealm {command}: {exc}")
        return 1
    except ApiError as exc:
        err(f"jitrealm {command}: {exc.message}" + (f" ({exc.status})" if exc.status else ""))
        return 1
    if ns.json:
        out(json.dumps(result, indent=2, sort_keys=True))
    return 0

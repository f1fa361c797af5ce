"""The admin listener over real sockets on 127.0.0.1: Hypercorn's trio
worker serving the API on a port picked by the system, a raw HTTP request,
and the CLI's client and commands against it (run in a thread, as the
synchronous client they are). A fake Control stands in for the server."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import trio

from driver.admin import commands
from driver.admin.client import ApiError, Client
from driver.admin.serve import run_admin
from driver.admin.tokens import MemoryTokenStore, Tokens, ensure_root_token
from driver.store.sqlite import SqliteStore
from driver.tenancy.control import Role

from ..admin_support import FakeControl

pytestmark = pytest.mark.integration


class Admin:
    def __init__(self, control: FakeControl, root: str, port: int) -> None:
        self.control, self.root, self.port = control, root, port
        self.url = f"http://127.0.0.1:{port}"

    async def cli(self, *argv: str, token: str | None = None) -> tuple[int, list[str], list[str]]:
        """``jitrealm ARGV`` against this server; (status, stdout, stderr lines)."""
        out: list[str] = []
        err: list[str] = []
        env = {"JITREALM_SERVER": self.url, "JITREALM_TOKEN": token or self.root}
        run = functools.partial(
            commands.main, argv[0], argv[1:], environ=env, out=out.append, err=err.append
        )
        status = await trio.to_thread.run_sync(run)
        return status, out, err


@pytest.fixture
async def admin(nursery: trio.Nursery) -> Admin:
    control = FakeControl()
    store = MemoryTokenStore()
    root = ensure_root_token(store, {})
    assert root is not None
    port = await nursery.start(run_admin, control, store, "127.0.0.1", 0)
    return Admin(control, root, port)


async def test_a_raw_request_over_a_socket(admin: Admin) -> None:
    assert admin.port > 0
    stream = await trio.open_tcp_stream("127.0.0.1", admin.port)
    async with stream:
        await stream.send_all(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        received = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some():
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body) == {"status": "ok"}


async def test_the_client_gets_answers_and_clear_errors(admin: Admin) -> None:
    client = Client(admin.url, admin.root)
    tenants = await trio.to_thread.run_sync(client.get, "/api/v1/tenants")
    assert [t["name"] for t in tenants["tenants"]] == ["acme", "beta"]
    with pytest.raises(ApiError) as refused:
        await trio.to_thread.run_sync(Client(admin.url, "jr_wrong").get, "/api/v1/tenants")
    assert (refused.value.status, refused.value.message) == (401, "unknown token")
    over = functools.partial(
        client.request,
        "POST",
        "/api/v1/tenants/acme/blueprints/rooms/a/versions",
        data=b"x" * 5000,
        content_type="application/wasm",
    )
    with pytest.raises(ApiError) as too_big:
        await trio.to_thread.run_sync(over)
    assert too_big.value.status == 413
    assert admin.control.called("publish") == []


async def test_the_cli_over_the_listener(admin: Admin, tmp_path: Path) -> None:
    status, out, _ = await admin.cli("tenant", "list")
    assert status == 0
    assert out[0].startswith("acme: Acme")

    component = tmp_path / "meadow.wasm"
    component.write_bytes(b"\0asm\x0d\0\x01\0")
    status, out, _ = await admin.cli(
        "publish", str(component), "--as", "/rooms/meadow", "--tenant", "acme"
    )
    assert status == 0, out
    assert out == [
        "/rooms/meadow v2: active (was v1); 4 live object(s) run on-reload before their next hook"
    ]
    assert (
        "publish",
        ("acme", "/rooms/meadow", b"\0asm\x0d\0\x01\0", False, 0),
    ) in admin.control.calls

    status, out, err = await admin.cli("publish", str(component), "--as", "/rooms/meadow", "--tenant", "acme", "--canary", "9")  # fmt: skip
    assert status == 1
    assert "  /rooms/a#1: trap: boom" in out
    assert err == ["jitrealm publish: canary failed on 1 object(s)"]

    status, out, _ = await admin.cli("quota", "set", "--tenant", "acme", "max_objects=50", "--json")
    assert status == 0
    assert json.loads("\n".join(out))["quotas"]["max_objects"] == 50

    status, out, err = await admin.cli("quota", "set", "--tenant", "acme", "max_unicorns=1")
    assert status == 1
    assert err == ["jitrealm quota: no such quota: max_unicorns (400)"]

    status, out, _ = await admin.cli(
        "token", "create", "--tenant", "acme", "--role", "author", "--label", "ann"
    )
    assert status == 0
    secret = out[0].rsplit(" ", 1)[1]
    status, out, _ = await admin.cli("usage", "--tenant", "acme", token=secret)
    assert status == 0
    assert out[0] == "acme:"
    status, out, err = await admin.cli("tenant", "list", token=secret)
    assert (status, err) == (1, ["jitrealm tenant: an author token of acme may not do this (403)"])

    status, out, _ = await admin.cli("errors", "--tenant", "acme", "--limit", "3", token=secret)
    assert status == 0
    assert "fuel" in out[0] and out[1].strip() == "out of fuel"
    status, out, _ = await admin.cli("rollback", "/rooms/meadow", "--tenant", "acme", token=secret)
    assert status == 0
    assert ("activate", ("acme", "/rooms/meadow", None)) in admin.control.calls
    status, out, _ = await admin.cli("versions", "/rooms/meadow", "--tenant", "acme", token=secret)
    assert out[0] == "/rooms/meadow" and out[1].startswith("  * v1")


async def test_usage_errors_exit_2_and_an_unreachable_server_exits_1(
    admin: Admin, tmp_path: Path
) -> None:
    status, _, err = await admin.cli("usage")  # which tenant?
    assert status == 2
    assert "--tenant" in err[0]
    status, _, err = await admin.cli(
        "publish", str(tmp_path / "missing.wasm"), "--as", "/a", "--tenant", "acme"
    )
    assert status == 2
    status, _, _ = await admin.cli("tenant", "delete", "acme")  # without --yes
    assert status == 2
    assert admin.control.called("delete_tenant") == []
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    out: list[str] = []
    err = []
    env = {"JITREALM_SERVER": f"http://127.0.0.1:{free}", "JITREALM_TOKEN": "x"}
    run = functools.partial(
        commands.main, "tenant", ["list"], environ=env, out=out.append, err=err.append
    )
    assert await trio.to_thread.run_sync(run) == 1
    assert err[0].startswith("jitrealm tenant: cannot reach http://127.0.0.1:")


async def test_cancelling_stops_the_listener() -> None:
    store = MemoryTokenStore()
    ensure_root_token(store, {})
    async with trio.open_nursery() as nursery:
        port = await nursery.start(run_admin, FakeControl(), store, "127.0.0.1", 0)
        nursery.cancel_scope.cancel()
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)


async def test_options_before_or_after_the_sub_command(admin: Admin) -> None:
    status, out, _ = await admin.cli("tenant", "--json", "list")
    assert status == 0
    assert json.loads("\n".join(out))["tenants"][0]["name"] == "acme"
    status, out, _ = await admin.cli("tenant", "show", "beta", "--json")
    assert json.loads("\n".join(out))["name"] == "beta"


async def test_a_port_in_use_is_an_oserror_before_anything_starts() -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.RaisesGroup(OSError, flatten_subgroups=True):
            async with trio.open_nursery() as nursery:
                await nursery.start(run_admin, FakeControl(), MemoryTokenStore(), "127.0.0.1", port)


def test_tokens_in_the_real_store_survive_a_restart(tmp_path: Path) -> None:
    with SqliteStore(tmp_path) as store:
        root = ensure_root_token(store, {})
        assert root is not None
        author, _ = Tokens(store).create(Role.AUTHOR, "demo", "ann")
    with SqliteStore(tmp_path) as again:
        assert ensure_root_token(again, {}) is None  # not a second root token
        tokens = Tokens(again)
        found = tokens.authenticate(root)
        assert found is not None and found.role == "root" and found.tenant is None
        row = tokens.authenticate(author)
        assert row is not None and (row.role, row.tenant, row.label) == ("author", "demo", "ann")
        assert root not in repr(again.tokens()) and author not in repr(again.tokens())

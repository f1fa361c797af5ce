"""The whole loop of the tenants issue on a real server: `jitrealm run`
with its admin API; an admin creates a tenant and an author token with the
`jitrealm` CLI; the author publishes, canaries (one passes, one fails and
changes nothing) and rolls back over HTTP while a player of that world
pokes the object; the admin changes a quota and it takes effect at once;
wrong and wrongly scoped tokens change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from driver.admin.client import ApiError, Client
from sandbox.build import manifest as build_manifest

from ..driver_support import BASIC_WORLD, ROOT, TelnetClient
from ..gadgets import gadgets_fixture  # noqa: F401  (the session fixture `gadgets`)
from ..server_process import ROOT_TOKEN, ServerProcess


class Cli:
    """`jitrealm ...` in a child process, against one server."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(
        self, *args: str, token: str = ROOT_TOKEN, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "driver.cli", *args, "--server", self.url, "--token", token]
        done = await trio.to_thread.run_sync(
            lambda: subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        )
        if ok:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    async def json(self, *args: str, token: str = ROOT_TOKEN) -> Any:
        return json.loads((await self(*args, "--json", token=token)).stdout)


async def poke(client: TelnetClient) -> str:
    seen = await client.command("poke gadget", "> ")
    return seen.strip().splitlines()[0] if seen.strip() else ""


async def test_two_tenants_an_author_publishes_canaries_and_rolls_back_and_a_quota_changes_live(
    basic_build: Path, tmp_path: Path, gadgets: dict[str, bytes]
) -> None:
    server = ServerProcess(BASIC_WORLD, basic_build, tmp_path / "var")
    port, _ = server.start()
    try:
        assert server.admin_port, server.log
        url = f"http://127.0.0.1:{server.admin_port}"
        cli = Cli(url)
        files = tmp_path / "files"
        files.mkdir()
        for name, data in gadgets.items():
            (files / f"gadget_{name}.wasm").write_bytes(data)
        start = build_manifest.load(basic_build)["/rooms/start"]
        (files / "start.wasm").write_bytes((basic_build / start.output).read_bytes())

        # The admin: a second world beside the default one, and its author.
        await cli("tenant", "create", "acme", "--title", "Acme Land")
        listed = (await cli.json("tenant", "list"))["tenants"]
        assert sorted(t["name"] for t in listed) == ["acme", "demo"]
        author = (await cli.json("token", "create", "--tenant", "acme", "--role", "author"))[
            "token"
        ]

        # The author publishes a start room and a gadget into acme.
        await cli(
            "publish",
            str(files / "start.wasm"),
            "--as",
            "/rooms/start",
            "--tenant",
            "acme",
            token=author,
        )
        first = await cli.json("publish", str(files / "gadget_v1.wasm"), "--as", "/obj/gadget",
                               "--tenant", "acme", token=author)  # fmt: skip
        assert first["activated"] is True

        # A player of acme (made a wizard by the admin) has two gadgets.
        bob = await TelnetClient.connect(port)
        await bob.expect("What is your name?")
        await bob.command("world acme", "What is your name?")
        await bob.command("create bob hunter22", "Obvious exits")
        await bob.expect("> ")
        Client(url, ROOT_TOKEN).request("PUT", "/api/v1/tenants/acme/wizards/bob")
        await bob.expect("made you a wizard")
        await bob.command("clone /obj/gadget", "> ")
        await bob.command("clone /obj/gadget", "> ")
        assert await poke(bob) == "v1"
        # The default world's player sees none of it.
        ann = await TelnetClient.connect(port)
        await ann.expect("What is your name?")
        await ann.command("create ann secret99", "Obvious exits")
        await ann.command("poke gadget", "> ")
        assert "v1" not in ann.seen

        # A canary that passes: activated; the objects run the new version.
        passed = await cli.json("publish", str(files / "gadget_v2.wasm"), "--as", "/obj/gadget",
                                "--tenant", "acme", "--canary", "2", token=author)  # fmt: skip
        assert (
            passed["activated"] and passed["canary_checked"] == 2 and not passed["canary_failures"]
        )
        assert await poke(bob) == "v2"

        # A canary that fails: nothing changes, each failure is reported.
        failed = await cli("publish", str(files / "gadget_broken.wasm"), "--as", "/obj/gadget",
                           "--tenant", "acme", "--canary", "2", token=author, ok=False)  # fmt: skip
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "trap" in failed.stdout + failed.stderr
        assert await poke(bob) == "v2"

        # Versions, and a rollback.
        versions = await cli.json("versions", "/obj/gadget", "--tenant", "acme", token=author)
        assert versions["current"] == passed["version"]
        await cli("rollback", "/obj/gadget", "--tenant", "acme", token=author)
        assert await poke(bob) == "v1"

        # A quota changed live: the per-call fuel, at once.
        await cli("quota", "set", "--tenant", "acme", "call_fuel=20000")
        seen = await bob.command("burn gadget", "> ")
        assert "ref " in seen  # the call ran out of fuel: the player gets a reference
        errors = (await cli.json("errors", "--tenant", "acme", token=author))["errors"]
        assert any(e["kind"] == "fuel" and e["blueprint"] == "/obj/gadget" for e in errors)
        await cli("quota", "set", "--tenant", "acme", "call_fuel=50000000")
        seen = await bob.command("burn gadget", "> ")
        assert "ref " not in seen
        usage = await cli.json("usage", "--tenant", "acme", token=author)
        assert usage["fuel_used"] > 0 and usage["players_online"] == 1

        # Wrong tokens change nothing.
        denied = await cli(
            "quota", "set", "--tenant", "acme", "call_fuel=1", token=author, ok=False
        )
        assert denied.returncode == 1
        bad = await cli("tenant", "create", "evil", token="jr_not-a-real-token-at-all", ok=False)
        assert bad.returncode == 1
        other = (await cli.json("token", "create", "--tenant", "demo", "--role", "author"))["token"]
        try:
            Client(url, other).request("GET", "/api/v1/tenants/acme/usage")
            raise AssertionError("another tenant's author read acme's usage")
        except ApiError as exc:
            assert exc.status == 403
        assert (await cli.json("quota", "get", "--tenant", "acme"))["quotas"][
            "call_fuel"
        ] == 50_000_000
        listed = (await cli.json("tenant", "list"))["tenants"]
        assert sorted(t["name"] for t in listed) == ["acme", "demo"]
        await bob.close()
        await ann.close()
        assert server.stop() == 0
    finally:
        server.kill()

"""Many worlds on one server, through real sockets: each tenant is its own
world with its own players, accounts, `who` and quotas; players pick a world
by name at login, on a port of the world's own, or at /t/<world>/ over
WebSocket; suspending, resuming and deleting a world; everything survives a
restart."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio_websocket

from driver.app import RealmConfig
from driver.runtimes import Runtime, RuntimeKind
from driver.server import serve
from driver.tenancy.errors import BadRequest, NoSuchTenant, TenantExists
from driver.worlds import Worlds, open_worlds
from sandbox.build import manifest as build_manifest

from ..driver_support import BASIC_WORLD, CHEAP, TelnetClient
from ..gadgets import gadgets_fixture  # noqa: F401  (the session fixture `gadgets`)


def config(tmp_path: Path, basic_build: Path) -> RealmConfig:
    return RealmConfig(
        world_dir=BASIC_WORLD, build_dir=basic_build, data_dir=tmp_path / "var", kdf_params=CHEAP
    )


async def publish_start_room(worlds: Worlds, name: str, basic_build: Path) -> None:
    """Give world ``name`` the basic world's start room (what an author would publish)."""
    entry = build_manifest.load(basic_build)["/rooms/start"]
    data = (basic_build / entry.output).read_bytes()
    await worlds.get(name).tenant.publish("/rooms/start", data, kind=RuntimeKind.WASM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def server(
    tmp_path: Path, basic_build: Path, runtime: Runtime
) -> AsyncIterator[tuple[Worlds, int, int]]:
    worlds, persistence = await open_worlds(config(tmp_path, basic_build), runtime)
    try:
        async with trio.open_nursery() as nursery:
            telnet, http = await nursery.start(
                lambda task_status: serve(
                    worlds, ("127.0.0.1", 0), ("127.0.0.1", 0), task_status=task_status
                )
            )
            yield worlds, telnet, http
            nursery.cancel_scope.cancel()
    finally:
        persistence.store.close()


async def enter(port: int, world: str | None, line: str) -> TelnetClient:
    client = await TelnetClient.connect(port)
    await client.expect("What is your name?")
    if world is not None:
        await client.send(f"world {world}")
        await client.expect("What is your name?")
    await client.command(line, "Obvious exits")
    await client.expect("> ")  # the prompt after the room
    return client


async def test_two_worlds_side_by_side_with_their_own_players(backend, basic_build, tmp_path):
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme", title="Acme Land")
        await publish_start_room(worlds, "acme", basic_build)
        ann = await enter(port, None, "create ann secret99")  # the default world
        bob = await enter(port, "acme", "create bob hunter22")
        # Each world's `who` and rooms are its own, even for rooms of the same name.
        await ann.command("who", "1 player online")
        await bob.command("who", "1 player online")
        await ann.command("say hello from demo", "You say: hello from demo")
        await bob.command("say hello from acme", "You say: hello from acme")
        await ann.command("look", "Obvious exits")
        assert "acme" not in ann.seen and "Bob" not in ann.seen
        await bob.command("look", "Obvious exits")
        assert "demo" not in bob.seen and "Ann" not in bob.seen
        # Accounts are per world: ann has none in acme, bob none in the default one.
        stranger = await TelnetClient.connect(port)
        await stranger.expect("What is your name?")
        await stranger.command("world acme", "What is your name?")
        await stranger.command("connect ann secret99", "What is your name?")
        assert "Obvious exits" not in stranger.seen
        await stranger.command("world nowhere", "There is no open world called nowhere here.")
        assert worlds.get("acme").tenant.graph.get("/player/ann") is None
        assert worlds.default.tenant.graph.get("/player/bob") is None
        assert worlds.tenant("acme").players_online == 1
        for client in (ann, bob, stranger):
            await client.close()


async def test_a_world_of_its_own_port_and_its_web_path(backend, basic_build, tmp_path):
    own = free_port()
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme", port=own)
        await publish_start_room(worlds, "acme", basic_build)
        with trio.fail_after(10):
            while worlds.port_of("acme") != own:
                await trio.sleep(0.02)
        cat = await enter(own, None, "create cat meow1234")  # straight into acme
        assert worlds.get("acme").tenant.graph.get("/player/cat") is not None
        async with trio_websocket.open_websocket_url(
            f"ws://127.0.0.1:{http}/t/acme/ws", subprotocols=["gmcp.mudstandards.org"]
        ) as conn:
            await conn.send_message(b"create dot purr5678\r\n")
            seen = ""
            with trio.fail_after(10):
                while "Obvious exits" not in seen:
                    message = await conn.get_message()
                    seen += (
                        message if isinstance(message, str) else message.decode("utf-8", "replace")
                    )
        assert worlds.get("acme").tenant.graph.get("/player/dot") is not None
        assert worlds.default.tenant.graph.get("/player/dot") is None
        with pytest.raises(trio_websocket.HandshakeError):
            async with trio_websocket.open_websocket_url(
                f"ws://127.0.0.1:{http}/t/nowhere/ws", subprotocols=["gmcp.mudstandards.org"]
            ):
                pass
        await cat.close()


async def test_suspend_resume_delete_and_quotas_live(backend, basic_build, tmp_path):
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme")
        await publish_start_room(worlds, "acme", basic_build)
        with pytest.raises(TenantExists):
            await worlds.create_tenant("acme")
        with pytest.raises(BadRequest):
            await worlds.create_tenant("Bad Name!")
        with pytest.raises(BadRequest):
            worlds.set_quotas("acme", {"no_such_quota": 1})
        bob = await enter(port, "acme", "create bob hunter22")
        ann = await enter(port, None, "create ann secret99")

        await worlds.suspend_tenant("acme", "unpaid invoice")
        await bob.expect("has been suspended by the server's administrator (unpaid invoice)")
        with trio.fail_after(5):
            while (await bob.stream.receive_some(4096)) != b"":
                pass  # the connection is closed
        refused = await TelnetClient.connect(port)
        await refused.command("world acme", "There is no open world called acme here.")
        assert worlds.tenant("acme").state == "suspended"
        await ann.command("say still here", "You say: still here")  # others carry on

        await worlds.resume_tenant("acme")
        bob = await enter(port, "acme", "connect bob hunter22")

        # A quota changed live: one connection at a time in acme, at once.
        assert worlds.set_quotas("acme", {"max_connections": 1})["max_connections"] == 1
        third = await TelnetClient.connect(port)
        await third.command("world acme", "is full right now")
        worlds.set_quotas("acme", {"max_connections": 100})
        await third.command("world acme", "What is your name?")

        await worlds.delete_tenant("acme")
        await bob.expect("This world has been deleted.")
        with pytest.raises(NoSuchTenant):
            worlds.tenant("acme")
        with pytest.raises(BadRequest):
            await worlds.delete_tenant(worlds.config.tenant)
        for client in (ann, refused, third):
            await client.close()


async def test_tenants_quotas_settings_and_accounts_survive_a_restart(
    backend, basic_build, tmp_path, gadgets
):
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme", title="Acme Land", quotas={"max_objects": 777})
        v1 = await worlds.publish("acme", "/obj/gadget", gadgets["v1"])
        v2 = await worlds.publish("acme", "/obj/gadget", gadgets["v4"])
        assert v2.activated and v2.previous == v1.version
        await worlds.create_tenant("gone")
        await worlds.create_tenant("held")
        await publish_start_room(worlds, "acme", basic_build)
        worlds.set_quotas("acme", {"call_fuel": 12_345_678, "fuel_per_second": 9e7})
        bob = await enter(port, "acme", "create bob hunter22")
        await bob.command("quit", "Farewell")
        await worlds.suspend_tenant("held", "maintenance")
        await worlds.delete_tenant("gone")
        await trio.sleep(0.3)  # the group commit
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        assert sorted(worlds.realms) == ["acme", "demo", "held"]
        acme = worlds.tenant("acme")
        assert acme.title == "Acme Land" and acme.state == "active"
        q = worlds.quotas("acme")
        assert (q["max_objects"], q["call_fuel"], q["fuel_per_second"]) == (777, 12_345_678, 9e7)
        assert worlds.get("acme").tenant.quotas.limits.fuel == 12_345_678
        assert worlds.tenant("held").state == "suspended"
        assert worlds.tenant("held").suspended_reason == "maintenance"
        bob = await enter(port, "acme", "connect bob hunter22")
        # The versions kept survive too: a rollback reads the older one from the store.
        assert worlds.versions("acme", "/obj/gadget").current == v2.version
        back = await worlds.activate("acme", "/obj/gadget")
        assert back.activated and back.version == v1.version
        refused = await TelnetClient.connect(port)
        await refused.command("world held", "There is no open world called held here.")
        await bob.close()
        await refused.close()


async def test_a_worlds_code_cannot_reach_another_worlds_objects(
    backend, basic_build, tmp_path, guest_components
):
    """Ids of another tenant are simply not found, whatever is written: the
    probe (it reads `secret` of the object its command names) finds the
    secret in its own world, and nothing of the other world's."""
    probe = guest_components["query_target"].read_bytes()
    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme")
        await publish_start_room(worlds, "acme", basic_build)
        demo, acme = worlds.default.tenant, worlds.get("acme").tenant
        for tenant in (demo, acme):
            await tenant.publish("/obj/probe", probe, kind=RuntimeKind.WASM)
        stone = await demo.clone("/obj/stone")
        stone.set("secret", "demo-secret")
        stone.set("public", ["secret"])
        demo.move(stone, await demo.find("/rooms/start"))
        # A probe answers every verb typed in its room: it is taken away after.
        probes = [(demo, await demo.clone("/obj/probe")), (acme, await acme.clone("/obj/probe"))]
        for tenant, obj in probes:
            tenant.move(obj, await tenant.find("/rooms/start"))

        ann = await enter(port, None, "create ann secret99")
        seen = await ann.command(f"probe {stone.id}", "> ")
        assert "demo-secret" in seen, seen  # the probe works
        bob = await enter(port, "acme", "create bob hunter22")
        for name in (
            stone.id,
            f"demo:{stone.id}",
            f"/t/demo{stone.id}",
            f"demo/{stone.id}",
            f"../demo{stone.id}",
            "/player/ann",
        ):
            seen = await bob.command(f"probe {name}", "nothing")
            assert "demo-secret" not in seen
        # acme cannot clone what only the other world has.
        with pytest.raises(Exception, match="no such blueprint"):
            await acme.clone("/obj/stone")
        # A tell to the other world's player does not arrive.
        for tenant, obj in probes:
            tenant.move(obj, None)
        seen = await bob.command("tell ann psst", "> ")
        assert "You tell" not in seen, seen
        seen = await ann.command("look", "Obvious exits")
        assert "psst" not in seen
        await ann.close()
        await bob.close()


async def test_a_suspended_worlds_events_stop_and_quarantine_is_lifted_through_control(
    backend, basic_build, tmp_path, gadgets
):
    from driver.world import ids
    from sandbox.protocol import Hook

    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme", quotas={"quarantine_strikes": 3})
        await worlds.publish("acme", "/obj/gadget", gadgets["v1"])
        tenant = worlds.get("acme").tenant
        gadget = await tenant.clone("/obj/gadget")
        player = tenant.add_player(ids.player_id("bob"), {})

        async def command(verb: str) -> None:
            done = trio.Event()

            async def run() -> None:
                await tenant.run_hook(gadget, Hook.ON_COMMAND, (player.id, verb, ""))
                done.set()

            tenant.enqueue_command(player.id, run, always=True)
            with trio.fail_after(10):
                await done.wait()

        # A callout due in 100 ms does not run while the world is suspended.
        await command("arm")
        await worlds.suspend_tenant("acme")
        await trio.sleep(0.5)
        assert gadget.get("rings") is None
        await worlds.resume_tenant("acme")
        with trio.fail_after(10):
            while gadget.get("rings") != 1:
                await trio.sleep(0.02)

        # Three crashes quarantine the gadget; the admin API's release lifts it.
        for _ in range(3):
            await command("crash")
        assert [q.target for q in worlds.quarantines("acme")] == [gadget.id]
        assert worlds.usage("acme").errors_by_kind.get("trap", 0) >= 3
        assert any(e.kind == "trap" and e.version for e in worlds.errors("acme"))
        assert worlds.release("acme", gadget.id) == []
        with pytest.raises(BadRequest):
            worlds.release("acme", gadget.id)


async def test_quotas_set_through_control_are_enforced_with_a_clear_error(
    backend, basic_build, tmp_path, gadgets
):
    from driver.tenancy.errors import QuotaExceeded

    async with server(tmp_path, basic_build, backend) as (worlds, port, http):
        await worlds.create_tenant("acme")
        await worlds.publish("acme", "/obj/gadget", gadgets["v1"])
        tenant = worlds.get("acme").tenant
        worlds.set_quotas("acme", {"max_objects": len(tenant.graph) + 1})
        await tenant.clone("/obj/gadget")
        with pytest.raises(QuotaExceeded, match="object quota reached"):
            await tenant.clone("/obj/gadget")
        worlds.set_quotas("acme", {"max_component_bytes": 1000})
        with pytest.raises(QuotaExceeded, match="max_component_bytes"):
            await worlds.publish("acme", "/obj/gadget", gadgets["v2"])
        assert (
            worlds.versions("acme", "/obj/gadget").current
            == tenant.blueprints.get("/obj/gadget").version
        )
        worlds.set_quotas("acme", {"max_component_bytes": 16 << 20, "versions_kept": 2})
        for name in ("v2", "v3", "v4"):
            await worlds.publish("acme", "/obj/gadget", gadgets[name])
        assert len(worlds.versions("acme", "/obj/gadget").versions) == 2
        with pytest.raises(BadRequest, match="negative"):
            worlds.set_quotas("acme", {"call_fuel": -1})
        with pytest.raises(BadRequest, match="whole number"):
            worlds.set_quotas("acme", {"max_objects": 1.5})

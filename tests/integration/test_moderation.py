"""Roles and moderation in game: an admin makes and unmakes wizards, kicks,
bans (by account and by address, with an expiry), unbans, broadcasts,
shuts the server down with a countdown and resets passwords; wizards and
players can do none of it; roles and bans survive a restart."""

from __future__ import annotations

from pathlib import Path

import trio

from driver.app import RealmConfig, open_realm
from driver.auth.accounts import hash_password, new_account, verify_password
from driver.server import serve
from driver.store.sqlite import SqliteStore

from ..driver_support import (
    BASIC_WORLD,
    CHEAP,
    FakeClock,
    FakeSession,
    TelnetClient,
    as_runtime,
    login,
    make_realm,
    running,
    send,
    wait_for,
)

ADMIN_ONLY = ("wizard ann", "unwizard ann", "kick ann", "ban ann", "unban ann", "bans",
              "broadcast hi", "shutdown 5", "passwd ann")  # fmt: skip


async def admin_realm(sandbox, basic_build):
    realm = await make_realm(sandbox, BASIC_WORLD, basic_build)
    realm.accounts.create(new_account("boss", hash_password("bossword", CHEAP), is_admin=True))
    return realm


async def refused(realm, line: str, peer: str = "127.0.0.1:9") -> FakeSession:
    """A connection that types ``line`` and is shown the door."""
    session = FakeSession(peer)
    handler = realm.players.connect(session)
    if session.closed is None:
        handler.on_line(line)
    with trio.fail_after(5):
        while session.closed is None:
            await trio.sleep(0.005)
    return session


async def test_wizard_and_unwizard_and_who_may_moderate(sandbox, basic_build):
    realm = await admin_realm(sandbox, basic_build)
    async with running(realm):
        boss, bh = await login(realm, "connect boss bossword")
        ann, ah = await login(realm, "create ann secret99")
        wiz, wh = await login(realm, "connect admin wizardly")  # a wizard, not an admin
        assert realm.accounts.get("boss").is_admin and realm.accounts.get("boss").is_wizard
        out = await send(boss, bh, "help", "Admin commands")
        assert "Wizard commands" in out
        for line in ADMIN_ONLY:
            await send(ann, ah, line, "What?")
            await send(wiz, wh, line, "What?")
        await send(ann, ah, "clone /obj/stone", "What?")

        await send(boss, bh, "wizard ann", "Ann is now a wizard.")
        await wait_for(ann, "Boss has made you a wizard of Testland")
        assert realm.accounts.get("ann").is_wizard
        await send(ann, ah, "clone /obj/stone", "Cloned /obj/stone#")  # at once, same session
        await send(ann, ah, "kick boss", "What?")  # still not an admin
        await send(boss, bh, "wizard ann", "Ann is already a wizard.")
        await send(boss, bh, "wizard nobody", "There is no character called nobody.")
        await send(boss, bh, "unwizard boss", "Boss is an admin")
        await send(boss, bh, "unwizard ann", "Ann is no longer a wizard.")
        await wait_for(ann, "has taken away your wizard powers")
        assert not realm.accounts.get("ann").is_wizard
        await send(ann, ah, "clone /obj/stone", "What?")
        await send(boss, bh, "passwd admin", "Resetting the password of Admin")  # a wizard: yes


async def test_kick_broadcast_and_passwd(sandbox, basic_build):
    realm = await admin_realm(sandbox, basic_build)
    async with running(realm):
        boss, bh = await login(realm, "connect boss bossword")
        ann, ah = await login(realm, "create ann secret99")
        bob, bobh = await login(realm, "create bob hunter22")

        await send(boss, bh, "broadcast The tavern opens at noon!", "[Broadcast] Boss: The tavern")
        await wait_for(ann, "[Broadcast] Boss: The tavern opens at noon!")
        await wait_for(bob, "[Broadcast] Boss: The tavern opens at noon!")

        await send(boss, bh, "kick bob spamming the square", "You kick Bob.")
        await wait_for(bob, "You have been kicked from Testland by Boss: spamming the square")
        with trio.fail_after(5):
            while bob.closed is None or "/player/bob" in realm.presence.links:
                await trio.sleep(0.005)
        await wait_for(ann, "Bob leaves the game.")
        with trio.fail_after(5):
            while realm.tenant.graph.get("/player/bob").env is not None:  # stowed, as on quit
                await trio.sleep(0.005)
        await send(boss, bh, "kick bob", "Bob is not in the game.")
        await send(boss, bh, "kick boss", "You cannot kick yourself")
        await login(realm, "connect bob hunter22")  # a kick is not a ban

        # passwd: a new random password, shown once to the admin; the player is told.
        out = await send(boss, bh, "passwd ann", "(shown once")
        new = out.split("The new password of Ann is: ", 1)[1].split()[0]
        await wait_for(ann, "Boss has reset your password")
        assert verify_password(new, realm.accounts.get("ann").password_hash)
        session = FakeSession()
        handler = realm.players.connect(session)
        handler.on_line("connect ann secret99")
        await wait_for(session, "Wrong password.")
        await login(realm, f"connect ann {new}")
        await send(boss, bh, "passwd ghost", "There is no character called ghost.")


async def test_bans_by_account_and_address_with_expiry(sandbox, basic_build):
    realm = await admin_realm(sandbox, basic_build)
    clock = FakeClock(1_700_000_000.0)
    realm.players.moderation.bans.clock = clock
    async with running(realm):
        boss, bh = await login(realm, "connect boss bossword")
        ann, ah = await login(realm, "create ann secret99")
        bob, bobh = await login(realm, "create bob hunter22", peer="203.0.113.9:5000")
        carl, ch = await login(realm, "create carl carlpass", peer="[2001:db8:1:2::77]:6000")
        # A second connection from Bob's address, still at the login screen.
        lurker = FakeSession("203.0.113.9:5001")
        realm.players.connect(lurker)

        # By account, for a while: kicked at once, refused at login with the time left.
        out = await send(boss, bh, "ban ann for 30m flooding", "Banned account Ann")
        assert "30 minutes from now" in out and "(1 disconnected)" in out
        await wait_for(ann, "You have been banned from Testland until")
        await wait_for(ann, "Reason: flooding")
        session = await refused(realm, "connect ann secret99")
        assert "Ann is banned from Testland until" in session.text()
        assert "30 minutes from now" in session.text() and "Reason: flooding" in session.text()
        session = FakeSession()  # no password, no news of the ban
        realm.players.connect(session).on_line("connect ann wrongpass")
        assert "banned" not in await wait_for(session, "Wrong password.")

        # By address (IPv4): every session from it goes, and new ones meet a closed door.
        await send(boss, bh, "ban 203.0.113.9 for 2h", "(2 disconnected)")
        await wait_for(bob, "This address has been banned from Testland")
        assert lurker.closed and "This address has been banned" in lurker.text()
        session = await refused(realm, "connect bob hunter22", peer="203.0.113.9:5002")
        assert "This address is banned from Testland until" in session.text()
        assert "What is your name?" not in session.text()
        await login(realm, "create dora dorapass", peer="203.0.113.10:1")  # the neighbour is fine

        # By address (IPv6): the whole /64.
        await send(boss, bh, "ban 2001:db8:1:2::1", "Banned address 2001:db8:1:2::/64 for good")
        await wait_for(carl, "This address has been banned")
        await refused(realm, "connect carl carlpass", peer="[2001:db8:1:2:aaaa::1]:1")
        await login(realm, "connect carl carlpass", peer="[2001:db8:1:3::1]:1")

        out = await send(boss, bh, "bans", "3 bans")
        assert "flooding" in out and "by Boss" in out and "for good" in out
        await send(boss, bh, "ban boss", "Boss is an admin")
        await send(boss, bh, "ban 127.0.0.1", "An admin is connected from 127.0.0.1")
        await send(boss, bh, "ban ann for ever", "For how long?")

        # Expiry: the account ban ends by itself.
        clock.advance(31 * 60)
        await login(realm, "connect ann secret99")
        await refused(realm, "connect bob hunter22", peer="203.0.113.9:5003")  # 2 h: still on
        await send(boss, bh, "unban 203.0.113.9", "is lifted")
        await login(realm, "connect bob hunter22", peer="203.0.113.9:5004")
        await send(boss, bh, "unban 203.0.113.9", "is not banned")
        out = await send(boss, bh, "bans", "1 ban")
        assert "2001:db8:1:2::/64" in out


async def test_shutdown_countdown_and_cancel(sandbox, basic_build):
    realm = await admin_realm(sandbox, basic_build)
    moderation = realm.players.moderation
    waited: list[float] = []

    async def fast(seconds: float) -> None:
        waited.append(seconds)
        await trio.sleep(seconds / 200)

    moderation.sleep = fast
    stopped = trio.Event()
    async with running(realm):
        boss, bh = await login(realm, "connect boss bossword")
        ann, ah = await login(realm, "create ann secret99")
        await send(boss, bh, "shutdown 60", "Shutdown is not available on this server.")
        realm.players.request_shutdown = stopped.set

        await send(boss, bh, "shutdown 120 new version", "Shutting down in 2 minutes")
        await wait_for(
            ann, "The server will shut down in 2 minutes (new version), by order of Boss."
        )
        await wait_for(ann, "The server will shut down in 1 minute (new version)")
        await send(boss, bh, "shutdown 10", "A shutdown is already under way")
        await send(boss, bh, "shutdown cancel", "The shutdown is cancelled by Boss.")
        await wait_for(ann, "The shutdown is cancelled by Boss.")
        await trio.sleep(0.5)  # the rest of 120 s, sped up: nothing more happens
        assert not stopped.is_set()
        await send(boss, bh, "shutdown cancel", "No shutdown is under way.")

        ann.out.clear()
        await send(boss, bh, "shutdown 12", "Shutting down in 12 seconds")
        with trio.fail_after(5):
            await stopped.wait()
        seen = ann.text()
        for left in ("12 seconds", "10 seconds", "5 seconds", "4 seconds", "3 seconds",
                     "2 seconds", "1 second."):  # fmt: skip
            assert f"The server will shut down in {left}" in seen, left
        assert seen.index("10 seconds") < seen.index("5 seconds") < seen.index("1 second.")
        assert "shutting down now" in seen
        assert sum(waited[-7:]) == 12


async def test_roles_and_bans_survive_a_restart(sandbox, basic_build, tmp_path: Path):
    data = tmp_path / "var"
    config = RealmConfig(
        world_dir=BASIC_WORLD, build_dir=basic_build, data_dir=data, kdf_params=CHEAP
    )
    runtime = as_runtime(sandbox)
    realm, persistence = await open_realm(config, runtime)
    realm.accounts.create(new_account("boss", hash_password("bossword", CHEAP), is_admin=True))

    async def first(port: int) -> None:
        ann = await TelnetClient.log_in(port, "create ann secret99")
        bob = await TelnetClient.log_in(port, "create bob hunter22")
        boss = await TelnetClient.log_in(port, "connect boss bossword")
        await boss.command("wizard ann", "Ann is now a wizard.")
        await boss.command("ban bob for 7d cheating", "Banned account Bob")
        await boss.command("ban 198.51.100.4", "Banned address 198.51.100.4")
        for client in (ann, bob, boss):
            await client.close()

    await _serve(realm, persistence, first)
    persistence.store.close()

    again, persistence2 = await open_realm(config, runtime)
    try:
        accounts = again.accounts
        assert accounts.get("ann").is_wizard and not accounts.get("ann").is_admin
        assert accounts.get("boss").is_admin
        assert again.players.moderation.bans.of_account("bob").reason == "cheating"

        async def second(port: int) -> None:
            bob = await TelnetClient.connect(port)
            await bob.expect("What is your name?")
            await bob.command("connect bob hunter22", "Bob is banned from Testland until")
            ann = await TelnetClient.log_in(port, "connect ann secret99")
            await ann.command("clone /obj/stone", "Cloned /obj/stone#")
            out = await ann.command("help", "Wizard commands")
            assert "Admin commands" not in out
            boss = await TelnetClient.log_in(port, "connect boss bossword")
            await boss.command("bans", "2 bans")
            await boss.command("unban bob", "is lifted")
            for client in (ann, boss):
                await client.close()

        await _serve(again, persistence2, second)
    finally:
        persistence2.store.close()
    store = SqliteStore(data, readonly=True)
    try:
        assert [(b.kind, b.target) for b in store.bans()] == [("address", "198.51.100.4")]
    finally:
        store.close()


async def _serve(realm, persistence, body) -> None:
    async with trio.open_nursery() as nursery:
        telnet, _ = await nursery.start(
            lambda task_status: serve(realm, ("127.0.0.1", 0), ("127.0.0.1", 0),
                                      persistence=persistence, task_status=task_status)
        )  # fmt: skip
        await body(telnet)
        nursery.cancel_scope.cancel()


def test_an_admin_round_trips_through_the_store_and_a_dump(tmp_path: Path) -> None:
    from driver.auth.accounts import ensure_admin
    from driver.store import snapshot
    from driver.store.records import BanRow

    store = SqliteStore(tmp_path / "var")
    try:
        # An `admin` made a wizard before there were roles becomes the admin.
        store.create(new_account("admin", hash_password("wizardly", CHEAP), is_wizard=True))
        assert ensure_admin(store, {}, params=CHEAP) is None
        assert store.get("admin").is_admin
        acme = store.accounts_of("acme")
        acme.create(new_account("zed", hash_password("zedzedzed", CHEAP), is_admin=True))
        acme.create(new_account("yan", hash_password("yanyanyan", CHEAP), is_wizard=True))
        store.put_ban(BanRow("acme", "account", "xavier", None, "spam", "Zed"))
        snapshot.dump_to_path(store, tmp_path / "world.dump")
    finally:
        store.close()
    snapshot.restore(tmp_path / "world.dump", tmp_path / "copy")
    copy = SqliteStore(tmp_path / "copy")
    try:
        acme = copy.accounts_of("acme")
        assert acme.get("zed").is_admin and acme.get("zed").is_wizard
        assert acme.get("yan").is_wizard and not acme.get("yan").is_admin
        assert copy.get("admin").is_admin
        assert [b.target for b in copy.bans()] == ["xavier"]
    finally:
        copy.close()

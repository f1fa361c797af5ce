"""What a login form needs from the server, out of band (GMCP): the rules it
checks names and passwords by (Char.Login.Rules, as soon as the client says
it takes GMCP) and the answer to a one-line login (Char.Login.Result, with
the reason when it is refused)."""

from __future__ import annotations

import trio

from driver.auth.rules import login_rules

from ..driver_support import BASIC_WORLD, FakeSession, make_realm, running, wait_for


async def wait_gmcp(session: FakeSession, package: str, count: int = 1) -> list:
    with trio.fail_after(5):
        while sum(1 for p, _ in session.gmcp if p == package) < count:
            await trio.sleep(0.005)
    return [data for p, data in session.gmcp if p == package]


async def test_the_login_form_gets_the_rules_and_each_answer(sandbox, basic_build):
    realm = await make_realm(sandbox, BASIC_WORLD, basic_build)
    async with running(realm):
        session = FakeSession()
        handler = realm.players.connect(session)
        handler.on_gmcp("Core.Supports.Set", ["Char 1"])
        assert (await wait_gmcp(session, "Char.Login.Rules"))[0] == login_rules()

        handler.on_line("create Bob_2 secret99")
        result = (await wait_gmcp(session, "Char.Login.Result"))[-1]
        assert result["success"] is False and "letters" in result["message"]
        handler.on_line("connect nobody secret99")
        result = (await wait_gmcp(session, "Char.Login.Result", 2))[-1]
        assert result == {"success": False, "message": result["message"]}
        assert result["message"].startswith("There is no character called Nobody.")
        handler.on_line("create carolyn carolyn")
        result = (await wait_gmcp(session, "Char.Login.Result", 3))[-1]
        assert result["message"] == "Your password may not be your name."
        handler.on_line("create carolyn secret99")
        assert (await wait_gmcp(session, "Char.Login.Result", 4))[-1] == {"success": True}
        await wait_for(session, "Obvious exits")

        again = FakeSession()
        other = realm.players.connect(again)
        other.on_line("connect carolyn wrong999")
        result = (await wait_gmcp(again, "Char.Login.Result"))[-1]
        assert result == {"success": False, "message": "Wrong password."}
        # The prompted flow for people is not a form's: no result is sent.
        other.on_line("carolyn")
        await wait_for(again, "Password:")
        other.on_line("wrong999")
        with trio.fail_after(5):
            while again.text().count("Wrong password.") < 2:
                await trio.sleep(0.005)
        assert len([p for p, _ in again.gmcp if p == "Char.Login.Result"]) == 1

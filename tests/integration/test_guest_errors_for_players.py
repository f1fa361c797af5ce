"""When world code fails, a player sees a short, friendly message and a
reference; the details (the trap, the wasm message, the object and hook) go
to the tenant's error log, where `errors <ref>` finds them, and to the
wizards. Players over FakeSessions, the real realm, the basic test world
(its /obj/ticker traps on `boom`)."""

from __future__ import annotations

import re

import trio

from ..driver_support import BASIC_WORLD, login, make_realm, running, send, wait_for


async def test_world_code_failure_shows_a_friendly_message_and_a_reference(backend, basic_build):
    realm = await make_realm(backend, BASIC_WORLD, basic_build, linkdead_seconds=30.0)
    async with running(realm):
        ann, ah = await login(realm, "create ann secret99")
        wiz, wh = await login(realm, "connect admin wizardly")
        gadget = await realm.tenant.clone("/obj/ticker")
        realm.tenant.move(gadget, await realm.tenant.find("/rooms/start"))
        out = await send(ann, ah, "boom", "(ref ")
        assert "Something went wrong with" in out
        for internal in ("trap", "wasm", "unreachable", "memory", "/obj/ticker", "on-command"):
            assert internal not in out, out
        ref = re.search(r"\(ref ([0-9a-f]{6})\)", out)
        assert ref is not None, out
        record = realm.tenant.errors[-1]
        assert record.ref == ref.group(1) and record.kind == "trap" and record.object_id == gadget.id
        # The wizards hear of it, details and all; `errors` lists it by ref.
        await wait_for(wiz, f"[error {record.ref}]")
        out = await send(wiz, wh, "errors", "trap")
        assert record.ref in out and gadget.id in out
        out = await send(wiz, wh, f"errors {record.ref}", "trap")
        assert "Ann" in out or "/player/ann" in out, out
        # A wizard who sets it off sees the details at once.
        out = await send(wiz, wh, "boom", "(ref ")
        assert "trap" in out
        with trio.move_on_after(0.2):
            await wait_for(ann, "trap")
            raise AssertionError("a player saw a wizard's error details")

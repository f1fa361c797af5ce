"""The operators' log: plain and JSON lines, the tenant in every record,
player text that cannot forge a line, and the rate limit per kind."""

from __future__ import annotations

import io
import json
from pathlib import Path

from driver import oplog
from driver.oplog import OpLog

from ..driver_support import FakeClock


def lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_json_lines_parse_and_carry_the_tenant() -> None:
    out = io.StringIO()
    log = OpLog(out, format="json", wall=lambda: 1_700_000_000.25)
    log.event(oplog.LOGIN, "demo", name="Ann", address="203.0.113.7")
    log.event(oplog.SERVER_START, None, version="1.0", ports=[4000, 4080])
    log.event(
        oplog.BAN, "acme", ban="account", target="bob", until=None, reason='say "hi"\nfake line'
    )
    records = [json.loads(line) for line in lines(out)]
    assert len(records) == 3
    assert records[0] == {
        "ts": "2023-11-14T22:13:20.250Z", "kind": "login", "tenant": "demo",
        "name": "Ann", "address": "203.0.113.7",
    }  # fmt: skip
    assert records[1]["tenant"] is None and records[1]["ports"] == [4000, 4080]
    assert records[2]["reason"] == 'say "hi"\nfake line' and records[2]["until"] is None


def test_plain_lines_quote_what_a_player_typed() -> None:
    out = io.StringIO()
    log = OpLog(out, format="plain", wall=lambda: 0.0)
    log.event(oplog.KICK, "demo", name="Bob", by="Admin", reason="spamming\nkind=login tenant=x")
    log.event(oplog.LOGOUT, None, name="Ann", ok=True, n=3)
    first, second = lines(out)
    assert first.startswith("1970-01-01T00:00:00.000Z kick tenant=demo name=Bob by=Admin reason=")
    assert json.loads(first.split("reason=", 1)[1]) == "spamming\nkind=login tenant=x"
    assert second.endswith("logout tenant=- name=Ann ok=true n=3")


def test_each_kind_is_rate_limited_and_the_rest_summarised() -> None:
    out = io.StringIO()
    clock = FakeClock(100.0)
    log = OpLog(out, format="json", burst=3, window=10.0, clock=clock)
    for i in range(500):
        log.event(oplog.LOGIN_FAILED, "demo", name="admin", address=f"198.51.100.{i % 250}")
    log.event(oplog.LOGIN, "demo", name="Ann")  # another kind has its own budget
    records = [json.loads(line) for line in lines(out)]
    assert [r["kind"] for r in records] == ["login_failed"] * 3 + ["login"]
    clock.advance(10.0)  # the window ends: the next record brings the summary
    log.event(oplog.LOGIN_FAILED, "demo", name="admin")
    records = [json.loads(line) for line in lines(out)][4:]
    assert records[0]["kind"] == "suppressed" and records[0]["of"] == "login_failed"
    assert records[0]["count"] == 497
    assert records[1]["kind"] == "login_failed"
    for _ in range(10):
        log.event(oplog.LOGIN_FAILED, "demo", name="admin")
    log.flush()  # at stop: what is pending is summarised
    last = json.loads(lines(out)[-1])
    assert last["kind"] == "suppressed" and last["count"] == 8


def test_configure_a_file_and_the_module_level_event(tmp_path: Path) -> None:
    path = tmp_path / "ops.log"
    previous = oplog.current()
    try:
        oplog.configure("json", path)
        oplog.event(oplog.TENANT_CREATED, "acme", by="root")
        oplog.flush()
        assert json.loads(path.read_text())["kind"] == "tenant_created"
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        oplog.install(previous).close()


def test_unconfigured_events_go_to_the_logging_module(caplog) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="jitrealm.oplog"):
        OpLog(None).event(oplog.GUEST_ERROR, "demo", ref="7f3a2c")
    assert "guest_error tenant=demo ref=7f3a2c" in caplog.text

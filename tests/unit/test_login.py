"""The login screen state machine, driven without sockets or threads."""

from __future__ import annotations

import dataclasses
import re

import pytest

from driver.auth.accounts import (
    PasswordCheck,
    ScryptParams,
    hash_params,
    hash_password,
    new_account,
    verify_password,
)
from driver.auth.login import (
    MAX_LINE_CHARS,
    MAX_PENDING_LINES,
    Action,
    Disconnect,
    EchoOff,
    EchoOn,
    HashPassword,
    LoggedIn,
    Login,
    LoginStateError,
    Prompt,
    Show,
    ShowWho,
    Stage,
    VerifyPassword,
    peer_host,
)
from driver.store.accounts import MemoryAccountStore

from ..driver_support import FakeClock, make_throttle

FAST = ScryptParams(n=16, r=1, p=1)
OTHER = ScryptParams(n=32, r=1, p=1)
NOW = 1_700_000_000.0


class Harness:
    """One store and throttle shared by any number of connections, and a
    stand-in for the driver that runs KDF actions inline."""

    def __init__(self) -> None:
        self.store = MemoryAccountStore()
        self.monotonic = FakeClock(1000.0)
        self.throttle = make_throttle(self.monotonic)

    def add(self, name: str, password: str, *, params: ScryptParams = FAST, **kw: object) -> None:
        self.store.create(new_account(name, hash_password(password, params), now=NOW - 100, **kw))  # type: ignore[arg-type]

    def login(self, address: str = "10.0.0.1", **kw: object) -> Login:
        return Login(self.store, self.throttle, address, params=FAST, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def run(login: Login, actions: list[Action]) -> list[Action]:
    """Perform KDF actions the way the driver would, returning every action."""
    out: list[Action] = []
    queue = list(actions)
    while queue:
        action = queue.pop(0)
        out.append(action)
        if isinstance(action, HashPassword):
            queue = login.password_hashed(action.compute()) + queue
        elif isinstance(action, VerifyPassword):
            queue = login.password_checked(action.compute()) + queue
    return out


def send(login: Login, *lines: str) -> list[Action]:
    out: list[Action] = []
    for line in lines:
        out += run(login, login.on_line(line))
    return out


def text(actions: list[Action]) -> str:
    return "".join(a.text for a in actions if isinstance(a, Show))


def last_prompt(actions: list[Action]) -> str:
    prompts = [a.text for a in actions if isinstance(a, Prompt)]
    return prompts[-1] if prompts else ""


def logged_in(actions: list[Action]) -> LoggedIn | None:
    found = [a for a in actions if isinstance(a, LoggedIn)]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.fixture
def h() -> Harness:
    return Harness()


# -- the welcome screen --------------------------------------------------------


def test_start_shows_banner_help_and_name_prompt(h: Harness) -> None:
    actions = h.login().start()
    shown = re.sub(r"\{[a-z/ ]*\}", "", text(actions))  # drop colour tags
    assert "Welcome to JitRealm" in shown
    assert "connect <name> <password>" in shown and "create <name> <password>" in shown
    assert isinstance(actions[-1], Prompt) and "name" in actions[-1].text.lower()
    assert all(a.text.endswith("\n") for a in actions if isinstance(a, Show))
    assert max(len(row) for row in shown.splitlines()) <= 80


def test_empty_line_reprompts(h: Harness) -> None:
    login = h.login()
    assert send(login, "   ") == [Prompt(last_prompt(login.start()))]


def test_help_and_new(h: Harness) -> None:
    login = h.login()
    assert "connect <name> <password>" in text(send(login, "help"))
    assert "type the name you would like" in text(send(login, "new"))
    assert login.stage is Stage.NAME


def test_who(h: Harness) -> None:
    login = h.login()
    actions = send(login, "WHO")
    assert actions[0] == ShowWho() and isinstance(actions[-1], Prompt)
    assert login.stage is Stage.NAME


def test_quit(h: Harness) -> None:
    login = h.login()
    actions = send(login, "quit")
    assert "Goodbye" in text(actions)
    assert isinstance(actions[-1], Disconnect)
    assert login.done
    assert send(login, "connect alice secret") == []


def test_unknown_multiword_input(h: Harness) -> None:
    login = h.login()
    assert "single word" in text(send(login, "hello there"))
    assert login.stage is Stage.NAME


@pytest.mark.parametrize("line", ["connect", "create"])
def test_usage(h: Harness, line: str) -> None:
    assert f"Usage: {line} <name> <password>" in text(send(h.login(), line))


# -- one-line commands ---------------------------------------------------------


def test_create_one_line(h: Harness) -> None:
    login = h.login()
    actions = send(login, "create alice s3cret!")
    hashing = [a for a in actions if isinstance(a, HashPassword)]
    assert len(hashing) == 1 and "s3cret" not in repr(hashing[0])
    done = logged_in(actions)
    assert done is not None and done.created and done.name == "Alice" and not done.is_wizard
    assert "Welcome to JitRealm, Alice" in text(actions)
    stored = h.store.get("ALICE")
    assert stored == done.account
    assert stored.created_at == NOW and stored.last_login == NOW
    assert verify_password("s3cret!", stored.password_hash)
    assert login.done


def test_password_may_contain_spaces_in_one_line(h: Harness) -> None:
    login = h.login()
    assert logged_in(send(login, "create alice correct horse battery"))
    assert verify_password("correct horse battery", h.store.get("alice").password_hash)
    assert logged_in(send(h.login(), "connect Alice   correct horse battery  "))


def test_connect_one_line(h: Harness) -> None:
    h.add("alice", "secret", is_wizard=True)
    h.store.update(dataclasses.replace(h.store.get("alice"), last_login=0.0))
    login = h.login()
    actions = send(login, "connect ALICE secret")
    assert any(isinstance(a, VerifyPassword) for a in actions)
    done = logged_in(actions)
    assert done is not None and not done.created and done.is_wizard and done.name == "Alice"
    assert done.previous_login == 0.0
    assert "Welcome back, Alice" in text(actions) and "1970-01-01 00:00 UTC" in text(actions)
    assert h.store.get("alice").last_login == NOW


def test_connect_wrong_password(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    actions = send(login, "connect alice wrong1")
    assert "Wrong password" in text(actions)
    assert logged_in(actions) is None
    assert login.stage is Stage.NAME and not any(isinstance(a, EchoOff) for a in actions)
    assert h.store.get("alice").last_login is None


def test_connect_unknown_name(h: Harness) -> None:
    login = h.login()
    actions = send(login, "connect zelda secret")
    assert "no character called Zelda" in text(actions)
    assert "create Zelda <password>" in text(actions)
    assert not any(isinstance(a, VerifyPassword) for a in actions)
    assert login.stage is Stage.NAME


def test_create_taken_name_case_insensitive(h: Harness) -> None:
    h.add("alice", "secret")
    actions = send(h.login(), "create ALICE other-pw")
    assert "already taken" in text(actions)
    assert not any(isinstance(a, HashPassword) for a in actions)


@pytest.mark.parametrize("name", ["admin", "God", "root", "SYSTEM", "who", "new", "quit"])
def test_create_reserved_name(h: Harness, name: str) -> None:
    actions = send(h.login(), f"create {name} good-password")
    assert "reserved" in text(actions)
    assert h.store.count() == 0


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("Qx", "3 to 16"),
        ("abcdefghijklmnopq", "3 to 16"),
        ("r2d2", "letters a to z"),
        ("Ålice", "letters a to z"),
        ("josé", "letters a to z"),
        ("名前です", "letters a to z"),
    ],
)
@pytest.mark.parametrize("verb", ["create", "connect"])
def test_bad_names_one_line(h: Harness, verb: str, name: str, fragment: str) -> None:
    login = h.login()
    actions = send(login, f"{verb} {name} good-password")
    assert fragment in text(actions)
    assert name not in text(actions)  # never echo what failed validation
    assert h.store.count() == 0 and login.stage is Stage.NAME


@pytest.mark.parametrize(
    "password, fragment",
    [("abc", "at least 6"), ("Alicea", "your name"), ("x" * 129, "at most 128 bytes")],
)
def test_create_bad_password_one_line(h: Harness, password: str, fragment: str) -> None:
    login = h.login()
    actions = send(login, f"create alicea {password}")
    assert fragment in text(actions)
    assert h.store.count() == 0 and login.stage is Stage.NAME


# -- the prompted flow ---------------------------------------------------------


def test_prompted_login(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    actions = send(login, "Alice")
    assert actions == [EchoOff(), Prompt("Password: ")]
    actions = send(login, "secret")
    assert actions[0] == EchoOn()
    assert isinstance(actions[1], VerifyPassword)
    done = logged_in(actions)
    assert done is not None and done.name == "Alice" and not done.created
    assert "last login" not in text(actions)  # there was none before


def test_prompted_login_wrong_password_asks_again(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    send(login, "alice")
    actions = send(login, "wrong!")
    assert actions[0] == EchoOn()
    assert "Wrong password" in text(actions)
    assert actions[-2:] == [EchoOff(), Prompt("Password: ")]
    assert logged_in(send(login, "secret")) is not None


def test_prompted_login_empty_password_cancels(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    send(login, "alice")
    actions = send(login, "")
    assert actions[0] == EchoOn() and "cancelled" in text(actions)
    assert login.stage is Stage.NAME


def test_connect_with_name_only_asks_for_password(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    assert send(login, "connect alice") == [EchoOff(), Prompt("Password: ")]
    assert logged_in(send(login, "secret")) is not None


def test_connect_with_unknown_name_only(h: Harness) -> None:
    login = h.login()
    assert "no character called Bob" in text(send(login, "connect bob"))
    assert login.stage is Stage.NAME


def test_prompted_create(h: Harness) -> None:
    login = h.login()
    actions = send(login, "bob")
    assert actions == [Prompt("There is no character called Bob. Create it? (yes/no) ")]
    assert "yes or no" in text(send(login, "maybe"))
    actions = send(login, "YES")
    assert actions[0] == EchoOff() and "Choose a password" in last_prompt(actions)
    actions = send(login, "abc")
    assert actions[0] == EchoOn() and "at least 6" in text(actions)
    assert actions[-2] == EchoOff()
    actions = send(login, "bobbob")
    assert "your name" not in text(actions)  # "bobbob" is fine for Bob
    assert "again" in last_prompt(actions) and EchoOff() in actions
    actions = send(login, "bobbob-typo")
    assert "do not match" in text(actions) and "Choose a password" in last_prompt(actions)
    send(login, "hunter22")
    actions = send(login, "hunter22")
    done = logged_in(actions)
    assert done is not None and done.created and done.name == "Bob"
    assert verify_password("hunter22", h.store.get("bob").password_hash)


def test_prompted_create_declined(h: Harness) -> None:
    login = h.login()
    send(login, "bob")
    assert send(login, "n") == [Prompt("What is your name? ")]
    assert h.store.count() == 0


def test_prompted_create_quit_at_question(h: Harness) -> None:
    login = h.login()
    send(login, "bob")
    assert isinstance(send(login, "quit")[-1], Disconnect)


def test_prompted_create_password_equal_to_name(h: Harness) -> None:
    login = h.login()
    send(login, "create robert")
    assert "your name" in text(send(login, "ROBERT"))
    assert login.stage is Stage.NEW_PASSWORD


def test_prompted_create_cancel(h: Harness) -> None:
    login = h.login()
    send(login, "create robert")
    assert "cancelled" in text(send(login, ""))
    assert login.stage is Stage.NAME


@pytest.mark.parametrize("name", ["Ålice", "josé", "x", "r2d2"])
def test_bad_names_prompted(h: Harness, name: str) -> None:
    login = h.login()
    actions = send(login, name)
    assert "letters" in text(actions)
    assert login.stage is Stage.NAME


def test_prompted_reserved_name(h: Harness) -> None:
    login = h.login()
    assert "reserved" in text(send(login, "god"))
    assert login.stage is Stage.NAME


def test_prompted_login_for_admin(h: Harness) -> None:
    h.add("admin", "admin-pass", is_wizard=True)
    login = h.login()
    send(login, "admin")
    done = logged_in(send(login, "admin-pass"))
    assert done is not None and done.is_wizard


# -- throttling and failures ---------------------------------------------------


def test_three_wrong_passwords_disconnect(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    send(login, "connect alice wrong1", "connect alice wrong2")
    actions = send(login, "connect alice wrong3")
    assert "Too many failed attempts" in text(actions)
    assert isinstance(actions[-1], Disconnect) and login.done


def test_account_lockout_refuses_without_checking(h: Harness) -> None:
    h.add("alice", "secret")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        send(h.login(address), "connect alice wrong!")
    login = h.login("10.0.0.4")
    actions = send(login, "connect alice secret")
    assert "Please wait 2 seconds" in text(actions)
    assert not any(isinstance(a, VerifyPassword) for a in actions)
    # The prompted flow refuses before asking for the password.
    actions = send(login, "alice")
    assert "Please wait" in text(actions) and EchoOff() not in actions
    h.monotonic.advance(2)
    assert logged_in(send(login, "connect alice secret")) is not None
    # Success reset the count.
    assert h.throttle.retry_after("10.0.0.1", "alice") == 0


def test_lockout_message_after_the_failure_that_caused_it(h: Harness) -> None:
    h.add("alice", "secret")
    send(h.login("10.0.0.1"), "connect alice wrong!", "connect alice wrong!")
    login = h.login("10.0.0.2")
    send(login, "alice")
    actions = send(login, "wrong!")  # third failure: locks the account
    assert "Wrong password" in text(actions) and "Please wait" in text(actions)
    assert login.stage is Stage.NAME


def test_address_lockout_across_accounts(h: Harness) -> None:
    for name in ("anna", "bert", "carl", "dora", "emil", "fred"):
        h.add(name, "secret")
    for name in ("anna", "bert", "carl", "dora", "emil"):
        send(h.login("10.6.6.6"), f"connect {name} guess1")
    actions = send(h.login("10.6.6.6"), "connect fred secret")
    assert "Please wait" in text(actions) and logged_in(actions) is None
    assert logged_in(send(h.login("10.0.0.7"), "connect fred secret")) is not None


def test_locked_out_during_verify_by_another_session(h: Harness) -> None:
    """Failures are counted before the KDF runs, so concurrent sessions
    cannot each sneak in a guess past the limit."""
    h.add("alice", "secret")
    sessions = [h.login(f"10.0.1.{i}") for i in range(4)]
    pending = [s.on_line("connect alice guess1") for s in sessions[:3]]
    assert all(isinstance(p[-1], VerifyPassword) for p in pending)
    fourth = sessions[3].on_line("connect alice secret")
    assert "Please wait" in text(fourth)
    assert not any(isinstance(a, VerifyPassword) for a in fourth)


# -- input that is too big or arrives at the wrong time ------------------------


def test_oversized_line(h: Harness) -> None:
    login = h.login()
    actions = send(login, "x" * (MAX_LINE_CHARS + 1))
    assert "too long" in text(actions) and isinstance(actions[-1], Prompt)
    assert login.stage is Stage.NAME and h.store.count() == 0


def test_oversized_password_line(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    send(login, "alice")
    actions = send(login, "p" * 10_000)
    assert actions[0] == EchoOn() and "too long" in text(actions)
    assert actions[-2:] == [EchoOff(), Prompt("Password: ")]
    assert not any(isinstance(a, VerifyPassword) for a in actions)


def test_lines_during_verify_are_handed_to_the_game(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    (verify,) = login.on_line("connect alice secret")
    assert login.busy
    assert login.on_line("look") == [] and login.on_line("say hi") == []
    done = logged_in(run(login, login.password_checked(verify.compute())))
    assert done is not None and done.pending == ("look", "say hi")


def test_lines_during_a_failed_verify_are_handled_after_it(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    (verify,) = login.on_line("connect alice wrong!")
    login.on_line("connect alice secret")
    login.on_line("look")
    actions = run(login, login.password_checked(verify.compute()))
    assert "Wrong password" in text(actions)
    done = logged_in(actions)
    assert done is not None and done.pending == ("look",)


def test_held_lines_are_bounded(h: Harness) -> None:
    login = h.login()
    (hashing,) = login.on_line("create alice secret")
    for i in range(MAX_PENDING_LINES * 2):
        login.on_line(f"line {i}")
    done = logged_in(run(login, login.password_hashed(hashing.compute())))
    assert done is not None and len(done.pending) == MAX_PENDING_LINES


def test_results_nobody_asked_for_are_bugs(h: Harness) -> None:
    login = h.login()
    with pytest.raises(LoginStateError):
        login.password_checked(PasswordCheck(ok=True))
    with pytest.raises(LoginStateError):
        login.password_hashed(hash_password("secret", FAST))


def test_name_taken_while_hashing(h: Harness) -> None:
    first, second = h.login(), h.login("10.0.0.2")
    (hash_a,) = first.on_line("create alice secret")
    (hash_b,) = second.on_line("create ALICE other-secret")
    assert logged_in(run(first, first.password_hashed(hash_a.compute()))) is not None
    actions = run(second, second.password_hashed(hash_b.compute()))
    assert "just took the name Alice" in text(actions)
    assert second.stage is Stage.NAME
    assert verify_password("secret", h.store.get("alice").password_hash)


def test_password_changed_while_verifying(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    (verify,) = login.on_line("connect alice secret")
    new_hash = hash_password("new-one", FAST)
    h.store.update(dataclasses.replace(h.store.get("alice"), password_hash=new_hash))
    actions = run(login, login.password_checked(verify.compute()))
    assert "changed while you were logging in" in text(actions)
    assert logged_in(actions) is None and login.stage is Stage.NAME


def test_rehash_on_login_when_params_change(h: Harness) -> None:
    h.add("alice", "secret", params=OTHER)
    done = logged_in(send(h.login(), "connect alice secret"))
    assert done is not None
    stored = h.store.get("alice")
    assert hash_params(stored.password_hash) == FAST
    assert verify_password("secret", stored.password_hash)


def test_secrets_stay_out_of_reprs(h: Harness) -> None:
    h.add("alice", "secret")
    login = h.login()
    actions = send(login, "connect alice secret")
    for action in actions:
        assert "secret" not in repr(action)
        assert "scrypt$" not in repr(action)


# -- helpers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "peer, host",
    [
        ("127.0.0.1:54321", "127.0.0.1"),
        ("[::1]:4000", "::1"),
        ("::1", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("10.0.0.1", "10.0.0.1"),
        ("example.org:80", "example.org"),
        ("unix-socket", "unix-socket"),
    ],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host


async def test_kdf_actions_run_in_a_worker_thread(h: Harness) -> None:
    """The intended driver pattern: KDF work off the event loop."""
    import trio

    login = h.login()
    limiter = trio.CapacityLimiter(2)
    (hashing,) = login.on_line("create alice secret")
    encoded = await trio.to_thread.run_sync(hashing.compute, limiter=limiter)
    assert logged_in(login.password_hashed(encoded)) is not None
    again = h.login()
    (verify,) = again.on_line("connect alice secret")
    result = await trio.to_thread.run_sync(verify.compute, limiter=limiter)
    assert logged_in(again.password_checked(result)) is not None

"""Accounts: hashing, name and password rules, the store, bootstrap, throttling."""

from __future__ import annotations

import dataclasses

import pytest

from driver.auth.accounts import (
    ADMIN_PASSWORD_ENV,
    DEFAULT_PARAMS,
    PASSWORD_MAX_BYTES,
    Backoff,
    ScryptParams,
    display_name,
    ensure_admin,
    hash_params,
    hash_password,
    name_error,
    needs_rehash,
    new_account,
    new_name_error,
    password_error,
    record_login,
    verify_and_upgrade,
    verify_password,
)
from driver.store.accounts import (
    Account,
    AccountExists,
    AccountNotFound,
    AccountStore,
    MemoryAccountStore,
)

from ..driver_support import FakeClock, make_throttle

# Cheap parameters: tests check behaviour, not cost.
FAST = ScryptParams(n=16, r=1, p=1)
OTHER = ScryptParams(n=32, r=1, p=1)


# -- hashing -----------------------------------------------------------------


def test_hash_format_carries_params() -> None:
    encoded = hash_password("correct horse", FAST)
    scheme, n, r, p, salt, key = encoded.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "1", "1")
    assert salt and key
    assert hash_params(encoded) == FAST


def test_verify_right_and_wrong_password() -> None:
    encoded = hash_password("correct horse", FAST)
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsf", encoded)
    assert not verify_password("", encoded)


def test_salts_are_unique() -> None:
    hashes = {hash_password("same password", FAST) for _ in range(20)}
    assert len(hashes) == 20
    salts = {h.split("$")[4] for h in hashes}
    assert len(salts) == 20


def test_explicit_salt_is_deterministic() -> None:
    salt = b"0123456789abcdef"
    assert hash_password("pw1234", FAST, salt=salt) == hash_password("pw1234", FAST, salt=salt)


def test_unicode_passwords_are_normalized() -> None:
    composed = "caf\u00e9 au lait"
    decomposed = "cafe\u0301 au lait"
    encoded = hash_password(composed, FAST)
    assert verify_password(decomposed, encoded)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "plaintext",
        "bcrypt$16$1$1$c2FsdA$a2V5",
        "scrypt$16$1$1$c2FsdA",
        "scrypt$x$1$1$c2FsdA$a2V5",
        "scrypt$15$1$1$c2FsdA$a2V5",  # n not a power of two
        "scrypt$16$1$1$!!!$a2V5",  # bad base64
        "scrypt$16$1$1$$" + "A" * 43,  # empty salt
        "scrypt$16$1$1$c2FsdA$a2V5",  # key of the wrong length
        # Hostile cost: would need 128 GiB; must be refused, not attempted.
        "scrypt$1073741824$128$1$c2FsdA$" + "A" * 43,
    ],
)
def test_malformed_hash_never_verifies(encoded: str) -> None:
    assert not verify_password("anything", encoded)
    assert hash_params(encoded) is None


def test_needs_rehash() -> None:
    encoded = hash_password("pw1234", FAST)
    assert not needs_rehash(encoded, FAST)
    assert needs_rehash(encoded, OTHER)
    assert needs_rehash("garbage", FAST)


def test_verify_and_upgrade() -> None:
    encoded = hash_password("pw1234", FAST)
    assert verify_and_upgrade("wrong!", encoded, OTHER).ok is False
    same = verify_and_upgrade("pw1234", encoded, FAST)
    assert same.ok and same.new_hash is None
    upgraded = verify_and_upgrade("pw1234", encoded, OTHER)
    assert upgraded.ok and upgraded.new_hash is not None
    assert hash_params(upgraded.new_hash) == OTHER
    assert verify_password("pw1234", upgraded.new_hash)
    assert "scrypt" not in repr(upgraded)


@pytest.mark.parametrize("args", [(3, 1, 1), (1, 1, 1), (2**21, 1, 1), (16, 0, 1), (16, 1, 0)])
def test_params_are_validated(args: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        ScryptParams(*args)


def test_default_params_are_memory_hard() -> None:
    assert 128 * DEFAULT_PARAMS.n * DEFAULT_PARAMS.r >= 16 * 2**20
    assert DEFAULT_PARAMS.maxmem > 128 * DEFAULT_PARAMS.n * DEFAULT_PARAMS.r


# -- names and passwords -------------------------------------------------------


@pytest.mark.parametrize("name", ["Bob", "alice", "ALICE", "Zanzibarzanzibar"])
def test_valid_names(name: str) -> None:
    assert name_error(name) is None
    assert new_name_error(name) is None


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("", "3 to 16"),
        ("Al", "3 to 16"),
        ("Abcdefghijklmnopq", "3 to 16"),
        ("R2D2", "letters a to z"),
        ("Mary Ann", "letters a to z"),
        ("O'Neil", "letters a to z"),
        ("Ålice", "letters a to z"),
        ("josé", "letters a to z"),
        ("Ａｌｉｃｅ", "letters a to z"),  # fullwidth look-alikes
        ("Аlice", "letters a to z"),  # Cyrillic A
    ],
)
def test_invalid_names(name: str, fragment: str) -> None:
    problem = name_error(name)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("name", ["admin", "Admin", "GOD", "root", "system", "new", "quit", "who"])
def test_reserved_names(name: str) -> None:
    assert name_error(name) is None  # a valid name to log in with...
    problem = new_name_error(name)
    assert problem is not None and "reserved" in problem  # ...but not to create


def test_display_name() -> None:
    assert display_name("aLiCe") == "Alice"


def test_password_rules() -> None:
    assert password_error("secret", "Alice") is None
    assert password_error("pässwörd", "Alice") is None
    assert password_error("with inner space", "Alice") is None
    assert "at least 6" in password_error("short", "Alice")
    assert "your name" in password_error("Alicea", "alicea")
    assert "your name" in password_error("ALICEB", "aliceb")
    assert "at most" in password_error("x" * (PASSWORD_MAX_BYTES + 1), "Alice")
    assert "at most" in password_error("é" * 65, "Alice")  # 130 bytes, 65 characters
    assert password_error("x" * PASSWORD_MAX_BYTES, "Alice") is None
    assert "space" in password_error(" secret", "Alice")
    assert "space" in password_error("secret ", "Alice")
    assert "control" in password_error("sec\x00ret", "Alice")
    assert "control" in password_error("sec\x1b[2Jret", "Alice")


# -- records and the store -----------------------------------------------------


def test_account_repr_hides_the_hash() -> None:
    account = new_account("alice", hash_password("secret", FAST), now=5.0)
    assert "scrypt" not in repr(account)
    assert account.name == "Alice" and account.key == "alice"
    assert account.created_at == 5.0 and account.last_login is None
    assert not account.is_wizard


def test_memory_store() -> None:
    store: AccountStore = MemoryAccountStore()
    assert store.count() == 0
    alice = new_account("Alice", "h1", now=1.0)
    store.create(alice)
    assert store.get("alice") == alice
    assert store.get("ALICE") == alice
    assert store.get("bob") is None
    with pytest.raises(AccountExists):
        store.create(new_account("aLICE", "h2"))
    assert store.count() == 1
    store.update(record_login(alice, 9.0, "h3"))
    assert store.get("Alice").last_login == 9.0
    assert store.get("Alice").password_hash == "h3"
    with pytest.raises(AccountNotFound):
        store.update(new_account("bob", "h4"))
    assert store.count() == 1


def test_record_login_keeps_hash_without_upgrade() -> None:
    alice = Account(name="Alice", password_hash="h1")
    after = record_login(alice, 3.0)
    assert after.password_hash == "h1" and after.last_login == 3.0
    assert dataclasses.replace(after, last_login=None) == alice


# -- bootstrap -------------------------------------------------------------------


def test_ensure_admin_from_env() -> None:
    store = MemoryAccountStore()
    assert ensure_admin(store, {ADMIN_PASSWORD_ENV: "hunter22"}, params=FAST, now=7.0) is None
    admin = store.get("admin")
    assert admin is not None and admin.is_wizard and admin.name == "Admin"
    assert admin.created_at == 7.0
    assert verify_password("hunter22", admin.password_hash)


def test_ensure_admin_generates_a_strong_password() -> None:
    store = MemoryAccountStore()
    password = ensure_admin(store, {}, params=FAST)
    assert password is not None and len(password) >= 20
    admin = store.get("admin")
    assert admin.is_wizard and verify_password(password, admin.password_hash)
    assert password not in repr(admin)
    # Generated afresh each time, not a constant.
    assert ensure_admin(MemoryAccountStore(), {}, params=FAST) != password


def test_ensure_admin_empty_env_means_generate() -> None:
    store = MemoryAccountStore()
    assert ensure_admin(store, {ADMIN_PASSWORD_ENV: ""}, params=FAST) is not None


def test_ensure_admin_leaves_an_existing_admin_alone() -> None:
    store = MemoryAccountStore()
    ensure_admin(store, {ADMIN_PASSWORD_ENV: "first-password"}, params=FAST)
    before = store.get("admin")
    assert ensure_admin(store, {ADMIN_PASSWORD_ENV: "second-password"}, params=FAST) is None
    assert ensure_admin(store, {}, params=FAST) is None
    assert store.get("admin") == before
    assert store.count() == 1


def test_ensure_admin_rejects_a_weak_env_password_without_echoing_it() -> None:
    store = MemoryAccountStore()
    with pytest.raises(ValueError) as excinfo:
        ensure_admin(store, {ADMIN_PASSWORD_ENV: "abc"}, params=FAST)
    assert ADMIN_PASSWORD_ENV in str(excinfo.value)
    assert "abc" not in str(excinfo.value).replace(ADMIN_PASSWORD_ENV, "")
    assert store.count() == 0


# -- throttling ------------------------------------------------------------------


def test_backoff_doubles_up_to_cap() -> None:
    policy = Backoff(free=3, base=2.0, cap=30.0)
    assert [policy.lock_for(n) for n in range(1, 9)] == [0, 0, 2, 4, 8, 16, 30, 30]
    assert policy.lock_for(10_000) == 30.0


def test_throttle_per_account_across_addresses() -> None:
    clock = FakeClock(1000.0)
    throttle = make_throttle(clock)
    for address in ("10.0.0.1", "10.0.0.2"):
        assert throttle.retry_after(address, "alice") == 0
        throttle.record_failure(address, "alice")
    assert throttle.retry_after("10.0.0.3", "Alice") == 0
    throttle.record_failure("10.0.0.3", "ALICE")  # third: locks the account
    assert throttle.retry_after("10.0.0.4", "alice") == pytest.approx(2.0)
    assert throttle.retry_after("10.0.0.4", "bob") == 0  # other accounts unaffected
    clock.advance(1.5)
    assert throttle.retry_after("10.0.0.4", "alice") == pytest.approx(0.5)
    clock.advance(0.5)
    assert throttle.retry_after("10.0.0.4", "alice") == 0
    throttle.record_failure("10.0.0.4", "alice")  # fourth: doubles
    assert throttle.retry_after("10.0.0.5", "alice") == pytest.approx(4.0)


def test_throttle_per_address_across_accounts() -> None:
    clock = FakeClock(1000.0)
    throttle = make_throttle(clock)
    for name in ("anna", "bert", "carl", "dora", "emil"):
        assert throttle.retry_after("10.0.0.9", name) == 0
        throttle.record_failure("10.0.0.9", name)
    assert throttle.retry_after("10.0.0.9", "fred") == pytest.approx(1.0)
    assert throttle.retry_after("10.0.0.8", "fred") == 0  # other addresses unaffected


def test_throttle_success_resets() -> None:
    clock = FakeClock(1000.0)
    throttle = make_throttle(clock)
    for _ in range(3):
        throttle.record_failure("10.0.0.1", "alice")
    assert throttle.retry_after("10.0.0.1", "alice") > 0
    throttle.record_success("10.0.0.1", "alice")
    assert throttle.retry_after("10.0.0.1", "alice") == 0
    throttle.record_failure("10.0.0.1", "alice")  # counting starts again
    assert throttle.retry_after("10.0.0.1", "alice") == 0


def test_throttle_forgets_old_failures() -> None:
    clock = FakeClock(1000.0)
    throttle = make_throttle(clock, forget_after=100.0)
    for _ in range(2):
        throttle.record_failure("10.0.0.1", "alice")
    clock.advance(100.0)
    throttle.record_failure("10.0.0.1", "alice")  # a fresh count: 1, not 3
    assert throttle.retry_after("10.0.0.1", "alice") == 0


def test_throttle_table_is_bounded() -> None:
    clock = FakeClock(1000.0)
    throttle = make_throttle(clock, max_entries=50, forget_after=10.0)
    for i in range(200):
        clock.advance(0.01)
        throttle.record_failure(f"10.0.{i}.1", f"user{i}")
    assert len(throttle) <= 50
    clock.advance(60.0)
    throttle.record_failure("10.9.9.9", "zed")
    assert len(throttle) <= 50

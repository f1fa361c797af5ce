"""Player accounts: records, password hashing, name rules, login throttling.

Everything here is synchronous and free of I/O so it can be tested without a
server and reused by any front end. Two things deserve a note:

* **Password hashing is deliberately slow** (scrypt, tuned to tens of
  milliseconds and 32 MiB per hash). Never call :func:`hash_password` or
  :func:`verify_and_upgrade` on the event loop: run them with
  ``trio.to_thread.run_sync`` behind a small ``trio.CapacityLimiter`` (each
  call holds 32 MiB, so a flood of logins must not fan out to dozens of
  threads). :mod:`driver.auth.login` asks for this through an effect instead of
  hashing inline.
* **Secrets never reach a log.** :class:`Account` leaves its hash out of
  ``repr``; nothing in this module prints or logs a password or a hash.

The encoded hash carries its own parameters (``scrypt$n$r$p$salt$hash``), so
the cost can be raised later: an account whose hash uses older parameters is
rehashed the next time its owner logs in (:func:`verify_and_upgrade`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from driver.store.accounts import Account, AccountStore, name_key

# --------------------------------------------------------------------------
# Password hashing
# --------------------------------------------------------------------------

SALT_BYTES = 16
KEY_BYTES = 32

# Upper bounds accepted when *reading* an encoded hash. A corrupt or hostile
# hash string must not make the server allocate gigabytes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters: ``n`` (CPU/memory cost, a power of two),
    ``r`` (block size), ``p`` (parallelism). Memory use is ``128 * n * r``."""

    n: int
    r: int
    p: int

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.n > _MAX_N:
            raise ValueError(f"scrypt n must be a power of two in [2, {_MAX_N}], got {self.n}")
        if not 1 <= self.r <= _MAX_R:
            raise ValueError(f"scrypt r must be in [1, {_MAX_R}], got {self.r}")
        if not 1 <= self.p <= _MAX_P:
            raise ValueError(f"scrypt p must be in [1, {_MAX_P}], got {self.p}")

    @property
    def maxmem(self) -> int:
        """A ``maxmem`` for hashlib.scrypt with headroom over what these
        parameters need (OpenSSL's default cap is exactly 32 MiB, which
        ``n=2**15, r=8`` would otherwise just exceed)."""
        return 128 * self.r * (self.n + self.p + 2) + (1 << 20)


# ~70 ms and 32 MiB per hash on the 2-core development machine. Tests pass
# cheaper parameters explicitly; production code uses this default.
DEFAULT_PARAMS = ScryptParams(n=2**15, r=8, p=1)


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _password_bytes(password: str) -> bytes:
    # NFC so that the same password typed on two clients (composed vs.
    # decomposed accents) hashes the same way.
    return unicodedata.normalize("NFC", password).encode("utf-8")


def _derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        _password_bytes(password),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=KEY_BYTES,
    )


def hash_password(
    password: str, params: ScryptParams = DEFAULT_PARAMS, *, salt: bytes | None = None
) -> str:
    """Hash ``password`` with a fresh random salt; return ``scrypt$n$r$p$salt$hash``.

    CPU- and memory-heavy by design: run it in a worker thread.
    """
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, params)
    return f"scrypt${params.n}${params.r}${params.p}${_b64encode(salt)}${_b64encode(key)}"


def _decode(encoded: str) -> tuple[ScryptParams, bytes, bytes] | None:
    """Split an encoded hash, or None if it is not one we can check."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        params = ScryptParams(int(parts[1]), int(parts[2]), int(parts[3]))
        salt = _b64decode(parts[4])
        key = _b64decode(parts[5])
    except (ValueError, binascii.Error):
        return None
    if not salt or len(key) != KEY_BYTES:
        return None
    return params, salt, key


def hash_params(encoded: str) -> ScryptParams | None:
    """The parameters an encoded hash was made with (None if malformed)."""
    decoded = _decode(encoded)
    return decoded[0] if decoded else None


def verify_password(password: str, encoded: str) -> bool:
    """True if ``password`` matches ``encoded``. Compares in constant time.

    A malformed hash never matches (an account with a corrupt hash cannot
    be entered, rather than being entered with any password).
    """
    decoded = _decode(encoded)
    if decoded is None:
        return False
    params, salt, expected = decoded
    return hmac.compare_digest(_derive(password, salt, params), expected)


def needs_rehash(encoded: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True if ``encoded`` was made with parameters other than ``params``."""
    return hash_params(encoded) != params


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Result of :func:`verify_and_upgrade`."""

    ok: bool
    new_hash: str | None = field(default=None, repr=False)  # set when ok and rehashed


def verify_and_upgrade(
    password: str, encoded: str, params: ScryptParams = DEFAULT_PARAMS
) -> PasswordCheck:
    """Verify ``password``; if it matches and ``encoded`` uses other
    parameters than ``params``, also compute the replacement hash.

    Both steps happen in one call so a login costs one trip to a worker thread.
    """
    if not verify_password(password, encoded):
        return PasswordCheck(ok=False)
    if needs_rehash(encoded, params):
        return PasswordCheck(ok=True, new_hash=hash_password(password, params))
    return PasswordCheck(ok=True)


# --------------------------------------------------------------------------
# Names and passwords: the rules
# --------------------------------------------------------------------------

NAME_MIN = 3
NAME_MAX = 16
PASSWORD_MIN_CHARS = 6
PASSWORD_MAX_BYTES = 128

ADMIN_NAME = "admin"

# Names nobody can create: the bootstrap wizard, words the login screen or
# the command parser give a meaning to, and names that would let a player
# pass for staff or for the system itself. Only ``admin`` is ever created,
# and only by :func:`ensure_admin`.
RESERVED_NAMES: frozenset[str] = frozenset(
    {
        ADMIN_NAME,
        "administrator",
        "all",
        "anonymous",
        "anybody",
        "anyone",
        "connect",
        "create",
        "driver",
        "everybody",
        "everyone",
        "god",
        "guest",
        "help",
        "here",
        "jitrealm",
        "login",
        "logout",
        "moderator",
        "myself",
        "new",
        "nobody",
        "none",
        "null",
        "operator",
        "owner",
        "quit",
        "realm",
        "root",
        "self",
        "server",
        "somebody",
        "someone",
        "staff",
        "superuser",
        "support",
        "sysop",
        "system",
        "unknown",
        "who",
        "wizard",
        "you",
    }
)

_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def display_name(name: str) -> str:
    """How a (valid) name is shown: ``aLiCe`` -> ``Alice``, the lpMUD way."""
    return name.capitalize()


def name_error(name: str) -> str | None:
    """Why ``name`` cannot be a character name at all, or None if it can.

    The rule is deliberately plain: 3 to 16 ASCII letters. That keeps names
    typeable on every client, unambiguous in commands (``tell bob hi``), and
    free of look-alike Unicode.
    """
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"Names are {NAME_MIN} to {NAME_MAX} letters long."
    if not set(name) <= _ASCII_LETTERS:
        return "Names may use only the letters a to z (no spaces, digits or accents)."
    return None


def new_name_error(name: str) -> str | None:
    """Like :func:`name_error`, plus the reserved list: for creating a character."""
    problem = name_error(name)
    if problem is not None:
        return problem
    if name_key(name) in RESERVED_NAMES:
        return "That name is reserved; please choose another."
    return None


def password_error(password: str, name: str) -> str | None:
    """Why ``password`` is not acceptable for a new account ``name``, or None."""
    if len(password) < PASSWORD_MIN_CHARS:
        return f"Passwords must be at least {PASSWORD_MIN_CHARS} characters long."
    if len(_password_bytes(password)) > PASSWORD_MAX_BYTES:
        return f"Passwords may be at most {PASSWORD_MAX_BYTES} bytes long."
    if password != password.strip():
        return "Passwords may not begin or end with a space."
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        return "Passwords may not contain control characters."
    if password.casefold() == name.casefold():
        return "Your password may not be your name."
    return None


def new_account(
    name: str,
    password_hash: str,
    *,
    is_wizard: bool = False,
    is_admin: bool = False,
    now: float | None = None,
) -> Account:
    """A fresh record for ``name`` (validated by the caller), created ``now``."""
    return Account(
        name=display_name(name),
        password_hash=password_hash,
        is_wizard=is_wizard or is_admin,
        created_at=time.time() if now is None else now,
        is_admin=is_admin,
    )


def record_login(account: Account, now: float, new_hash: str | None = None) -> Account:
    """The record after a successful login: ``last_login`` set, hash upgraded."""
    return dataclasses.replace(
        account,
        last_login=now,
        password_hash=new_hash if new_hash is not None else account.password_hash,
    )


# --------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------

ADMIN_PASSWORD_ENV = "JITREALM_ADMIN_PASSWORD"


def ensure_admin(
    store: AccountStore,
    env: Mapping[str, str],
    *,
    params: ScryptParams = DEFAULT_PARAMS,
    now: float | None = None,
) -> str | None:
    """Create the account ``admin`` (the world's admin, and a wizard) if it
    does not exist; an ``admin`` made a wizard before there were admins is
    made the admin.

    The password comes from ``env[JITREALM_ADMIN_PASSWORD]`` when set;
    otherwise a strong one is generated and *returned*, so the caller can
    show it once to the operator. Returns None when nothing was generated
    (admin already existed, or the password came from the environment).

    An existing admin is never touched: the variable seeds the first start
    only, so a stale value left in a service file cannot reset a password
    that was since changed. Raises ValueError if the variable is set but
    breaks the password rules (the message never contains the password).
    Hashes synchronously; call it before serving, or in a thread.
    """
    existing = store.get(ADMIN_NAME)
    if existing is not None:
        if existing.is_wizard and not existing.is_admin:
            # Made before there were roles: the operator's account is the admin.
            store.update(dataclasses.replace(existing, is_admin=True))
        return None
    supplied = env.get(ADMIN_PASSWORD_ENV)
    if supplied:
        problem = password_error(supplied, ADMIN_NAME)
        if problem is not None:
            raise ValueError(f"{ADMIN_PASSWORD_ENV} is not acceptable: {problem}")
        password, generated = supplied, None
    else:
        password = secrets.token_urlsafe(18)  # 144 bits, 24 characters
        generated = password
    account = new_account(ADMIN_NAME, hash_password(password, params), is_admin=True, now=now)
    store.create(account)
    return generated


# --------------------------------------------------------------------------
# Throttling failed logins, and account creation
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``free`` attempts may fail back to back; failure
    number ``free + k`` (k >= 0) then locks further attempts for
    ``base * 2**k`` seconds, at most ``cap``."""

    free: int
    base: float
    cap: float

    def lock_for(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** min(failures - self.free, 64))


@dataclass(frozen=True, slots=True)
class RateWindow:
    """At most ``count`` events in any ``per`` seconds."""

    count: int
    per: float


# One account from one address: three tries, then 2 s, 4 s, 8 s ... up to
# 5 minutes. This is what stops guessing a password, and it locks only the
# guesser's address out of that account.
PAIR_BACKOFF = Backoff(free=3, base=2.0, cap=300.0)
# One account from everywhere: a guessing attack spread over many addresses.
# Each address adds at most ACCOUNT_SHARE failures here, so no single
# address (the attacker's) can lock the owner out; it takes ten.
ACCOUNT_BACKOFF = Backoff(free=20, base=2.0, cap=300.0)
ACCOUNT_SHARE = 2
# One address over every account (spraying one password over many names):
# ten tries, then 1 s, 2 s, 4 s ... People share addresses, so it is lenient.
ADDRESS_BACKOFF = Backoff(free=10, base=1.0, cap=300.0)
# New characters from one address.
CREATION_RATE = RateWindow(count=3, per=600.0)


@dataclass(slots=True)
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


class LoginThrottle:
    """Slows password guessing without locking the owner out: counts failed
    logins per address and account together, per address, and per account;
    locks out with exponential backoff. Also rate-limits account creation
    per address.

    * Per (address, account): stops guessing one account's password from
      one address. Only that address is locked out of that account, so 36
      wrong guesses at ``admin`` from one place leave the real admin free
      to log in from another.
    * Per account, over all addresses: stops the same guessing spread over
      many addresses. Each address contributes at most ``account_share``
      failures (so it takes several addresses), and addresses the account
      has logged in from successfully (the owner's) are exempt from it.
    * Per address, over all accounts: stops one address spraying guesses
      over many accounts. Lenient, because many people share an address.

    Use it like this: ``retry_after`` before checking anything (a locked-out
    attempt is refused without touching the password); ``attempt_started``
    *before* starting the KDF, which counts the attempt against the account
    (per address and overall) so that parallel connections cannot run more
    guesses at one account than the policy allows while earlier ones are
    still hashing; then ``attempt_failed`` (counts it against the address)
    or ``record_success`` (clears the counts, remembers the address as the
    owner's). The address count is not charged up front: correct logins
    from one address arriving together (a classroom behind NAT) must not
    refuse each other. The driver bounds how many checks one address may
    have in flight instead, and asks :meth:`address_retry_after` before each.

    Counts are forgotten after ``forget_after`` seconds without failures, and
    the table is pruned so it cannot grow without bound. The clock is
    injectable (monotonic seconds).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        account_policy: Backoff = ACCOUNT_BACKOFF,
        address_policy: Backoff = ADDRESS_BACKOFF,
        pair_policy: Backoff = PAIR_BACKOFF,
        account_share: int = ACCOUNT_SHARE,
        creation_rate: RateWindow = CREATION_RATE,
        forget_after: float = 3600.0,
        max_entries: int = 100_000,
        known_per_account: int = 8,
    ) -> None:
        self._clock = clock
        self._policies = {"account": account_policy, "address": address_policy, "pair": pair_policy}
        self._share = account_share
        self._creation_rate = creation_rate
        self._forget_after = forget_after
        self._max_entries = max_entries
        self._known_per_account = known_per_account
        self._records: dict[tuple[str, ...], _Record] = {}
        # Addresses each account last logged in from, most recent last.
        self._known: dict[str, tuple[str, ...]] = {}
        # When each address last created an account (at most count of them).
        self._created: dict[str, deque[float]] = {}

    # -- failed logins -------------------------------------------------------------------------

    def retry_after(self, address: str, name: str) -> float:
        """Seconds until a login for ``name`` from ``address`` may be tried (0 = now)."""
        now = self._clock()
        account = name_key(name)
        keys = [("address", address), ("pair", address, account)]
        if address not in self._known.get(account, ()):
            keys.append(("account", account))
        return max(self._wait(key, now) for key in keys)

    def address_retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try any login (0 = now): the
        address-wide lock alone, which ``attempt_failed`` charges."""
        return self._wait(("address", address), self._clock())

    def attempt_started(self, address: str, name: str) -> None:
        """A password check for ``name`` from ``address`` is about to run:
        count it as failed against the account until it is decided."""
        now = self._clock()
        account = name_key(name)
        pair = self._count(("pair", address, account), now)
        if pair <= self._share:
            self._count(("account", account), now)
        self._bound(now)

    def attempt_failed(self, address: str, name: str) -> None:
        """A check begun with ``attempt_started`` failed: count it against
        the address too."""
        now = self._clock()
        self._count(("address", address), now)
        self._bound(now)

    def record_failure(self, address: str, name: str) -> None:
        """Count one failed attempt everywhere (``attempt_started`` and
        ``attempt_failed`` in one)."""
        self.attempt_started(address, name)
        self.attempt_failed(address, name)

    def record_success(self, address: str, name: str) -> None:
        """The password matched: forget this address's and account's
        failures, and remember the address as the owner's."""
        account = name_key(name)
        for key in (("address", address), ("pair", address, account), ("account", account)):
            self._records.pop(key, None)
        known = tuple(a for a in self._known.pop(account, ()) if a != address)
        self._known[account] = (*known, address)[-self._known_per_account :]
        if len(self._known) > self._max_entries:
            # The oldest entries go first (dicts keep insertion order and a
            # login re-inserts). Forgetting only ever makes the throttle stricter.
            for stale in list(self._known)[: len(self._known) - self._max_entries]:
                del self._known[stale]

    # -- account creation ----------------------------------------------------------------------

    def creation_retry_after(self, address: str) -> float:
        """Seconds until ``address`` may create another account (0 = now)."""
        stamps = self._created.get(address)
        rate = self._creation_rate
        if stamps is None or len(stamps) < rate.count:
            return 0.0
        return max(0.0, stamps[0] + rate.per - self._clock())

    def record_creation(self, address: str) -> None:
        """``address`` is creating an account (counted before hashing, so
        parallel connections cannot create more than the rate allows)."""
        now = self._clock()
        rate = self._creation_rate
        stamps = self._created.pop(address, None) or deque(maxlen=max(1, rate.count))
        stamps.append(now)
        self._created[address] = stamps  # re-inserted: most recent last
        if len(self._created) > self._max_entries:
            for stale in [a for a, s in self._created.items() if now - s[-1] >= rate.per]:
                del self._created[stale]
            for stale in list(self._created)[: max(0, len(self._created) - self._max_entries)]:
                del self._created[stale]

    def creation_failed(self, address: str) -> None:
        """The account counted by ``record_creation`` was not made (the name
        was taken meanwhile): give the address its turn back."""
        stamps = self._created.get(address)
        if stamps:
            stamps.pop()
            if not stamps:
                del self._created[address]

    # -- inside --------------------------------------------------------------------------------

    def _live(self, key: tuple[str, ...], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._expired(record, now):
            del self._records[key]
            return None
        return record

    def _wait(self, key: tuple[str, ...], now: float) -> float:
        record = self._live(key, now)
        return max(0.0, record.locked_until - now) if record is not None else 0.0

    def _count(self, key: tuple[str, ...], now: float) -> int:
        record = self._live(key, now)
        if record is None:
            record = self._records[key] = _Record()
        record.failures += 1
        record.last_failure = now
        lock = self._policies[key[0]].lock_for(record.failures)
        record.locked_until = max(record.locked_until, now + lock)
        return record.failures

    def _expired(self, record: _Record, now: float) -> bool:
        return now >= record.locked_until and now - record.last_failure >= self._forget_after

    def _bound(self, now: float) -> None:
        if len(self._records) > self._max_entries:
            self._prune(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if self._expired(r, now)]:
            del self._records[key]
        excess = len(self._records) - self._max_entries
        if excess > 0:
            # Still too many live records (a flood of distinct keys): drop
            # the stalest. Losing a count only ever makes the throttle milder.
            stalest = sorted(self._records, key=lambda k: self._records[k].last_failure)
            for key in stalest[:excess]:
                del self._records[key]

    def __len__(self) -> int:
        return len(self._records)

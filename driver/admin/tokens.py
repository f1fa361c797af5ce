"""API bearer tokens: made here, shown once, kept only as a hash.

A secret is ``jr_`` and 32 random bytes (url-safe base64). The store keeps
its SHA-256 (hex) with a role and a tenant: a stolen store yields no usable
token, and since secrets are random a fast hash is enough (no salt or KDF).
Lookups compare hashes with :func:`hmac.compare_digest` so the time taken
does not depend on how much of a guessed hash matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from driver.store.records import TokenRow
from driver.tenancy.control import Role

PREFIX = "jr_"
ROOT_ENV = "JITREALM_ROOT_TOKEN"
MIN_ID_CHARS = 8  # the shortest hash prefix that names a token for revoking
ID_CHARS = 12  # the hash prefix shown as a token's id


class TokenStore(Protocol):
    """Where token hashes are kept: :class:`driver.store.sqlite.SqliteStore`
    in the server, :class:`MemoryTokenStore` in tests."""

    def put_token(self, row: TokenRow) -> None: ...
    def delete_token(self, hash_: str) -> bool: ...
    def tokens(self) -> list[TokenRow]: ...


class MemoryTokenStore:
    """A :class:`TokenStore` in a dict (tests, and a server without a store)."""

    def __init__(self, rows: Iterable[TokenRow] = ()) -> None:
        self._rows = {row.hash: row for row in rows}

    def put_token(self, row: TokenRow) -> None:
        self._rows[row.hash] = row

    def delete_token(self, hash_: str) -> bool:
        return self._rows.pop(hash_, None) is not None

    def tokens(self) -> list[TokenRow]:
        return sorted(self._rows.values(), key=lambda row: row.hash)


def new_secret() -> str:
    """A fresh token secret."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What the store keeps of ``secret``."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_id(row: TokenRow) -> str:
    """The short public name of a token (a prefix of its hash)."""
    return row.hash[:ID_CHARS]


class Tokens:
    """The tokens of a server, read through to a :class:`TokenStore`.

    Tokens are read from the store on every lookup (the table is small and
    reads are cheap), so a token revoked by another writer of the same store
    stops working at once."""

    def __init__(self, store: TokenStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    def authenticate(self, secret: str) -> TokenRow | None:
        """The token whose secret is ``secret``, or None."""
        wanted = hash_secret(secret)
        found: TokenRow | None = None
        for row in self.store.tokens():
            if hmac.compare_digest(row.hash, wanted):
                found = row
        return found

    def create(self, role: Role, tenant: str | None, label: str = "") -> tuple[str, TokenRow]:
        """A new token; the secret is returned here and never again."""
        if (role is Role.ROOT) != (tenant is None):
            raise ValueError("a root token has no tenant; admin and author tokens have one")
        secret = new_secret()
        row = TokenRow(hash_secret(secret), role.value, tenant, label, self._clock())
        self.store.put_token(row)
        return secret, row

    def listed(self, tenant: str | None = None) -> list[TokenRow]:
        """Every token (``tenant`` None) or those of one tenant, oldest first."""
        rows = [row for row in self.store.tokens() if tenant is None or row.tenant == tenant]
        return sorted(rows, key=lambda row: row.created_at)

    def matching(self, prefix: str) -> list[TokenRow]:
        """The tokens whose hash starts with ``prefix`` (lower-case hex)."""
        prefix = prefix.lower()
        return [row for row in self.store.tokens() if row.hash.startswith(prefix)]

    def revoke(self, row: TokenRow) -> bool:
        return self.store.delete_token(row.hash)

    def revoke_tenant(self, tenant: str) -> int:
        """Revoke every token of ``tenant`` (the tenant was deleted)."""
        return sum(self.store.delete_token(row.hash) for row in self.listed(tenant))


def ensure_root_token(store: TokenStore, environ: Mapping[str, str]) -> str | None:
    """Make sure the server has a root token, on its first start.

    With a root token already stored nothing happens. Otherwise the secret
    of ``JITREALM_ROOT_TOKEN`` is stored (hashed) when set, and None is
    returned; else a new secret is made, stored and returned, for the caller
    to print once.
    """
    if any(row.role == Role.ROOT.value for row in store.tokens()):
        return None
    given = environ.get(ROOT_ENV, "").strip()
    if given:
        if len(given) < 16:
            raise ValueError(f"{ROOT_ENV} is too short to be a secret (16 characters at least)")
        store.put_token(TokenRow(hash_secret(given), Role.ROOT.value, None, "root", time.time()))
        return None
    secret, _ = Tokens(store).create(Role.ROOT, None, "root")
    return secret

"""The SQLite schema, as an ordered list of migrations.

The schema version lives in ``PRAGMA user_version`` and the file is marked as
ours with ``PRAGMA application_id``, so a stray SQLite file is never mistaken
for a world. A new database is built by running every migration from 0, and
an old one by running the missing ones: there is one path to every version,
so a fresh database and an upgraded one cannot differ. All pending
migrations run in ONE transaction together with the version bump: a crash
or error midway leaves the file exactly at its old version.

To change the schema, append a :class:`Migration`; never edit a released one.

Choices:

* No declared foreign keys. A group commit carries the final state of each
  key, and a driver-side slip in ordering (a callout row for an object the
  same batch deleted) must not wedge the committer, which would stop the
  world from saving anything. Cascades (tenant -> everything, object ->
  callouts and reset) are done explicitly by the commit.
* Rowid tables with a composite primary key: rows with large state blobs
  are exactly the case SQLite recommends against ``WITHOUT ROWID`` for.
* Maps and lists inside a row (state, quotas, history) are CBOR blobs: one
  blob per object keeps loading 100,000 objects to one row read each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

#: "JRLM": marks a SQLite file as a JitRealm database.
APPLICATION_ID = 0x4A524C4D


@dataclass(frozen=True, slots=True)
class Migration:
    """Takes a database from ``version - 1`` to ``version``."""

    version: int
    summary: str
    statements: tuple[str, ...] = ()
    transform: Callable[[sqlite3.Connection], None] | None = None  # data changes, after the DDL

    def apply(self, conn: sqlite3.Connection) -> None:
        # Statement by statement: executescript() would COMMIT first and break
        # the one-transaction guarantee.
        for statement in self.statements:
            conn.execute(statement)
        if self.transform is not None:
            self.transform(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the world: tenants, blueprints, versions, objects, accounts, meta",
        (
            """CREATE TABLE meta (
                key TEXT PRIMARY KEY NOT NULL,
                value
            )""",
            """CREATE TABLE tenants (
                name TEXT PRIMARY KEY NOT NULL,
                quotas BLOB NOT NULL,            -- CBOR map
                clone_counter INTEGER NOT NULL,
                next_handle INTEGER NOT NULL
            )""",
            """CREATE TABLE versions (
                version TEXT PRIMARY KEY NOT NULL,  -- content hash
                component BLOB NOT NULL
            )""",
            """CREATE TABLE blueprints (
                tenant TEXT NOT NULL,
                path TEXT NOT NULL,
                version TEXT,
                language TEXT NOT NULL,
                source TEXT,
                source_hash TEXT,
                history BLOB NOT NULL,           -- CBOR array of versions, oldest first
                PRIMARY KEY (tenant, path)
            )""",
            """CREATE TABLE objects (
                tenant TEXT NOT NULL,
                id TEXT NOT NULL,
                blueprint TEXT,                  -- NULL: a player
                version TEXT,
                env TEXT,
                position INTEGER NOT NULL,
                heartbeat_ms INTEGER NOT NULL,
                state BLOB NOT NULL,             -- CBOR map text -> bytes
                PRIMARY KEY (tenant, id)
            )""",
            """CREATE TABLE accounts (
                key TEXT PRIMARY KEY NOT NULL,   -- lower-case name
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                is_wizard INTEGER NOT NULL,
                created_at REAL NOT NULL,
                last_login REAL
            )""",
        ),
    ),
    Migration(
        2,
        "timers: pending callouts and room resets",
        (
            """CREATE TABLE callouts (
                tenant TEXT NOT NULL,
                handle INTEGER NOT NULL,
                object_id TEXT NOT NULL,
                method TEXT NOT NULL,
                args BLOB NOT NULL,
                due_wall_ms INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY (tenant, handle)
            )""",
            "CREATE INDEX callouts_by_object ON callouts (tenant, object_id)",
            """CREATE TABLE resets (
                tenant TEXT NOT NULL,
                object_id TEXT NOT NULL,
                due_wall_ms INTEGER NOT NULL,
                PRIMARY KEY (tenant, object_id)
            )""",
        ),
    ),
)


def _accounts_per_tenant(conn: sqlite3.Connection) -> None:
    """Accounts belonged to the one world there was: move them into it (the
    tenant the store holds, or the default one for a store without any)."""
    row = conn.execute("SELECT name FROM tenants ORDER BY name LIMIT 1").fetchone()
    owner = row[0] if row is not None else "demo"
    conn.execute(
        "INSERT INTO accounts_v3 (tenant, key, name, password_hash, is_wizard, created_at, last_login) "
        "SELECT ?, key, name, password_hash, is_wizard, created_at, last_login FROM accounts",
        (owner,),
    )
    conn.execute("DROP TABLE accounts")
    conn.execute("ALTER TABLE accounts_v3 RENAME TO accounts")


MIGRATIONS += (
    Migration(
        3,
        "many tenants: settings, accounts per tenant, API tokens, guest errors, bans",
        (
            "ALTER TABLE tenants ADD COLUMN settings BLOB NOT NULL DEFAULT x'a0'",  # CBOR {}
            """CREATE TABLE accounts_v3 (
                tenant TEXT NOT NULL,
                key TEXT NOT NULL,               -- lower-case name
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                is_wizard INTEGER NOT NULL,
                created_at REAL NOT NULL,
                last_login REAL,
                PRIMARY KEY (tenant, key)
            )""",
            """CREATE TABLE tokens (
                hash TEXT PRIMARY KEY NOT NULL,  -- sha256 hex of the secret
                role TEXT NOT NULL,
                tenant TEXT,                     -- NULL: server-wide
                label TEXT NOT NULL,
                created_at REAL NOT NULL
            )""",
            """CREATE TABLE guest_errors (
                tenant TEXT NOT NULL,
                seq INTEGER NOT NULL,
                at REAL NOT NULL,
                record BLOB NOT NULL,            -- CBOR map
                PRIMARY KEY (tenant, seq)
            )""",
            """CREATE TABLE bans (
                tenant TEXT NOT NULL,
                kind TEXT NOT NULL,              -- 'account' or 'address'
                target TEXT NOT NULL,
                until REAL,                      -- NULL: for good
                reason TEXT NOT NULL,
                by TEXT NOT NULL,
                PRIMARY KEY (tenant, kind, target)
            )""",
        ),
        _accounts_per_tenant,
    ),
)

#: The schema this code reads and writes.
CURRENT = MIGRATIONS[-1].version

assert [m.version for m in MIGRATIONS] == list(range(1, CURRENT + 1)), "migrations out of order"


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Bring ``conn``'s database from ``from_version`` to :data:`CURRENT` in
    one transaction (the caller has checked ``from_version <= CURRENT``)."""
    if from_version == CURRENT:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if from_version == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for migration in MIGRATIONS[from_version:]:
            migration.apply(conn)
        conn.execute(f"PRAGMA user_version = {CURRENT}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise

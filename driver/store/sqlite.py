"""The SQLite store: one file, ``<data>/jitrealm.db``, in WAL mode.

Durability. ``synchronous=FULL`` by default. In WAL mode a commit appends to
the ``-wal`` file; with ``NORMAL`` that append is not fsynced until the next
checkpoint. The data is then in the OS page cache, so it survives the driver
process being SIGKILLed (the kernel still writes it out), but a power cut or
kernel crash can lose the last commits, which players were already told
about. ``FULL`` fsyncs the WAL at every commit. Group commit pays that fsync
once per batch, not per event, so the cost is a few milliseconds of commit
latency, not throughput. ``synchronous="normal"`` is available for disks
where fsync is very slow and losing the last second on power loss is
acceptable. Either way the file itself is never corrupted by a crash.

Threads. The driver commits from a worker thread (``trio.to_thread``) while
the event loop thread reads accounts. SQLite allows one writer at a time
anyway, so there is ONE writer connection behind a ``threading.Lock``
(commits and account writes; they queue for each other instead of spinning
on SQLITE_BUSY), and a small pool of READER connections for loads, dumps
and account lookups. In WAL mode readers never wait for the writer, so the
login screen does not stall behind a commit. Account *writes* on the event
loop thread can wait for an in-flight commit (milliseconds).

Opening never repairs or recreates anything: a missing database is created
only when ``jitrealm.db`` does not exist at all (and atomically, via a
temporary file and a rename, so an existing ``jitrealm.db`` is always a
fully initialized one). Anything unexpected is a :class:`StoreError`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import cbor2

from driver.store import schema
from driver.store.accounts import (
    DEFAULT_TENANT,
    Account,
    AccountExists,
    AccountNotFound,
    name_key,
)
from driver.store.errors import (
    SchemaTooNewError,
    SchemaTooOldError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreLockedError,
)
from driver.store.lockfile import DirLock
from driver.store.records import (
    BanRow,
    Batch,
    BlueprintRow,
    CalloutRow,
    ErrorRow,
    ObjectRow,
    ResetRow,
    Snapshot,
    TenantRow,
    TokenRow,
    VersionRow,
)

DB_NAME = "jitrealm.db"
BUSY_TIMEOUT_MS = 1000  # only other processes (a live `jitrealm dump`) can make us wait
MAX_IDLE_READERS = 4

Sync = Literal["full", "normal"]

# Primary result codes (the low byte of an extended code).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED = 3, 5, 6
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26


def translate(exc: sqlite3.Error, where: str) -> StoreError:
    """The :class:`StoreError` for a sqlite3 exception; ``where`` names the file."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL:
        return StoreFullError(
            f"{where}: the disk or the database size limit is full; this commit was not "
            "written, everything committed before it is intact"
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StoreCorruptError(
            f"{where} is damaged or not a JitRealm database ({exc}); it was left as it is: "
            "restore it from a dump or a backup"
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StoreLockedError(f"{where} is locked by another process ({exc})")
    if code == _SQLITE_IOERR:
        return StoreIOError(f"{where}: the operating system failed a read or write ({exc})")
    if code in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN):
        return StoreError(f"{where} cannot be opened for writing ({exc}); check its permissions")
    return StoreError(f"{where}: {exc}")


# --------------------------------------------------------------------------
# Encoding rows
# --------------------------------------------------------------------------


def _encode_state(row: ObjectRow) -> bytes:
    state = row.state
    for key, value in state.items():
        if type(key) is not str or type(value) is not bytes:
            raise TypeError(f"{row.tenant}:{row.id}: state must map str to bytes (key {key!r})")
    return cbor2.dumps(state)


def _decode_map(blob: bytes, what: str) -> dict[str, Any]:
    try:
        value = cbor2.loads(blob)
    except (cbor2.CBORDecodeError, ValueError) as exc:
        raise StoreCorruptError(f"{what}: undecodable data in the database ({exc})") from exc
    if not isinstance(value, dict):
        raise StoreCorruptError(
            f"{what}: expected a map in the database, found {type(value).__name__}"
        )
    return value


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


TENANT_COLUMNS = ("name", "quotas", "clone_counter", "next_handle", "settings")
VERSION_COLUMNS = ("version", "component")
BLUEPRINT_COLUMNS = ("tenant", "path", "version", "language", "source", "source_hash", "history")
OBJECT_COLUMNS = (
    "tenant",
    "id",
    "blueprint",
    "version",
    "env",
    "position",
    "heartbeat_ms",
    "state",
)
CALLOUT_COLUMNS = ("tenant", "handle", "object_id", "method", "args", "due_wall_ms", "seq")
RESET_COLUMNS = ("tenant", "object_id", "due_wall_ms")
ACCOUNT_COLUMNS = (
    "tenant",
    "key",
    "name",
    "password_hash",
    "is_wizard",
    "created_at",
    "last_login",
)
ERROR_COLUMNS = ("tenant", "seq", "at", "record")
TOKEN_COLUMNS = ("hash", "role", "tenant", "label", "created_at")
BAN_COLUMNS = ("tenant", "kind", "target", "until", "reason", "by")

_UPSERT_TENANT = _upsert("tenants", TENANT_COLUMNS, ("name",))
_UPSERT_BLUEPRINT = _upsert("blueprints", BLUEPRINT_COLUMNS, ("tenant", "path"))
_UPSERT_OBJECT = _upsert("objects", OBJECT_COLUMNS, ("tenant", "id"))
_UPSERT_CALLOUT = _upsert("callouts", CALLOUT_COLUMNS, ("tenant", "handle"))
_UPSERT_RESET = _upsert("resets", RESET_COLUMNS, ("tenant", "object_id"))
_UPSERT_ACCOUNT = _upsert("accounts", ACCOUNT_COLUMNS, ("tenant", "key"))
_UPSERT_ERROR = _upsert("guest_errors", ERROR_COLUMNS, ("tenant", "seq"))
_UPSERT_TOKEN = _upsert("tokens", TOKEN_COLUMNS, ("hash",))
_UPSERT_BAN = _upsert("bans", BAN_COLUMNS, ("tenant", "kind", "target"))
_UPSERT_META = _upsert("meta", ("key", "value"), ("key",))
_INSERT_VERSION = "INSERT INTO versions (version, component) VALUES (?, ?) ON CONFLICT DO NOTHING"


def tenant_params(row: TenantRow) -> tuple[Any, ...]:
    return (
        row.name, cbor2.dumps(row.quotas), row.clone_counter, row.next_handle,
        cbor2.dumps(row.settings),
    )  # fmt: skip


def blueprint_params(row: BlueprintRow) -> tuple[Any, ...]:
    history = list(row.history)
    return (
        row.tenant,
        row.path,
        row.version,
        row.language,
        row.source,
        row.source_hash,
        cbor2.dumps(history),
    )


def object_params(row: ObjectRow) -> tuple[Any, ...]:
    return (
        row.tenant,
        row.id,
        row.blueprint,
        row.version,
        row.env,
        row.position,
        row.heartbeat_ms,
        _encode_state(row),
    )


def callout_params(row: CalloutRow) -> tuple[Any, ...]:
    return (
        row.tenant,
        row.handle,
        row.object_id,
        row.method,
        bytes(row.args),
        row.due_wall_ms,
        row.seq,
    )


def reset_params(row: ResetRow) -> tuple[Any, ...]:
    return (row.tenant, row.object_id, row.due_wall_ms)


def account_params(account: Account) -> tuple[Any, ...]:
    return (
        account.tenant,
        account.key,
        account.name,
        account.password_hash,
        2 if account.is_admin else int(account.is_wizard),  # 2: an admin
        float(account.created_at),
        None if account.last_login is None else float(account.last_login),
    )


def _account(row: tuple[Any, ...]) -> Account:
    tenant, _key, name, password_hash, is_wizard, created_at, last_login = row
    return Account(
        name, password_hash, bool(is_wizard), created_at, last_login, tenant, is_wizard >= 2
    )


def error_params(row: ErrorRow) -> tuple[Any, ...]:
    return (row.tenant, row.seq, float(row.at), cbor2.dumps(row.record))


def token_params(row: TokenRow) -> tuple[Any, ...]:
    return (row.hash, row.role, row.tenant, row.label, float(row.created_at))


def ban_params(row: BanRow) -> tuple[Any, ...]:
    return (row.tenant, row.kind, row.target, row.until, row.reason, row.by)


class _Prepared:
    """A batch turned into SQL parameters, before any lock or transaction is
    taken: encoding errors surface early and the write lock is held only for
    the database work."""

    def __init__(self, batch: Batch) -> None:
        self.purged_tenants = [(name,) for name in batch.purged_tenants]
        self.purged_objects = list(batch.purged_objects)
        self.tenants = [tenant_params(r) for r in batch.tenants.values()]
        self.versions = [(r.version, bytes(r.component)) for r in batch.versions.values()]
        self.blueprints = [blueprint_params(r) for r in batch.blueprints.values() if r is not None]
        self.blueprint_deletes = [k for k, r in batch.blueprints.items() if r is None]
        self.objects = [object_params(r) for r in batch.objects.values()]
        self.callouts = [callout_params(r) for r in batch.callouts.values() if r is not None]
        self.callout_deletes = [k for k, r in batch.callouts.items() if r is None]
        self.resets = [reset_params(r) for r in batch.resets.values() if r is not None]
        self.reset_deletes = [k for k, r in batch.resets.items() if r is None]
        self.accounts = [account_params(a) for a in batch.accounts.values() if a is not None]
        self.account_deletes = [k for k, a in batch.accounts.items() if a is None]
        self.errors = [error_params(r) for r in batch.errors]
        self.errors_keep = list(batch.errors_keep.items())
        self.alive_wall_ms = batch.alive_wall_ms

    def write(self, conn: sqlite3.Connection) -> None:
        """Apply inside the caller's transaction: purges first, then rows."""
        run = conn.executemany
        if self.purged_tenants:
            for table in (
                "objects", "callouts", "resets", "blueprints", "accounts", "guest_errors", "bans",
                "tokens",
            ):  # fmt: skip
                run(f"DELETE FROM {table} WHERE tenant = ?", self.purged_tenants)
            run("DELETE FROM tenants WHERE name = ?", self.purged_tenants)
        if self.purged_objects:
            run("DELETE FROM objects WHERE tenant = ? AND id = ?", self.purged_objects)
            run("DELETE FROM callouts WHERE tenant = ? AND object_id = ?", self.purged_objects)
            run("DELETE FROM resets WHERE tenant = ? AND object_id = ?", self.purged_objects)
        if self.tenants:
            run(_UPSERT_TENANT, self.tenants)
        if self.versions:
            run(_INSERT_VERSION, self.versions)
        if self.blueprints:
            run(_UPSERT_BLUEPRINT, self.blueprints)
        if self.blueprint_deletes:
            run("DELETE FROM blueprints WHERE tenant = ? AND path = ?", self.blueprint_deletes)
        if self.objects:
            run(_UPSERT_OBJECT, self.objects)
        if self.callouts:
            run(_UPSERT_CALLOUT, self.callouts)
        if self.callout_deletes:
            run("DELETE FROM callouts WHERE tenant = ? AND handle = ?", self.callout_deletes)
        if self.resets:
            run(_UPSERT_RESET, self.resets)
        if self.reset_deletes:
            run("DELETE FROM resets WHERE tenant = ? AND object_id = ?", self.reset_deletes)
        if self.accounts:
            run(_UPSERT_ACCOUNT, self.accounts)
        if self.account_deletes:
            run("DELETE FROM accounts WHERE tenant = ? AND key = ?", self.account_deletes)
        if self.errors:
            run(_UPSERT_ERROR, self.errors)
            for tenant, keep in self.errors_keep:
                conn.execute(
                    "DELETE FROM guest_errors WHERE tenant = ? AND seq <= "
                    "(SELECT max(seq) FROM guest_errors WHERE tenant = ?) - ?",
                    (tenant, tenant, max(0, keep)),
                )
        if self.alive_wall_ms is not None:
            conn.execute(_UPSERT_META, ("alive_wall_ms", self.alive_wall_ms))


# --------------------------------------------------------------------------
# Opening files
# --------------------------------------------------------------------------


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A connection in manual-transaction mode. Without ``create``, a missing
    file is an error instead of a new empty database."""
    mode = "rwc" if create else "rw"
    conn = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode={mode}",
        uri=True,
        isolation_level=None,  # we issue BEGIN/COMMIT ourselves
        check_same_thread=False,  # guarded by our own locks (see module docstring)
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def check_database(conn: sqlite3.Connection, path: Path, *, check: bool) -> int:
    """Check that ``conn`` is a sound JitRealm database; return its schema version.

    Reads only: nothing is written to a file that fails a check.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if app_id != schema.APPLICATION_ID or version < 1:
            raise StoreCorruptError(
                f"{path} is empty or not a JitRealm database (application id {app_id:#x}, "
                f"schema {version}); it was left as it is"
            )
        if version > schema.CURRENT:
            raise SchemaTooNewError(
                f"{path} was created by a newer JitRealm (schema {version}, this one knows "
                f"{schema.CURRENT}); run a newer JitRealm on it"
            )
        if check:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise StoreCorruptError(
                    f"{path} failed its integrity check ({'; '.join(problems)}); it was left "
                    "as it is: restore it from a dump or a backup"
                )
    except sqlite3.Error as exc:
        raise translate(exc, str(path)) from exc
    return version


def fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_database_files(path: Path) -> None:
    """Delete ``path`` and its journal/WAL companions, if present."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def create_database(path: Path) -> None:
    """Create a fully initialized, empty database at ``path`` (not there yet).

    The file is built beside and renamed into place, so a crash during
    creation never leaves a half-made ``path`` that a later start would
    mistake for a world.
    """
    temp = path.with_name(path.name + ".new")
    remove_database_files(temp)
    try:
        conn = connect(temp, create=True)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            schema.migrate(conn, 0)
            conn.execute(_UPSERT_META, ("created_ms", int(time.time() * 1000)))
        finally:
            conn.close()  # the last connection checkpoints and removes the WAL
        fsync_path(temp)
        os.replace(temp, path)
        fsync_path(path.parent, directory=True)
    except sqlite3.Error as exc:
        remove_database_files(temp)
        raise translate(exc, str(path)) from exc
    except BaseException:
        remove_database_files(temp)
        raise


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


class SqliteScan:
    """All rows of one store as seen by one read transaction (see
    :meth:`SqliteStore.scan`). Each method streams its table; reading them
    in any order gives one consistent snapshot."""

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self._conn = conn
        self._where = where
        self.schema: int = conn.execute("PRAGMA user_version").fetchone()[0]

    def meta(self) -> dict[str, Any]:
        return dict(self._conn.execute("SELECT key, value FROM meta ORDER BY key"))

    def tenants(self) -> Iterator[TenantRow]:
        for name, quotas, clone_counter, next_handle, settings in self._conn.execute(
            "SELECT name, quotas, clone_counter, next_handle, settings FROM tenants ORDER BY name"
        ):
            yield TenantRow(
                name, _decode_map(quotas, f"tenant {name}"), clone_counter, next_handle,
                _decode_map(settings, f"tenant {name}'s settings"),
            )  # fmt: skip

    def versions(self) -> Iterator[VersionRow]:
        for version, component in self._conn.execute(
            "SELECT version, component FROM versions ORDER BY version"
        ):
            yield VersionRow(version, component)

    def blueprints(self) -> Iterator[BlueprintRow]:
        for tenant, path, version, language, source, source_hash, history in self._conn.execute(
            f"SELECT {', '.join(BLUEPRINT_COLUMNS)} FROM blueprints ORDER BY tenant, path"
        ):
            try:
                versions = cbor2.loads(history)
            except (cbor2.CBORDecodeError, ValueError) as exc:
                raise StoreCorruptError(f"blueprint {tenant}:{path}: undecodable history") from exc
            yield BlueprintRow(tenant, path, version, language, source, source_hash, versions)

    def objects(self) -> Iterator[ObjectRow]:
        """Ordered by tenant, then position (see :class:`Snapshot`)."""
        loads = cbor2.loads
        for (
            tenant,
            object_id,
            blueprint,
            version,
            env,
            position,
            heartbeat_ms,
            state,
        ) in self._conn.execute(
            f"SELECT {', '.join(OBJECT_COLUMNS)} FROM objects ORDER BY tenant, position"
        ):
            try:
                decoded = loads(state)
            except (cbor2.CBORDecodeError, ValueError) as exc:
                raise StoreCorruptError(
                    f"{self._where}: object {tenant}:{object_id} has undecodable state ({exc})"
                ) from exc
            if type(decoded) is not dict:
                raise StoreCorruptError(
                    f"{self._where}: object {tenant}:{object_id}: state is not a map"
                )
            yield ObjectRow(
                tenant, object_id, blueprint, version, env, position, heartbeat_ms, decoded
            )

    def callouts(self) -> Iterator[CalloutRow]:
        for row in self._conn.execute(
            f"SELECT {', '.join(CALLOUT_COLUMNS)} FROM callouts ORDER BY tenant, due_wall_ms, seq"
        ):
            yield CalloutRow(*row)

    def resets(self) -> Iterator[ResetRow]:
        for row in self._conn.execute(
            f"SELECT {', '.join(RESET_COLUMNS)} FROM resets ORDER BY tenant, object_id"
        ):
            yield ResetRow(*row)

    def accounts(self) -> Iterator[Account]:
        for row in self._conn.execute(
            f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts ORDER BY tenant, key"
        ):
            yield _account(row)

    def errors(self) -> Iterator[ErrorRow]:
        for tenant, seq, at, record in self._conn.execute(
            f"SELECT {', '.join(ERROR_COLUMNS)} FROM guest_errors ORDER BY tenant, seq"
        ):
            yield ErrorRow(tenant, seq, at, _decode_map(record, f"error {tenant}/{seq}"))

    def tokens(self) -> Iterator[TokenRow]:
        for row in self._conn.execute(
            f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens ORDER BY hash"
        ):
            yield TokenRow(*row)

    def bans(self) -> Iterator[BanRow]:
        for row in self._conn.execute(
            f"SELECT {', '.join(BAN_COLUMNS)} FROM bans ORDER BY tenant, kind, target"
        ):
            yield BanRow(*row)


class _Readers:
    """A pool of reader connections, opened on demand."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreClosedError(f"the store at {self._path} is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = connect(self._path)
            conn.execute("PRAGMA query_only = ON")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            with self._lock:
                keep = not self._closed and len(self._idle) < MAX_IDLE_READERS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# --------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------


class SqliteStore:
    """The world's store in ``data_dir`` (see module docstring).

    ``readonly=True`` opens an existing world without taking the directory
    lock, for a dump of a live server from another process; it cannot write
    or migrate. ``check=False`` skips ``PRAGMA quick_check`` at open.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        readonly: bool = False,
        synchronous: Sync = "full",
        check: bool = True,
    ) -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.readonly = readonly
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._lock: DirLock | None = None
        self._default_max_pages = 0
        where = str(self.path)
        if readonly:
            if not self.path.exists():
                raise StoreError(f"there is no JitRealm world in {self.data_dir} (no {DB_NAME})")
        else:
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the data directory {self.data_dir}: {exc.strerror}"
                ) from exc
            self._lock = DirLock.acquire(self.data_dir)
        try:
            if not readonly and not self.path.exists():
                if Path(f"{self.path}-wal").exists():
                    raise StoreCorruptError(
                        f"{self.data_dir} has {DB_NAME}-wal but no {DB_NAME}: the database "
                        "was removed or moved; refusing to start an empty world over it"
                    )
                create_database(self.path)
            try:
                conn = connect(self.path)
            except sqlite3.Error as exc:
                raise translate(exc, where) from exc
            try:
                version = check_database(conn, self.path, check=check)
                if readonly:
                    if version < schema.CURRENT:
                        raise SchemaTooOldError(
                            f"{self.path} has schema {version}; start the server on it once to "
                            f"upgrade it to {schema.CURRENT} before reading it this way"
                        )
                    conn.close()
                else:
                    self._configure_writer(conn, synchronous)
                    schema.migrate(conn, version)
                    self._writer = conn
            except sqlite3.Error as exc:
                conn.close()
                raise translate(exc, where) from exc
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._readers = _Readers(self.path)

    def _configure_writer(self, conn: sqlite3.Connection, synchronous: Sync) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{self.path}: cannot use WAL mode (got {mode!r})")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        # Keep a checkpointed WAL from staying as big as its largest burst.
        conn.execute(f"PRAGMA journal_size_limit = {64 * 1024 * 1024}")
        self._default_max_pages = conn.execute("PRAGMA max_page_count").fetchone()[0]

    # -- life cycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection and release the directory lock (idempotent).
        Call it when no commit, load or dump is running."""
        self._readers.close()
        with self._write_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()  # last connection: checkpoints and removes the WAL
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The writer connection, exclusively; sqlite errors become StoreErrors."""
        with self._write_lock:
            conn = self._writer
            if conn is None:
                if self.readonly:
                    raise StoreError(f"the store at {self.data_dir} was opened read-only")
                raise StoreClosedError(f"the store at {self.data_dir} is closed")
            try:
                yield conn
            except sqlite3.Error as exc:
                raise translate(exc, str(self.path)) from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            with self._readers.connection() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path)) from exc

    # -- writing ------------------------------------------------------------------------------

    def commit(self, batch: Batch) -> None:
        """Write ``batch`` in one transaction; on return it is durable.

        On any error nothing of the batch is written. :class:`StoreFullError`
        when out of space: the store stays usable, and the same batch can be
        committed again once there is room.
        """
        prepared = _Prepared(batch)
        with self._writing() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                prepared.write(conn)
                conn.execute("COMMIT")
            except BaseException:
                # SQLITE_FULL and some I/O errors roll back by themselves.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def set_size_limit(self, max_bytes: int | None) -> int:
        """Cap the database file at about ``max_bytes`` (None: no cap); commits
        that would grow it further fail with :class:`StoreFullError`. Returns
        the effective cap in bytes (never below the current size)."""
        with self._writing() as conn:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            pages = self._default_max_pages if max_bytes is None else max(1, max_bytes // page_size)
            effective = conn.execute(f"PRAGMA max_page_count = {int(pages)}").fetchone()[0]
            return int(effective) * page_size

    def prune_versions(self) -> int:
        """Delete component bytes that no object runs and no blueprint has as
        its current version; returns how many. (Old versions in a blueprint's
        history can be rebuilt from source.)"""
        with self._writing() as conn:
            cursor = conn.execute(
                "DELETE FROM versions WHERE version NOT IN "
                "(SELECT version FROM objects WHERE version IS NOT NULL "
                " UNION SELECT version FROM blueprints WHERE version IS NOT NULL)"
            )
            return cursor.rowcount

    # -- reading ------------------------------------------------------------------------------

    @contextmanager
    def scan(self) -> Iterator[SqliteScan]:
        """Stream everything from ONE read transaction (a consistent snapshot,
        even while commits go on). Consume the iterators inside the block."""
        with self._reading() as conn:
            conn.execute("BEGIN")
            scan = SqliteScan(conn, str(self.path))
            try:
                yield scan
            except sqlite3.Error as exc:
                raise translate(exc, str(self.path)) from exc

    def load(self) -> Snapshot:
        """Everything in the store, for restoring the world at start-up."""
        with self.scan() as scan:
            return Snapshot(
                schema=scan.schema,
                meta=scan.meta(),
                tenants=list(scan.tenants()),
                objects=list(scan.objects()),
                callouts=list(scan.callouts()),
                resets=list(scan.resets()),
                blueprints=list(scan.blueprints()),
                versions={v.version: v.component for v in scan.versions()},
                accounts=list(scan.accounts()),
                errors=list(scan.errors()),
            )

    def get_version(self, version: str) -> bytes | None:
        """One component's bytes, or None."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT component FROM versions WHERE version = ?", (version,)
            ).fetchone()
        return None if row is None else row[0]

    # -- accounts, tokens and bans: small immediate transactions ---------------------------

    def accounts_of(self, tenant: str) -> SqliteAccounts:
        """The :class:`~driver.store.accounts.AccountStore` of one tenant."""
        return SqliteAccounts(self, tenant)

    # The store itself is the default tenant's account store (a world of one).
    def get(self, name: str) -> Account | None:
        return self.accounts_of(DEFAULT_TENANT).get(name)

    def create(self, account: Account) -> None:
        self.accounts_of(account.tenant).create(account)

    def update(self, account: Account) -> None:
        self.accounts_of(account.tenant).update(account)

    def count(self) -> int:
        return self.accounts_of(DEFAULT_TENANT).count()

    def put_token(self, row: TokenRow) -> None:
        with self._writing() as conn:
            conn.execute(_UPSERT_TOKEN, token_params(row))

    def delete_token(self, hash_: str) -> bool:
        with self._writing() as conn:
            return conn.execute("DELETE FROM tokens WHERE hash = ?", (hash_,)).rowcount > 0

    def tokens(self) -> list[TokenRow]:
        with self.scan() as scan:
            return list(scan.tokens())

    def put_ban(self, row: BanRow) -> None:
        with self._writing() as conn:
            conn.execute(_UPSERT_BAN, ban_params(row))

    def delete_ban(self, tenant: str, kind: str, target: str) -> bool:
        with self._writing() as conn:
            cursor = conn.execute(
                "DELETE FROM bans WHERE tenant = ? AND kind = ? AND target = ?",
                (tenant, kind, target),
            )
            return cursor.rowcount > 0

    def bans(self) -> list[BanRow]:
        with self.scan() as scan:
            return list(scan.bans())


class SqliteAccounts:
    """One tenant's accounts in a :class:`SqliteStore` (an AccountStore)."""

    def __init__(self, store: SqliteStore, tenant: str) -> None:
        self._store = store
        self.store = store  # the tenant's other tables (bans) are there too
        self.tenant = tenant

    def get(self, name: str) -> Account | None:
        with self._store._reading() as conn:
            row = conn.execute(
                f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts WHERE tenant = ? AND key = ?",
                (self.tenant, name_key(name)),
            ).fetchone()
        return None if row is None else _account(row)

    def create(self, account: Account) -> None:
        params = account_params(replace(account, tenant=self.tenant))
        with self._store._writing() as conn:
            cursor = conn.execute(
                f"INSERT INTO accounts ({', '.join(ACCOUNT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(ACCOUNT_COLUMNS))}) "
                "ON CONFLICT (tenant, key) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise AccountExists(account.name)

    def update(self, account: Account) -> None:
        tenant, key, *rest = account_params(replace(account, tenant=self.tenant))
        with self._store._writing() as conn:
            cursor = conn.execute(
                "UPDATE accounts SET name = ?, password_hash = ?, is_wizard = ?, created_at = ?, "
                "last_login = ? WHERE tenant = ? AND key = ?",
                (*rest, tenant, key),
            )
            if cursor.rowcount == 0:
                raise AccountNotFound(account.name)

    def count(self) -> int:
        with self._store._reading() as conn:
            return int(
                conn.execute(
                    "SELECT count(*) FROM accounts WHERE tenant = ?", (self.tenant,)
                ).fetchone()[0]
            )

    def all(self) -> list[Account]:
        with self._store._reading() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(ACCOUNT_COLUMNS)} FROM accounts WHERE tenant = ? ORDER BY key",
                (self.tenant,),
            ).fetchall()
        return [_account(row) for row in rows]

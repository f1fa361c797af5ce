"""Dumps: a whole world as one portable, versioned CBOR file.

A dump is independent of the database schema and engine: it is what
``jitrealm dump`` writes and ``jitrealm restore`` reads, for backups, moving a
world between machines, and upgrading across schema changes.

Format, version 1
=================

A CBOR sequence (RFC 8742: CBOR data items written back to back, no framing
around them). Every item is a map with text keys. Integers are CBOR integers
and fit in a signed 64-bit range; "bytes" are CBOR byte strings; "null" is
CBOR null.

1. The **header**, first::

       {"format": "jitrealm-dump", "version": 1, "created_ms": <int, Unix ms>,
        "schema": <int, the store schema it was dumped from, informational>,
        "generator": <text, optional>}

   A reader refuses a ``version`` it does not know. Extra header keys are
   allowed (informational); extra keys in records are not.

2. **Records**, each a map whose ``"t"`` names its kind. Kinds appear grouped,
   in this order (any kind may have no records):

   ``meta``
       ``key`` text, ``value`` int | float | text | bytes | null.
       Store bookkeeping: ``created_ms`` (when the world was created),
       ``alive_wall_ms`` (when it was last known running: callouts and resets
       are restored with ``due_wall_ms - alive_wall_ms`` still to wait).
   ``tenant``
       ``name`` text, ``quotas`` map (text keys, plain values),
       ``clone_counter`` int, ``next_handle`` int.
   ``version``
       ``version`` text (content hash), ``component`` bytes (the compiled
       WebAssembly component).
   ``blueprint``
       ``tenant`` text, ``path`` text, ``version`` text | null (current),
       ``language`` text, ``source`` text | null, ``source_hash`` text | null,
       ``history`` array of text (versions published, oldest first).
   ``object``
       ``tenant`` text, ``id`` text, ``blueprint`` text | null (null: a
       player), ``version`` text | null, ``env`` text | null, ``position`` int
       (orders an environment's contents), ``heartbeat_ms`` int, ``state``
       map text -> bytes (each value is the CBOR encoding of a state value).
   ``callout``
       ``tenant`` text, ``handle`` int, ``object_id`` text, ``method`` text,
       ``args`` bytes, ``due_wall_ms`` int, ``seq`` int.
   ``reset``
       ``tenant`` text, ``object_id`` text, ``due_wall_ms`` int.
   ``account``
       ``name`` text, ``password_hash`` text, ``is_wizard`` bool,
       ``created_at`` float (Unix seconds), ``last_login`` float | null,
       ``tenant`` text and ``is_admin`` bool (version 2; version 1: the
       default tenant, and False).

   Keys are unique per kind: (``key``), (``name``), (``version``),
   (``tenant``, ``path``), (``tenant``, ``id``), (``tenant``, ``handle``),
   (``tenant``, ``object_id``), and the lower-cased account ``name``.

3. The **end record**, last::

       {"t": "end", "counts": {<kind>: <int>, ...}, "sha256": <32 bytes>}

   ``counts`` has the number of records of each kind (missing = 0) and
   ``sha256`` is the SHA-256 of every byte before the end record (header
   included). A dump without its end record is truncated; nothing may follow it.

A dump contains password hashes: treat it like the data directory itself
(:func:`dump_to_path` creates the file with mode 0600).

Restore validates the header, every record, the counts and the checksum, and
builds the database beside its final name, renaming it into place only when
all of it was good: a bad dump leaves the target directory as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import cbor2
import jsonschema

from driver.store import Store, schema
from driver.store.accounts import DEFAULT_TENANT, Account, name_key
from driver.store.errors import DumpError, RestoreTargetError, StoreError
from driver.store.lockfile import LOCK_NAME, DirLock
from driver.store.records import (
    BanRow,
    BlueprintRow,
    CalloutRow,
    ErrorRow,
    ObjectRow,
    ResetRow,
    TenantRow,
    TokenRow,
    VersionRow,
)
from driver.store.sqlite import (
    ACCOUNT_COLUMNS,
    BAN_COLUMNS,
    BLUEPRINT_COLUMNS,
    CALLOUT_COLUMNS,
    DB_NAME,
    ERROR_COLUMNS,
    OBJECT_COLUMNS,
    RESET_COLUMNS,
    TENANT_COLUMNS,
    TOKEN_COLUMNS,
    VERSION_COLUMNS,
    account_params,
    ban_params,
    blueprint_params,
    callout_params,
    check_database,
    connect,
    create_database,
    error_params,
    fsync_path,
    object_params,
    remove_database_files,
    reset_params,
    tenant_params,
    token_params,
    translate,
)

FORMAT = "jitrealm-dump"
VERSION = 2  # 2: many tenants (tenant settings, accounts per tenant, tokens, bans, errors)

HEADER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "version", "created_ms", "schema"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"enum": [1, VERSION]},
        "created_ms": {"type": "integer"},
        "schema": {"type": "integer", "minimum": 0},
        "generator": {"type": "string"},
    },
}

Counts = dict[str, int]

# --------------------------------------------------------------------------
# Field checks (hand-written: jsonschema has no bytes type and would cost
# seconds over 100,000 records)
# --------------------------------------------------------------------------

_INT64 = (-(2**63), 2**63 - 1)


def _str(v: Any) -> bool:
    return type(v) is str


def _opt_str(v: Any) -> bool:
    return v is None or type(v) is str


def _int(v: Any) -> bool:
    return type(v) is int and _INT64[0] <= v <= _INT64[1]


def _float(v: Any) -> bool:
    return (type(v) is float and math.isfinite(v)) or _int(v)


def _opt_float(v: Any) -> bool:
    return v is None or _float(v)


def _bool(v: Any) -> bool:
    return type(v) is bool


def _bytes(v: Any) -> bool:
    return type(v) is bytes


def _scalar(v: Any) -> bool:
    return v is None or _str(v) or _bytes(v) or _float(v)


def _state(v: Any) -> bool:
    return type(v) is dict and all(type(k) is str and type(x) is bytes for k, x in v.items())


def _str_list(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _plain(v: Any, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if v is None or type(v) in (bool, str, bytes) or _float(v):
        return True
    if type(v) is list:
        return all(_plain(x, depth + 1) for x in v)
    if type(v) is dict:
        return all(type(k) is str and _plain(x, depth + 1) for k, x in v.items())
    return False


def _plain_map(v: Any) -> bool:
    return type(v) is dict and _plain(v)


_CHECK_NAMES: dict[Callable[[Any], bool], str] = {
    _str: "text",
    _opt_str: "text or null",
    _int: "a 64-bit integer",
    _float: "a finite number",
    _opt_float: "a finite number or null",
    _bool: "a boolean",
    _bytes: "bytes",
    _scalar: "an integer, float, text, bytes or null",
    _state: "a map of text to bytes",
    _str_list: "an array of text",
    _plain_map: "a map of plain values",
}

#: Each kind's fields, in dump order. The first entries of KEYS name the key.
FIELDS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "meta": {"key": _str, "value": _scalar},
    "tenant": {
        "name": _str,
        "quotas": _plain_map,
        "clone_counter": _int,
        "next_handle": _int,
        "settings": _plain_map,
    },
    "version": {"version": _str, "component": _bytes},
    "blueprint": {
        "tenant": _str,
        "path": _str,
        "version": _opt_str,
        "language": _str,
        "source": _opt_str,
        "source_hash": _opt_str,
        "history": _str_list,
    },
    "object": {
        "tenant": _str,
        "id": _str,
        "blueprint": _opt_str,
        "version": _opt_str,
        "env": _opt_str,
        "position": _int,
        "heartbeat_ms": _int,
        "state": _state,
    },
    "callout": {
        "tenant": _str,
        "handle": _int,
        "object_id": _str,
        "method": _str,
        "args": _bytes,
        "due_wall_ms": _int,
        "seq": _int,
    },
    "reset": {"tenant": _str, "object_id": _str, "due_wall_ms": _int},
    "account": {
        "name": _str,
        "password_hash": _str,
        "is_wizard": _bool,
        "created_at": _float,
        "last_login": _opt_float,
        "tenant": _str,
        "is_admin": _bool,
    },
    "error": {"tenant": _str, "seq": _int, "at": _float, "record": _plain_map},
    "token": {"hash": _str, "role": _str, "tenant": _opt_str, "label": _str, "created_at": _float},
    "ban": {
        "tenant": _str,
        "kind": _str,
        "target": _str,
        "until": _opt_float,
        "reason": _str,
        "by": _str,
    },
}
#: Fields a version-1 dump (one world) lacks, and what they were then.
DEFAULTS_V1: dict[str, dict[str, Any]] = {
    "tenant": {"settings": {}},
    "account": {"tenant": DEFAULT_TENANT, "is_admin": False},
}
KINDS = tuple(FIELDS)
_RANK = {kind: i for i, kind in enumerate(KINDS)}

_KEY: dict[str, Callable[[dict[str, Any]], Any]] = {
    "meta": lambda r: r["key"],
    "tenant": lambda r: r["name"],
    "version": lambda r: r["version"],
    "blueprint": lambda r: (r["tenant"], r["path"]),
    "object": lambda r: (r["tenant"], r["id"]),
    "callout": lambda r: (r["tenant"], r["handle"]),
    "reset": lambda r: (r["tenant"], r["object_id"]),
    "account": lambda r: (r["tenant"], name_key(r["name"])),
    "error": lambda r: (r["tenant"], r["seq"]),
    "token": lambda r: r["hash"],
    "ban": lambda r: (r["tenant"], r["kind"], r["target"]),
}

# --------------------------------------------------------------------------
# Dump
# --------------------------------------------------------------------------


def _record(kind: str, row: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"t": kind}
    for name in FIELDS[kind]:
        record[name] = getattr(row, name)
    return record


def dump(store: Store, out: BinaryIO, *, generator: str = "jitrealm") -> Counts:
    """Write a consistent snapshot of ``store`` to ``out``; return the counts.

    Reads in one transaction, so a live world can be dumped while it runs;
    rows are streamed, never all held in memory.
    """
    digest = hashlib.sha256()
    counts: Counts = dict.fromkeys(KINDS, 0)

    def emit(item: dict[str, Any]) -> None:
        data = cbor2.dumps(item)
        digest.update(data)
        out.write(data)

    with store.scan() as scan:
        emit(
            {
                "format": FORMAT,
                "version": VERSION,
                "created_ms": int(time.time() * 1000),
                "schema": scan.schema,
                "generator": generator,
            }
        )
        sources: dict[str, Callable[[], Iterator[Any]]] = {
            "tenant": scan.tenants,
            "version": scan.versions,
            "blueprint": scan.blueprints,
            "object": scan.objects,
            "callout": scan.callouts,
            "reset": scan.resets,
            "account": scan.accounts,
            "error": scan.errors,
            "token": scan.tokens,
            "ban": scan.bans,
        }
        for key, value in scan.meta().items():
            emit({"t": "meta", "key": key, "value": value})
            counts["meta"] += 1
        for kind, rows in sources.items():
            for row in rows():
                emit(_record(kind, row))
                counts[kind] += 1
    out.write(cbor2.dumps({"t": "end", "counts": counts, "sha256": digest.digest()}))
    return counts


def dump_to_path(store: Store, path: Path) -> Counts:
    """:func:`dump` into ``path`` atomically (temp file, fsync, rename), mode 0600."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            counts = dump(store, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent, directory=True)
    return counts


# --------------------------------------------------------------------------
# Restore
# --------------------------------------------------------------------------


def _rows(kind: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """SQL parameters for one validated record."""
    if kind == "tenant":
        return tenant_params(
            TenantRow(
                record["name"],
                record["quotas"],
                record["clone_counter"],
                record["next_handle"],
                record["settings"],
            )  # fmt: skip
        )
    if kind == "version":
        row = VersionRow(record["version"], record["component"])
        return (row.version, row.component)
    if kind == "blueprint":
        return blueprint_params(BlueprintRow(*(record[f] for f in BLUEPRINT_COLUMNS)))
    if kind == "object":
        return object_params(ObjectRow(*(record[f] for f in OBJECT_COLUMNS)))
    if kind == "callout":
        return callout_params(CalloutRow(*(record[f] for f in CALLOUT_COLUMNS)))
    if kind == "reset":
        return reset_params(ResetRow(*(record[f] for f in RESET_COLUMNS)))
    if kind == "account":
        return account_params(Account(*(record[f] for f in FIELDS["account"])))
    if kind == "error":
        return error_params(ErrorRow(*(record[f] for f in ERROR_COLUMNS)))
    if kind == "token":
        return token_params(TokenRow(*(record[f] for f in TOKEN_COLUMNS)))
    if kind == "ban":
        return ban_params(BanRow(*(record[f] for f in BAN_COLUMNS)))
    return (record["key"], record["value"])  # meta


_INSERT: dict[str, str] = {
    kind: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    for kind, table, cols in (
        ("tenant", "tenants", TENANT_COLUMNS),
        ("version", "versions", VERSION_COLUMNS),
        ("blueprint", "blueprints", BLUEPRINT_COLUMNS),
        ("object", "objects", OBJECT_COLUMNS),
        ("callout", "callouts", CALLOUT_COLUMNS),
        ("reset", "resets", RESET_COLUMNS),
        ("account", "accounts", ACCOUNT_COLUMNS),
        ("error", "guest_errors", ERROR_COLUMNS),
        ("token", "tokens", TOKEN_COLUMNS),
        ("ban", "bans", BAN_COLUMNS),
    )
}
# A new database already has meta rows (created_ms); the dump's win.
_INSERT["meta"] = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

_CHUNK = 2000


class _Reader:
    """Decodes a dump item by item, hashing exactly the bytes it consumed."""

    def __init__(self, f: BinaryIO, name: str) -> None:
        self._f = f
        self._name = name
        self._decoder = cbor2.CBORDecoder(f, allow_duplicate_keys=False, strict_hashable_types=True)
        self._hashed = f.tell()
        self.digest = hashlib.sha256()
        self.start = self._hashed

    def next(self) -> Any:
        """The next item, or raise EOFError at a clean end of the file."""
        f = self._f
        self.start = start = f.tell()
        if not f.read(1):
            raise EOFError
        f.seek(start)
        try:
            return self._decoder.decode()
        except cbor2.CBORDecodeEOF:
            raise DumpError(
                f"{self._name} is truncated (it ends inside the item at byte {start})"
            ) from None
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
            raise DumpError(f"{self._name} is corrupt at byte {start}: {exc}") from None

    def hash_through_current(self) -> None:
        """Add the last item's bytes to the running digest."""
        f = self._f
        end = f.tell()
        f.seek(self._hashed)
        self.digest.update(f.read(end - self._hashed))
        self._hashed = end


def _check_record(
    item: Any, number: int, name: str, version: int = VERSION
) -> tuple[str, dict[str, Any]]:
    where = f"{name}: record {number}"
    if type(item) is not dict:
        raise DumpError(f"{where} is not a map")
    kind = item.get("t")
    if kind == "end":
        return kind, item
    fields = FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise DumpError(f"{where} has an unknown kind {kind!r}")
    if version == 1:
        for field_name, default in DEFAULTS_V1.get(str(kind), {}).items():
            item.setdefault(field_name, default)
    if len(item) != len(fields) + 1 or not all(f in item for f in fields):
        missing = sorted(set(fields) - set(item))
        extra = sorted(str(k) for k in set(item) - set(fields) - {"t"})
        raise DumpError(
            f"{where} ({kind}) has the wrong fields (missing {missing}, unexpected {extra})"
        )
    for field_name, check in fields.items():
        if not check(item[field_name]):
            raise DumpError(f"{where} ({kind}): {field_name!r} must be {_CHECK_NAMES[check]}")
    return str(kind), item


def _check_header(item: Any, name: str) -> dict[str, Any]:
    if type(item) is not dict or item.get("format") != FORMAT:
        raise DumpError(f"{name} is not a JitRealm dump (no jitrealm-dump header)")
    version = item.get("version")
    if type(version) is int and version > VERSION:
        raise DumpError(
            f"{name} is dump format version {version}, newer than this JitRealm reads "
            f"({VERSION}); restore it with a newer JitRealm"
        )
    try:
        jsonschema.validate(item, HEADER_SCHEMA)
    except jsonschema.ValidationError as exc:
        raise DumpError(f"{name} has a bad header: {exc.message}") from None
    return item


def _load(f: BinaryIO, name: str, conn: Any) -> Counts:
    """Read and validate the whole dump, inserting into ``conn`` (one open
    transaction). Raises DumpError at the first problem."""
    reader = _Reader(f, name)
    try:
        header = _check_header(reader.next(), name)
    except EOFError:
        raise DumpError(f"{name} is empty") from None
    reader.hash_through_current()
    counts: Counts = dict.fromkeys(KINDS, 0)
    seen: dict[str, set[Any]] = {kind: set() for kind in KINDS}
    pending: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in KINDS}
    rank = 0
    number = 0

    def flush(kind: str) -> None:
        if pending[kind]:
            conn.executemany(_INSERT[kind], pending[kind])
            pending[kind].clear()

    while True:
        number += 1
        try:
            item = reader.next()
        except EOFError:
            raise DumpError(
                f"{name} is truncated: it ends after record {number - 1} with no end record"
            ) from None
        kind, record = _check_record(item, number, name, header["version"])
        if kind == "end":
            break
        reader.hash_through_current()
        if _RANK[kind] < rank:
            raise DumpError(
                f"{name}: record {number} ({kind}) is out of order (after {KINDS[rank]} records)"
            )
        if _RANK[kind] > rank:
            flush(KINDS[rank])
            rank = _RANK[kind]
        key = _KEY[kind](record)
        if key in seen[kind]:
            raise DumpError(f"{name}: record {number} is a second {kind} {key!r}")
        seen[kind].add(key)
        counts[kind] += 1
        pending[kind].append(_rows(kind, record))
        if len(pending[kind]) >= _CHUNK:
            flush(kind)
    flush(KINDS[rank])

    end = record
    if (
        set(end) != {"t", "counts", "sha256"}
        or type(end["counts"]) is not dict
        or type(end["sha256"]) is not bytes
    ):
        raise DumpError(f"{name}: the end record is malformed")
    claimed = {k: v for k, v in end["counts"].items() if v != 0}
    if claimed != {k: v for k, v in counts.items() if v != 0}:
        raise DumpError(
            f"{name}: the end record counts {end['counts']} but the dump holds {counts}"
        )
    if end["sha256"] != reader.digest.digest():
        raise DumpError(f"{name}: checksum mismatch, the dump is corrupt")
    if f.read(1):
        raise DumpError(f"{name}: unexpected data after the end record")
    return counts


@contextlib.contextmanager
def _seekable(source: Path | BinaryIO) -> Iterator[tuple[BinaryIO, str]]:
    """A seekable binary file for ``source`` and a name for messages.
    A pipe is spooled to a temporary file first."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DumpError(f"cannot read {path}: {exc.strerror}") from exc
        with f:
            yield f, str(path)
        return
    name = str(getattr(source, "name", "the dump"))
    if source.seekable():
        yield source, name
        return
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(source, spool, 1 << 20)
        spool.seek(0)
        yield spool, name


def _check_empty(data_dir: Path) -> None:
    entries = sorted(p.name for p in data_dir.iterdir() if p.name != LOCK_NAME)
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise RestoreTargetError(
            f"{data_dir} is not empty ({shown}); restore only into a new or empty directory"
        )


def restore(source: Path | BinaryIO, data_dir: Path) -> Counts:
    """Load the dump ``source`` (a path or a binary file) into the new or empty
    directory ``data_dir``; return the record counts.

    All or nothing: the database is built as ``jitrealm.db.restoring`` and
    renamed to ``jitrealm.db`` only after the end record and checksum check
    out. On any error the directory is left as it was (and removed if this
    call created it). The directory lock is held throughout, so a server
    cannot start on a half-restored world.
    """
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise RestoreTargetError(f"{data_dir} is not a directory")
    created = not data_dir.exists()
    if not created:
        _check_empty(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create {data_dir}: {exc.strerror}") from exc
    try:
        lock = DirLock.acquire(data_dir)
    except BaseException:
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    final = data_dir / DB_NAME
    temp = data_dir / (DB_NAME + ".restoring")
    try:
        _check_empty(data_dir)  # again, now that nobody else can be writing it
        with _seekable(source) as (f, name):
            create_database(temp)
            conn = connect(temp)
            try:
                conn.execute("PRAGMA synchronous = OFF")  # a temp file: fsynced once below
                conn.execute("BEGIN IMMEDIATE")
                counts = _load(f, name, conn)
                conn.execute("COMMIT")
                version = check_database(conn, temp, check=True)
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, StoreError):
                    raise
                if hasattr(exc, "sqlite_errorcode"):
                    raise translate(exc, str(temp)) from exc  # type: ignore[arg-type]
                raise DumpError(f"{name}: cannot restore it ({exc})") from exc
            finally:
                conn.close()
        if version != schema.CURRENT:
            raise StoreError(f"restored database has schema {version}, expected {schema.CURRENT}")
        fsync_path(temp)
        os.replace(temp, final)
        fsync_path(data_dir, directory=True)
    except BaseException:
        remove_database_files(temp)
        lock.release()
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    lock.release()
    return counts

"""The SQLite store: rows, batches, schema and migrations, bad situations, accounts."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cbor2
import pytest

from driver.auth.accounts import ScryptParams, ensure_admin, verify_password
from driver.store import (
    BanRow,
    Batch,
    BlueprintRow,
    CalloutRow,
    ErrorRow,
    ObjectRow,
    ResetRow,
    SchemaTooNewError,
    SchemaTooOldError,
    Snapshot,
    Store,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    TenantRow,
    TokenRow,
    VersionRow,
    schema,
)
from driver.store.accounts import Account, AccountExists, AccountNotFound, AccountStore
from driver.store.sqlite import DB_NAME, SqliteStore

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# A small world of every kind of row
# --------------------------------------------------------------------------


def enc(value: object) -> bytes:
    return cbor2.dumps(value)


def sample_batch() -> Batch:
    """Two tenants with one of every kind of row (and then some)."""
    b = Batch()
    b.put_tenant(TenantRow("demo", {"max_objects": 500, "limits": {"fuel": 10_000_000}}, 42, 7))
    b.put_tenant(TenantRow("acme", {}, 0, 1))
    b.put_version(VersionRow("v-room-1", b"\0asm room one"))
    b.put_version(VersionRow("v-room-2", b"\0asm room two"))
    b.put_version(VersionRow("v-sword", b"\0asm sword"))
    b.put_blueprint(
        BlueprintRow(
            "demo",
            "/rooms/meadow",
            "v-room-2",
            "c",
            "rooms/meadow.c",
            "sha-1",
            ["v-room-1", "v-room-2"],
        )
    )
    b.put_blueprint(
        BlueprintRow("demo", "/obj/sword", "v-sword", "python", None, None, ["v-sword"])
    )
    b.put_blueprint(BlueprintRow("acme", "/rooms/meadow", None, "c", None, None, []))
    b.put_object(
        ObjectRow(
            "demo",
            "/rooms/meadow",
            "/rooms/meadow",
            "v-room-1",  # pinned to an old version: migrates on its next call
            None,
            0,
            0,
            {"short": enc("A meadow"), "exits": enc({"north": "/rooms/forest"})},
        )
    )
    b.put_object(
        ObjectRow("demo", "/player/alice", None, None, "/rooms/meadow", 1, 0, {"hp": enc(20)})
    )
    b.put_object(
        ObjectRow(
            "demo",
            "/obj/sword#000042",
            "/obj/sword",
            "v-sword",
            "/player/alice",
            2,
            1000,
            {"name": enc("sword")},
        )
    )
    b.put_object(
        ObjectRow("demo", "/obj/sword#000041", "/obj/sword", "v-sword", "/rooms/meadow", 3, 0, {})
    )
    b.put_object(
        ObjectRow("acme", "/rooms/meadow", "/rooms/meadow", None, None, 0, 0, {"k": b"\xff\x00"})
    )
    b.put_callout(
        CalloutRow("demo", 3, "/obj/sword#000042", "gleam", enc([1, "two"]), 1_700_000_005_000, 0)
    )
    b.put_callout(CalloutRow("demo", 5, "/rooms/meadow", "bloom", b"", 1_700_000_009_000, 1))
    b.put_reset(ResetRow("demo", "/rooms/meadow", 1_700_000_900_000))
    b.put_account(Account("Alice", "scrypt$hash-a", False, 1_699_000_000.5, 1_700_000_000.25))
    b.put_account(Account("Admin", "scrypt$hash-b", True, 1_699_000_000.0, None))
    b.alive_wall_ms = 1_700_000_000_000
    return b


def expected_snapshot(batch: Batch) -> dict[str, object]:
    """What load() must return after committing ``batch`` into an empty store,
    in load()'s order."""
    objects = sorted(batch.objects.values(), key=lambda o: (o.tenant, o.position))
    return {
        "tenants": sorted(batch.tenants.values(), key=lambda t: t.name),
        "objects": objects,
        "callouts": sorted(
            (c for c in batch.callouts.values() if c),
            key=lambda c: (c.tenant, c.due_wall_ms, c.seq),
        ),
        "resets": sorted(
            (r for r in batch.resets.values() if r), key=lambda r: (r.tenant, r.object_id)
        ),
        "blueprints": sorted(
            (b for b in batch.blueprints.values() if b), key=lambda b: (b.tenant, b.path)
        ),
        "versions": {v.version: v.component for v in batch.versions.values()},
        "accounts": sorted((a for a in batch.accounts.values() if a), key=lambda a: a.key),
    }


def world_of(snapshot: Snapshot) -> dict[str, object]:
    return {
        "tenants": snapshot.tenants,
        "objects": snapshot.objects,
        "callouts": snapshot.callouts,
        "resets": snapshot.resets,
        "blueprints": snapshot.blueprints,
        "versions": snapshot.versions,
        "accounts": snapshot.accounts,
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def store(data_dir: Path):
    s = SqliteStore(data_dir)
    yield s
    s.close()


def test_a_new_data_directory_is_created_with_the_current_schema(data_dir: Path) -> None:
    with SqliteStore(data_dir) as s:
        snap = s.load()
    assert snap.schema == schema.CURRENT
    assert isinstance(snap.meta["created_ms"], int)
    assert snap.alive_wall_ms is None
    assert snap.tenants == snap.objects == snap.accounts == []
    conn = sqlite3.connect(data_dir / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    conn.close()


def test_every_kind_of_row_round_trips(store: SqliteStore, data_dir: Path) -> None:
    batch = sample_batch()
    store.commit(batch)
    assert world_of(store.load()) == expected_snapshot(batch)
    store.close()
    with SqliteStore(data_dir) as again:
        snap = again.load()
        assert world_of(snap) == expected_snapshot(batch)
        assert snap.alive_wall_ms == 1_700_000_000_000
        assert again.get_version("v-sword") == b"\0asm sword"
        assert again.get_version("nope") is None


def test_rows_are_plain_data_and_state_values_stay_bytes(store: SqliteStore) -> None:
    store.commit(sample_batch())
    snap = store.load()
    sword = next(o for o in snap.objects if o.id == "/obj/sword#000042")
    assert sword.state == {"name": enc("sword")}
    assert all(type(v) is bytes for o in snap.objects for v in o.state.values())
    assert snap.tenants[1].quotas == {"max_objects": 500, "limits": {"fuel": 10_000_000}}


def test_objects_load_in_position_order_per_tenant(store: SqliteStore) -> None:
    b = Batch()
    b.put_tenant(TenantRow("demo", {}, 0, 1))
    for i, position in enumerate([30, 10, 20]):
        b.put_object(ObjectRow("demo", f"/o/{i}", "/o", None, "/room", position, 0, {}))
    store.commit(b)
    assert [o.id for o in store.load().objects] == ["/o/1", "/o/2", "/o/0"]


def test_upserts_replace_whole_rows(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.put_object(ObjectRow("demo", "/player/alice", None, None, None, 9, 0, {"mp": enc(3)}))
    b.put_tenant(TenantRow("demo", {}, 43, 8))
    b.put_blueprint(
        BlueprintRow(
            "demo", "/obj/sword", "v-sword2", "python", None, None, ["v-sword", "v-sword2"]
        )
    )
    b.put_callout(CalloutRow("demo", 3, "/obj/sword#000042", "dim", b"", 5, 0))
    b.put_account(Account("alice", "scrypt$new", True, 1.0, 2.0))
    store.commit(b)
    snap = store.load()
    alice = next(o for o in snap.objects if o.id == "/player/alice")
    assert alice == ObjectRow("demo", "/player/alice", None, None, None, 9, 0, {"mp": enc(3)})
    assert next(t for t in snap.tenants if t.name == "demo") == TenantRow("demo", {}, 43, 8)
    assert next(c for c in snap.callouts if c.handle == 3).method == "dim"
    assert next(bp for bp in snap.blueprints if bp.path == "/obj/sword").version == "v-sword2"
    assert store.get("ALICE") == Account("alice", "scrypt$new", True, 1.0, 2.0)


def test_deletes_of_each_kind(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.delete_callout("demo", 5)
    b.delete_reset("demo", "/rooms/meadow")
    b.delete_blueprint("acme", "/rooms/meadow")
    b.delete_account("alice")
    store.commit(b)
    snap = store.load()
    assert [c.handle for c in snap.callouts] == [3]
    assert snap.resets == []
    assert [(bp.tenant, bp.path) for bp in snap.blueprints] == [
        ("demo", "/obj/sword"),
        ("demo", "/rooms/meadow"),
    ]
    assert [a.name for a in snap.accounts] == ["Admin"]


def test_deleting_an_object_takes_its_callouts_and_reset_with_it(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.delete_object("demo", "/rooms/meadow")
    store.commit(b)
    snap = store.load()
    assert "/rooms/meadow" not in {o.id for o in snap.objects if o.tenant == "demo"}
    assert [c.handle for c in snap.callouts] == [3]  # the sword's callout stays
    assert snap.resets == []
    assert any(o.tenant == "acme" and o.id == "/rooms/meadow" for o in snap.objects)


def test_deleting_a_tenant_takes_everything_it_owns(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.delete_tenant("demo")
    store.commit(b)
    snap = store.load()
    assert [t.name for t in snap.tenants] == ["acme"]
    assert {o.tenant for o in snap.objects} == {"acme"}
    assert {bp.tenant for bp in snap.blueprints} == {"acme"}
    assert snap.callouts == [] and snap.resets == []
    assert len(snap.versions) == 3  # shared across tenants: kept
    assert snap.accounts == []  # every account was the deleted tenant's


def test_accounts_errors_and_bans_are_per_tenant(store: SqliteStore) -> None:
    store.commit(sample_batch())
    acme = store.accounts_of("acme")
    acme.create(Account("Alice", "h-acme"))
    assert acme.get("alice") == Account("Alice", "h-acme", tenant="acme")
    assert store.accounts_of("demo").get("alice") is not None  # a different Alice
    assert store.accounts_of("demo").get("alice") != acme.get("alice")
    assert store.accounts_of("nowhere").get("alice") is None
    with pytest.raises(AccountExists):
        acme.create(Account("ALICE", "again"))
    b = Batch()
    for seq in range(1, 8):
        b.add_error(ErrorRow("acme", seq, 1.0 * seq, {"kind": "trap", "seq": seq}), keep=5)
    store.commit(b)
    assert [e.seq for e in store.load().errors] == [3, 4, 5, 6, 7]  # the newest five
    store.put_ban(BanRow("acme", "account", "mallory", None, "spam", "admin"))
    store.put_token(TokenRow("ab" * 32, "author", "acme", "ci", 1.0))
    b = Batch()
    b.delete_tenant("acme")
    store.commit(b)
    snap = store.load()
    assert snap.errors == [] and store.bans() == [] and store.tokens() == []
    assert {a.tenant for a in snap.accounts} == {"demo"}


def test_versions_are_written_once(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.put_version(VersionRow("v-sword", b"something else"))
    store.commit(b)
    assert store.get_version("v-sword") == b"\0asm sword"


def test_prune_versions_keeps_what_objects_and_blueprints_use(store: SqliteStore) -> None:
    store.commit(sample_batch())
    b = Batch()
    b.put_version(VersionRow("v-orphan", b"x"))
    store.commit(b)
    assert store.prune_versions() == 1  # v-room-1 is still pinned by the meadow object
    assert set(store.load().versions) == {"v-room-1", "v-room-2", "v-sword"}


# --------------------------------------------------------------------------
# Batch merge semantics
# --------------------------------------------------------------------------


def obj(object_id: str, marker: int = 0, tenant: str = "demo") -> ObjectRow:
    return ObjectRow(tenant, object_id, "/o", None, None, 0, 0, {"m": enc(marker)})


def callout(handle: int, object_id: str, tenant: str = "demo") -> CalloutRow:
    return CalloutRow(tenant, handle, object_id, "m", b"", 100, handle)


def test_merge_later_upsert_wins() -> None:
    a, b = Batch(), Batch()
    a.put_object(obj("/x", 1))
    b.put_object(obj("/x", 2))
    a.put_account(Account("Bob", "h1"))
    b.put_account(Account("bob", "h2"))
    merged = Batch.merged([a, b])
    assert merged.objects == {("demo", "/x"): obj("/x", 2)}
    assert merged.accounts[("demo", "bob")] == Account("bob", "h2")


def test_merge_delete_after_upsert_wins() -> None:
    a, b = Batch(), Batch()
    a.put_object(obj("/x"))
    a.put_callout(callout(1, "/x"))
    a.put_callout(callout(2, "/y"))
    a.put_reset(ResetRow("demo", "/x", 5))
    a.put_blueprint(BlueprintRow("demo", "/o", None, "c", None, None, []))
    b.delete_object("demo", "/x")
    b.delete_blueprint("demo", "/o")
    merged = Batch.merged([a, b])
    assert merged.objects == {}
    assert merged.purged_objects == {("demo", "/x")}
    assert set(merged.callouts) == {("demo", 2)}  # the deleted object's callout is gone
    assert merged.resets == {}
    assert merged.blueprints == {("demo", "/o"): None}


def test_merge_upsert_after_delete_wins_and_still_purges() -> None:
    a, b = Batch(), Batch()
    a.delete_object("demo", "/x")
    b.put_object(obj("/x", 7))
    b.put_callout(callout(9, "/x"))
    merged = Batch.merged([a, b])
    assert merged.objects == {("demo", "/x"): obj("/x", 7)}
    assert merged.purged_objects == {("demo", "/x")}
    assert set(merged.callouts) == {("demo", 9)}


def test_merge_of_a_tenant_delete_drops_earlier_changes_of_that_tenant_only() -> None:
    a, b = Batch(), Batch()
    a.put_tenant(TenantRow("demo", {}, 0, 1))
    a.put_object(obj("/x"))
    a.put_object(obj("/x", tenant="acme"))
    a.put_callout(callout(1, "/x"))
    a.delete_object("demo", "/gone")
    b.delete_tenant("demo")
    merged = Batch.merged([a, b])
    assert merged.tenants == {}
    assert merged.purged_tenants == {"demo"}
    assert merged.objects == {("acme", "/x"): obj("/x", tenant="acme")}
    assert merged.callouts == {} and merged.purged_objects == set()


def test_merge_keeps_the_first_version_and_the_last_alive_time() -> None:
    a, b, c = Batch(), Batch(), Batch()
    a.put_version(VersionRow("v", b"one"))
    b.put_version(VersionRow("v", b"two"))
    a.alive_wall_ms = 10
    b.alive_wall_ms = 30
    c.alive_wall_ms = 20  # clock went back: still the latest reading wins
    merged = Batch.merged([a, b, c])
    assert merged.versions["v"].component == b"one"
    assert merged.alive_wall_ms == 20
    assert Batch.merged([a, Batch()]).alive_wall_ms == 10


def test_merged_leaves_its_inputs_alone_and_empty_batches_are_false() -> None:
    a, b = Batch(), Batch()
    a.put_object(obj("/x"))
    b.delete_object("demo", "/x")
    Batch.merged([a, b])
    assert ("demo", "/x") in a.objects and b.purged_objects == {("demo", "/x")}
    assert not Batch()
    assert a and b
    assert Batch(alive_wall_ms=1)


def test_a_merged_batch_commits_like_its_parts_in_order(tmp_path: Path) -> None:
    """Replaying batches one by one and committing their merge give the same store."""
    base = sample_batch()
    steps = []
    s1 = Batch()
    s1.put_object(obj("/rooms/meadow", 1))  # replace the meadow ...
    s1.put_callout(callout(11, "/rooms/meadow"))
    steps.append(s1)
    s2 = Batch()
    s2.delete_object("demo", "/rooms/meadow")  # ... delete it ...
    s2.delete_callout("demo", 3)
    steps.append(s2)
    s3 = Batch()
    s3.put_object(obj("/rooms/meadow", 2))  # ... and make it again, with a new callout
    s3.put_callout(callout(12, "/rooms/meadow"))
    s3.delete_tenant("acme")
    s3.put_tenant(TenantRow("acme", {"new": True}, 0, 1))
    steps.append(s3)

    with SqliteStore(tmp_path / "one") as one, SqliteStore(tmp_path / "merged") as merged:
        one.commit(base)
        merged.commit(base)
        for step in steps:
            one.commit(step)
        merged.commit(Batch.merged(steps))
        a, b = one.load(), merged.load()
    assert world_of(a) == world_of(b)
    assert [c.handle for c in b.callouts] == [12]
    assert [o.tenant for o in b.objects] == ["demo"] * 4


def test_commit_is_all_or_nothing(store: SqliteStore) -> None:
    store.commit(sample_batch())
    before = store.load()
    b = Batch()
    b.put_object(obj("/new"))
    b.delete_tenant("acme")
    # NOT NULL violated by the SQL, after the object and the purge were written:
    b.put_blueprint(BlueprintRow("demo", "/bad", None, None, None, None, []))  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.commit(b)
    assert world_of(store.load()) == world_of(before)
    b2 = Batch()
    b2.put_object(dataclasses.replace(obj("/new"), state={"k": "not bytes"}))  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="str to bytes"):
        store.commit(b2)
    store.commit(Batch(alive_wall_ms=5))  # still usable
    assert store.load().alive_wall_ms == 5


# --------------------------------------------------------------------------
# Schema versions and migrations
# --------------------------------------------------------------------------

V1_DDL = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value)",
    "CREATE TABLE tenants (name TEXT PRIMARY KEY NOT NULL, quotas BLOB NOT NULL, "
    "clone_counter INTEGER NOT NULL, next_handle INTEGER NOT NULL)",
    "CREATE TABLE versions (version TEXT PRIMARY KEY NOT NULL, component BLOB NOT NULL)",
    "CREATE TABLE blueprints (tenant TEXT NOT NULL, path TEXT NOT NULL, version TEXT, "
    "language TEXT NOT NULL, source TEXT, source_hash TEXT, history BLOB NOT NULL, PRIMARY KEY (tenant, path))",
    "CREATE TABLE objects (tenant TEXT NOT NULL, id TEXT NOT NULL, blueprint TEXT, version TEXT, env TEXT, "
    "position INTEGER NOT NULL, heartbeat_ms INTEGER NOT NULL, state BLOB NOT NULL, PRIMARY KEY (tenant, id))",
    "CREATE TABLE accounts (key TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, password_hash TEXT NOT NULL, "
    "is_wizard INTEGER NOT NULL, created_at REAL NOT NULL, last_login REAL)",
]


def make_v1_database(data_dir: Path) -> None:
    """A data directory as the first schema left it, written by hand."""
    data_dir.mkdir(parents=True)
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('created_ms', 1600000000000)")
    conn.execute("INSERT INTO tenants VALUES ('demo', ?, 3, 4)", (enc({"max_objects": 9}),))
    conn.execute(
        "INSERT INTO objects VALUES ('demo', '/rooms/a', '/rooms/a', 'v1', NULL, 0, 0, ?)",
        (enc({"short": enc("A")}),),
    )
    conn.execute("INSERT INTO accounts VALUES ('bob', 'Bob', 'scrypt$x', 0, 1.5, NULL)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_a_version_1_database_is_migrated_and_keeps_its_data(data_dir: Path) -> None:
    make_v1_database(data_dir)
    with SqliteStore(data_dir) as s:
        snap = s.load()
        assert snap.schema == schema.CURRENT == 3
        assert snap.meta["created_ms"] == 1600000000000
        assert snap.tenants == [TenantRow("demo", {"max_objects": 9}, 3, 4)]
        assert snap.objects == [
            ObjectRow("demo", "/rooms/a", "/rooms/a", "v1", None, 0, 0, {"short": enc("A")})
        ]
        assert s.get("bob") == Account("Bob", "scrypt$x", False, 1.5, None)
        b = Batch()
        b.put_callout(callout(1, "/rooms/a"))
        b.put_reset(ResetRow("demo", "/rooms/a", 99))
        s.commit(b)
        assert len(s.load().callouts) == 1
    conn = sqlite3.connect(data_dir / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.CURRENT
    conn.close()


def test_a_failing_migration_leaves_the_database_at_its_old_version(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_v1_database(data_dir)

    def explode(conn: sqlite3.Connection) -> None:
        raise RuntimeError("migration 4 failed")

    broken = schema.Migration(4, "broken", ("CREATE TABLE half_done (x)",), explode)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "CURRENT", 4)
    with pytest.raises(RuntimeError, match="migration 4 failed"):
        SqliteStore(data_dir)
    conn = sqlite3.connect(data_dir / DB_NAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "callouts" not in tables and "half_done" not in tables
    conn.close()
    monkeypatch.undo()
    with SqliteStore(data_dir) as s:  # the lock was released, the real migrations still work
        assert s.load().schema == 3


def test_a_database_from_a_newer_schema_is_refused_untouched(data_dir: Path) -> None:
    SqliteStore(data_dir).close()
    path = data_dir / DB_NAME
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.CURRENT + 3}")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(
        SchemaTooNewError, match=rf"newer JitRealm \(schema {schema.CURRENT + 3}, this one knows {schema.CURRENT}\)"
    ):
        SqliteStore(data_dir)
    assert path.read_bytes() == before
    with pytest.raises(SchemaTooNewError):
        SqliteStore(data_dir, readonly=True)
    # The lock was released: the refusal is not "locked".
    with pytest.raises(SchemaTooNewError):
        SqliteStore(data_dir)


# --------------------------------------------------------------------------
# Locking
# --------------------------------------------------------------------------


def test_a_second_open_of_the_same_directory_is_refused(store: SqliteStore, data_dir: Path) -> None:
    with pytest.raises(
        StoreLockedError,
        match=f"{data_dir}.*in use by another JitRealm process \\(pid {os.getpid()}\\)",
    ):
        SqliteStore(data_dir)
    store.close()
    SqliteStore(data_dir).close()


def test_a_database_locked_by_some_other_program_is_refused(data_dir: Path) -> None:
    SqliteStore(data_dir).close()
    other = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta VALUES ('other', 1)")
    try:
        with pytest.raises(StoreLockedError, match="locked by another process"):
            SqliteStore(data_dir)
    finally:
        other.execute("ROLLBACK")
        other.close()
    SqliteStore(data_dir).close()  # and the directory lock was given back


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from driver.store.sqlite import SqliteStore
    store = SqliteStore(Path(sys.argv[1]))
    print("open", flush=True)
    time.sleep(60)
    """
)


def test_another_process_holding_the_directory_locks_it_until_it_dies(data_dir: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "open\n"
        with pytest.raises(StoreLockedError, match=f"pid {child.pid}"):
            SqliteStore(data_dir)
        # A reader (a dump of a live world) does not need the lock.
        with SqliteStore(data_dir, readonly=True) as reader:
            assert reader.load().schema == schema.CURRENT
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    SqliteStore(data_dir).close()  # the kernel released the lock of the killed process


# --------------------------------------------------------------------------
# Corrupt files
# --------------------------------------------------------------------------


def test_garbage_is_refused_and_left_alone(data_dir: Path) -> None:
    data_dir.mkdir()
    path = data_dir / DB_NAME
    garbage = os.urandom(1024) * 8
    path.write_bytes(garbage)
    with pytest.raises(StoreCorruptError, match="damaged or not a JitRealm database"):
        SqliteStore(data_dir)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in data_dir.iterdir()) == [DB_NAME, "jitrealm.lock"]


def test_an_empty_file_is_not_taken_for_a_new_world(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / DB_NAME).write_bytes(b"")
    with pytest.raises(StoreCorruptError, match="empty or not a JitRealm database"):
        SqliteStore(data_dir)
    assert (data_dir / DB_NAME).read_bytes() == b""


def test_another_applications_database_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / DB_NAME)
    conn.execute("CREATE TABLE photos (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreCorruptError, match="not a JitRealm database"):
        SqliteStore(data_dir)


def fill(store: SqliteStore, count: int, tenant: str = "demo") -> None:
    b = Batch()
    b.put_tenant(TenantRow(tenant, {}, 0, 1))
    for i in range(count):
        b.put_object(
            ObjectRow(tenant, f"/o#{i:06d}", "/o", "v", "/room", i, 0, {"blob": os.urandom(200)})
        )
    store.commit(b)


def test_a_truncated_database_is_refused_and_left_alone(data_dir: Path) -> None:
    with SqliteStore(data_dir) as s:
        fill(s, 2000)
    path = data_dir / DB_NAME
    whole = path.read_bytes()
    assert len(whole) > 100_000
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(StoreCorruptError):
        SqliteStore(data_dir)
    assert path.read_bytes() == whole[: len(whole) // 2]


def test_damage_inside_the_file_fails_the_integrity_check(data_dir: Path) -> None:
    with SqliteStore(data_dir) as s:
        fill(s, 2000)
    path = data_dir / DB_NAME
    data = bytearray(path.read_bytes())
    page = 4096
    for at in range(5 * page, len(data) - page, 7 * page):  # scribble over b-tree page headers
        data[at : at + 16] = b"\xa5" * 16
    path.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        SqliteStore(data_dir)
    assert path.read_bytes() == bytes(data)


def test_a_wal_file_without_its_database_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / f"{DB_NAME}-wal").write_bytes(b"x" * 100)
    with pytest.raises(StoreCorruptError, match="no jitrealm.db"):
        SqliteStore(data_dir)
    assert not (data_dir / DB_NAME).exists()


# --------------------------------------------------------------------------
# A full disk
# --------------------------------------------------------------------------


def test_a_full_disk_fails_the_commit_and_keeps_what_was_committed(store: SqliteStore) -> None:
    fill(store, 500)
    before = store.load()
    store.set_size_limit(0)  # at most the current size
    big = Batch()
    for i in range(500, 1500):
        big.put_object(
            ObjectRow("demo", f"/o#{i:06d}", "/o", "v", "/room", i, 0, {"blob": os.urandom(500)})
        )
    big.put_account(Account("Carol", "h"))
    with pytest.raises(StoreFullError, match="full; this commit was not written"):
        store.commit(big)
    assert world_of(store.load()) == world_of(before)  # reads still work
    assert store.get("carol") is None
    with pytest.raises(StoreFullError):
        store.commit(big)  # still full, still nothing written
    assert store.set_size_limit(None) > 1 << 30
    store.commit(big)  # room again: the same batch goes through
    snap = store.load()
    assert len(snap.objects) == 1500
    assert store.get("carol") is not None


def test_a_full_disk_refuses_account_writes_cleanly(store: SqliteStore) -> None:
    fill(store, 10)
    store.set_size_limit(0)
    with pytest.raises(StoreFullError):
        store.create(Account("Dave" * 4, "h" * 100_000))
    store.set_size_limit(None)
    store.create(Account("Dave", "h"))
    assert store.count() == 1


# --------------------------------------------------------------------------
# Accounts: the AccountStore protocol
# --------------------------------------------------------------------------


def test_the_store_is_an_account_store(store: SqliteStore) -> None:
    accounts: AccountStore = store
    world: Store = store
    assert world is accounts
    assert accounts.count() == 0
    assert accounts.get("alice") is None
    alice = Account("Alice", "scrypt$1", False, 100.0)
    accounts.create(alice)
    assert accounts.get("ALICE") == alice
    with pytest.raises(AccountExists):
        accounts.create(Account("aLiCe", "scrypt$2"))
    later = dataclasses.replace(alice, last_login=200.0, password_hash="scrypt$3", is_wizard=True)
    accounts.update(later)
    assert accounts.get("alice") == later
    with pytest.raises(AccountNotFound):
        accounts.update(Account("Nobody", "x"))
    assert accounts.count() == 1


def test_ensure_admin_works_on_the_store_and_survives_a_restart(data_dir: Path) -> None:
    fast = ScryptParams(n=16, r=1, p=1)
    with SqliteStore(data_dir) as s:
        assert ensure_admin(s, {"JITREALM_ADMIN_PASSWORD": "correct horse"}, params=fast) is None
    with SqliteStore(data_dir) as s:
        admin = s.get("admin")
        assert admin is not None and admin.is_wizard
        assert verify_password("correct horse", admin.password_hash)
        assert ensure_admin(s, {}, params=fast) is None


def test_a_closed_store_says_so(data_dir: Path) -> None:
    s = SqliteStore(data_dir)
    s.close()
    s.close()
    with pytest.raises(StoreClosedError):
        s.commit(Batch(alive_wall_ms=1))
    with pytest.raises(StoreClosedError):
        s.get("alice")


def test_a_readonly_store_reads_but_never_writes(store: SqliteStore, data_dir: Path) -> None:
    store.commit(sample_batch())
    with SqliteStore(data_dir, readonly=True) as reader:
        assert world_of(reader.load()) == world_of(store.load())
        with pytest.raises(StoreError, match="read-only"):
            reader.commit(Batch(alive_wall_ms=1))
        with pytest.raises(StoreError, match="read-only"):
            reader.create(Account("Eve", "h"))
    with pytest.raises(StoreError, match="no JitRealm world"):
        SqliteStore(data_dir / "nowhere", readonly=True)


def test_a_readonly_store_will_not_read_an_old_schema(data_dir: Path) -> None:
    make_v1_database(data_dir)
    with pytest.raises(SchemaTooOldError, match="start the server on it once"):
        SqliteStore(data_dir, readonly=True)


# --------------------------------------------------------------------------
# Threads and crashes
# --------------------------------------------------------------------------


def test_commits_in_a_worker_thread_while_accounts_are_used_on_another(store: SqliteStore) -> None:
    store.commit(sample_batch())
    errors: list[BaseException] = []

    def committer() -> None:
        try:
            for i in range(200):
                b = Batch()
                b.put_object(obj(f"/t#{i}", i))
                b.alive_wall_ms = i
                store.commit(b)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=committer)
    worker.start()
    for i in range(200):
        store.create(Account(f"User{chr(97 + i // 26)}{chr(97 + i % 26)}", "h"))
        assert store.get("alice") is not None
    worker.join()
    assert errors == []
    snap = store.load()
    assert store.count() == 202
    assert snap.alive_wall_ms == 199
    assert sum(o.id.startswith("/t#") for o in snap.objects) == 200


COMMITTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from driver.store import Batch, ObjectRow, TenantRow
    from driver.store.sqlite import SqliteStore
    store = SqliteStore(Path(sys.argv[1]), synchronous=sys.argv[2])
    b = Batch()
    b.put_tenant(TenantRow("demo", {}, 0, 1))
    store.commit(b)
    i = 0
    while True:
        b = Batch()
        b.put_object(ObjectRow("demo", f"/o#{i:06d}", "/o", None, None, i, 0, {"i": bytes(str(i), "ascii")}))
        b.alive_wall_ms = i
        store.commit(b)
        print(i, flush=True)  # acknowledged
        i += 1
    """
)


@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_every_acknowledged_commit_survives_sigkill(data_dir: Path, synchronous: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", COMMITTER, str(data_dir), synchronous],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = -1
    for line in child.stdout:
        acknowledged = int(line)
        if acknowledged >= 150:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with SqliteStore(data_dir) as s:
        snap = s.load()
    ids = {o.id for o in snap.objects}
    assert all(f"/o#{i:06d}" in ids for i in range(acknowledged + 1))
    assert snap.alive_wall_ms is not None and snap.alive_wall_ms >= acknowledged

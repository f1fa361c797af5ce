"""Dumps: the CBOR format, round trips, and refusing bad dumps and targets."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import cbor2
import pytest

from driver.store import Batch, DumpError, ObjectRow, RestoreTargetError, schema
from driver.store.lockfile import LOCK_NAME
from driver.store.snapshot import FIELDS, KINDS, dump, dump_to_path, restore
from driver.store.sqlite import DB_NAME, SqliteStore

from .test_store import expected_snapshot, obj, sample_batch, world_of


@pytest.fixture
def world(tmp_path: Path):
    """A live store holding the sample world."""
    store = SqliteStore(tmp_path / "live")
    store.commit(sample_batch())
    yield store
    store.close()


def dump_bytes(store: SqliteStore) -> bytes:
    out = io.BytesIO()
    dump(store, out)
    return out.getvalue()


def items(data: bytes) -> list[Any]:
    decoder = cbor2.CBORDecoder(io.BytesIO(data))
    found = []
    while True:
        try:
            found.append(decoder.decode())
        except cbor2.CBORDecodeEOF:
            return found


def sequence(
    *records: dict[str, Any], header: dict[str, Any] | None = None, end: bool = True
) -> bytes:
    """A hand-made dump with a correct end record."""
    head = header or {"format": "jitrealm-dump", "version": 1, "created_ms": 1, "schema": 2}
    body = cbor2.dumps(head) + b"".join(cbor2.dumps(r) for r in records)
    if not end:
        return body
    counts: dict[str, int] = {}
    for r in records:
        kind = r.get("t") if isinstance(r, dict) else None
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    return body + cbor2.dumps(
        {"t": "end", "counts": counts, "sha256": hashlib.sha256(body).digest()}
    )


# --------------------------------------------------------------------------
# The format
# --------------------------------------------------------------------------


def test_a_dump_is_a_documented_cbor_sequence(world: SqliteStore) -> None:
    data = dump_bytes(world)
    found = items(data)
    header, records, end = found[0], found[1:-1], found[-1]
    assert header["format"] == "jitrealm-dump" and header["version"] == 2
    assert header["schema"] == schema.CURRENT and isinstance(header["created_ms"], int)
    kinds = [r["t"] for r in records]
    assert kinds == sorted(kinds, key=KINDS.index), "records are grouped in the documented order"
    for record in records:
        assert set(record) == {"t", *FIELDS[record["t"]]}
    assert end["t"] == "end"
    assert end["counts"] == {
        "meta": 2,
        "tenant": 2,
        "version": 3,
        "blueprint": 3,
        "object": 5,
        "callout": 2,
        "reset": 1,
        "account": 2,
        "error": 0,
        "token": 0,
        "ban": 0,
    }
    assert end["sha256"] == hashlib.sha256(data[: len(data) - len(cbor2.dumps(end))]).digest()
    sword = next(r for r in records if r["t"] == "object" and r["id"] == "/obj/sword#000042")
    assert sword == {
        "t": "object",
        "tenant": "demo",
        "id": "/obj/sword#000042",
        "blueprint": "/obj/sword",
        "version": "v-sword",
        "env": "/player/alice",
        "position": 2,
        "heartbeat_ms": 1000,
        "state": {"name": cbor2.dumps("sword")},
    }
    meta = {r["key"]: r["value"] for r in records if r["t"] == "meta"}
    assert meta["alive_wall_ms"] == 1_700_000_000_000


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


def test_dump_and_restore_round_trip(world: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "world.dump"
    counts = dump_to_path(world, path)
    assert counts["object"] == 5
    assert path.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    target = tmp_path / "restored"
    assert restore(path, target) == counts
    assert sorted(p.name for p in target.iterdir()) == [DB_NAME, LOCK_NAME]
    with SqliteStore(target) as restored:
        snap = restored.load()
        live = world.load()
        assert world_of(snap) == world_of(live) == expected_snapshot(sample_batch())
        assert snap.meta == live.meta  # created_ms and alive_wall_ms come along
        restored.commit(Batch(alive_wall_ms=1))  # a normal, writable world


def test_restore_from_a_pipe(world: SqliteStore, tmp_path: Path) -> None:
    data = dump_bytes(world)
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as w:
        w.write(data)
    with os.fdopen(read_end, "rb") as r:
        restore(r, tmp_path / "restored")
    with SqliteStore(tmp_path / "restored") as restored:
        assert world_of(restored.load()) == world_of(world.load())


def test_dumping_an_empty_world(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "empty") as store:
        data = dump_bytes(store)
    restore(io.BytesIO(data), tmp_path / "restored")
    with SqliteStore(tmp_path / "restored") as restored:
        assert restored.load().objects == []


def test_a_dump_is_one_consistent_read(world: SqliteStore) -> None:
    """A commit that lands while a dump is being read is not in the dump."""
    with world.scan() as scan:
        tenants = list(scan.tenants())
        b = Batch()
        b.put_object(obj("/late"))
        b.delete_tenant("acme")
        world.commit(b)
        objects = list(scan.objects())
    assert [t.name for t in tenants] == ["acme", "demo"]
    assert "/late" not in {o.id for o in objects}
    assert any(o.tenant == "acme" for o in objects)
    assert "/late" in {o.id for o in world.load().objects}


def test_a_live_world_can_be_dumped_from_another_store_handle(
    world: SqliteStore, tmp_path: Path
) -> None:
    with SqliteStore(world.data_dir, readonly=True) as reader:
        data = dump_bytes(reader)
    restore(io.BytesIO(data), tmp_path / "restored")
    with SqliteStore(tmp_path / "restored") as restored:
        assert world_of(restored.load()) == world_of(world.load())


def test_big_worlds_stream_through(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "big") as store:
        b = Batch()
        for i in range(5000):
            b.put_object(
                ObjectRow("demo", f"/o#{i:06d}", "/o", "v", "/r", i, 0, {"k": os.urandom(64)})
            )
        store.commit(b)
        dump_to_path(store, tmp_path / "big.dump")
        expected = store.load()
    counts = restore(tmp_path / "big.dump", tmp_path / "restored")
    assert counts["object"] == 5000
    with SqliteStore(tmp_path / "restored") as restored:
        assert restored.load().objects == expected.objects


# --------------------------------------------------------------------------
# Refusals: the target
# --------------------------------------------------------------------------


def test_restore_refuses_a_non_empty_directory(world: SqliteStore, tmp_path: Path) -> None:
    data = dump_bytes(world)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(RestoreTargetError, match=r"busy is not empty \(notes.txt\)"):
        restore(io.BytesIO(data), target)
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    # An existing world is never overwritten either.
    with pytest.raises(RestoreTargetError, match="not empty"):
        restore(io.BytesIO(data), world.data_dir)


def test_restore_into_an_empty_existing_directory(world: SqliteStore, tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    restore(io.BytesIO(dump_bytes(world)), target)
    assert (target / DB_NAME).exists()


def test_restore_refuses_a_file_as_target(world: SqliteStore, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(RestoreTargetError, match="not a directory"):
        restore(io.BytesIO(dump_bytes(world)), target)


# --------------------------------------------------------------------------
# Refusals: the dump
# --------------------------------------------------------------------------


def assert_refused(data: bytes, target: Path, match: str) -> None:
    with pytest.raises(DumpError, match=match):
        restore(io.BytesIO(data), target)
    assert not target.exists(), "a refused restore leaves nothing behind"


def test_a_truncated_dump_is_refused_wherever_it_is_cut(world: SqliteStore, tmp_path: Path) -> None:
    data = dump_bytes(world)
    for cut in sorted({1, 10, 60, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 1}):
        assert_refused(data[:cut], tmp_path / f"cut{cut}", "truncated|not a JitRealm dump")
    assert_refused(b"", tmp_path / "nothing", "empty")


def test_a_dump_cut_between_records_is_truncated(world: SqliteStore, tmp_path: Path) -> None:
    data = dump_bytes(world)
    body = data[: len(data) - len(cbor2.dumps(items(data)[-1]))]
    assert_refused(body, tmp_path / "t", "truncated: it ends after record 20 with no end record")


def test_a_flipped_byte_is_caught(world: SqliteStore, tmp_path: Path) -> None:
    data = dump_bytes(world)
    at = data.index(b"\0asm sword") + 5
    flipped = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
    assert_refused(flipped, tmp_path / "t", "checksum mismatch")


def test_garbage_and_foreign_files_are_refused(tmp_path: Path) -> None:
    assert_refused(os.urandom(4096), tmp_path / "a", "corrupt|not a JitRealm dump|truncated")
    assert_refused(cbor2.dumps({"format": "something-else"}), tmp_path / "b", "not a JitRealm dump")
    assert_refused(b"\xff\xff\xff", tmp_path / "c", "corrupt|not a JitRealm dump")


def test_a_newer_dump_version_is_refused(tmp_path: Path) -> None:
    header = {"format": "jitrealm-dump", "version": 3, "created_ms": 1, "schema": 9}
    assert_refused(
        sequence(header=header), tmp_path / "t", "version 3, newer than this JitRealm reads"
    )


def test_a_bad_header_is_refused(tmp_path: Path) -> None:
    header = {"format": "jitrealm-dump", "version": 1, "created_ms": "yesterday", "schema": 2}
    assert_refused(sequence(header=header), tmp_path / "t", "bad header")


GOOD_TENANT = {"t": "tenant", "name": "demo", "quotas": {}, "clone_counter": 0, "next_handle": 1}
GOOD_OBJECT = {
    "t": "object",
    "tenant": "demo",
    "id": "/x",
    "blueprint": None,
    "version": None,
    "env": None,
    "position": 0,
    "heartbeat_ms": 0,
    "state": {},
}


def test_a_hand_made_dump_restores(tmp_path: Path) -> None:
    restore(io.BytesIO(sequence(GOOD_TENANT, GOOD_OBJECT)), tmp_path / "t")
    with SqliteStore(tmp_path / "t") as s:
        assert [o.id for o in s.load().objects] == ["/x"]


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ([{**GOOD_OBJECT, "position": "first"}], "'position' must be a 64-bit integer"),
        ([{**GOOD_OBJECT, "position": 2**63}], "'position' must be a 64-bit integer"),
        ([{**GOOD_OBJECT, "position": True}], "'position' must be a 64-bit integer"),
        ([{**GOOD_OBJECT, "state": {"k": "text"}}], "'state' must be a map of text to bytes"),
        (
            [{**GOOD_OBJECT, "colour": "red"}],
            r"wrong fields \(missing \[\], unexpected \['colour'\]\)",
        ),
        ([{k: v for k, v in GOOD_OBJECT.items() if k != "env"}], r"missing \['env'\]"),
        ([{"t": "spaceship"}], "unknown kind 'spaceship'"),
        ([["not", "a", "map"]], "record 1 is not a map"),
        ([GOOD_OBJECT, GOOD_TENANT], r"record 2 \(tenant\) is out of order"),
        ([GOOD_TENANT, GOOD_OBJECT, GOOD_OBJECT], "record 3 is a second object"),
        (
            [{**GOOD_TENANT, "quotas": {"f": float("nan")}}],
            "'quotas' must be a map of plain values",
        ),
        (
            [
                {
                    "t": "account",
                    "name": "Bob",
                    "password_hash": "h",
                    "is_wizard": 1,
                    "created_at": 0.0,
                    "last_login": None,
                }
            ],
            "'is_wizard' must be a boolean",
        ),
    ],
)
def test_bad_records_are_refused(tmp_path: Path, records: list[dict[str, Any]], match: str) -> None:
    assert_refused(sequence(*records), tmp_path / "t", match)


def test_the_end_record_must_agree(tmp_path: Path) -> None:
    body = sequence(GOOD_TENANT, end=False)
    digest = hashlib.sha256(body).digest()
    wrong_counts = body + cbor2.dumps({"t": "end", "counts": {"tenant": 2}, "sha256": digest})
    assert_refused(wrong_counts, tmp_path / "a", "end record counts")
    malformed = body + cbor2.dumps({"t": "end", "counts": {"tenant": 1}})
    assert_refused(malformed, tmp_path / "b", "end record is malformed")
    trailing = sequence(GOOD_TENANT) + cbor2.dumps(GOOD_TENANT)
    assert_refused(trailing, tmp_path / "c", "data after the end record")


def test_a_refused_dump_leaves_an_existing_empty_directory_empty(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    with pytest.raises(DumpError):
        restore(io.BytesIO(sequence(GOOD_TENANT, GOOD_OBJECT, GOOD_OBJECT)), target)
    assert [p.name for p in target.iterdir() if p.name != LOCK_NAME] == []
    restore(io.BytesIO(sequence(GOOD_TENANT, GOOD_OBJECT)), target)  # and it can be used after


def test_restore_takes_the_directory_lock(world: SqliteStore, tmp_path: Path) -> None:
    """A server cannot start on a directory while it is being restored (and
    vice versa): restore into a directory a store holds is refused."""
    target = tmp_path / "held"
    target.mkdir()
    from driver.store.lockfile import DirLock

    lock = DirLock.acquire(target)
    try:
        with pytest.raises(Exception, match="in use by another JitRealm process"):
            restore(io.BytesIO(dump_bytes(world)), target)
    finally:
        lock.release()
    assert not (target / DB_NAME).exists()

"""Backups stream an environment from a held snapshot, restores read manifest
items one at a time: the pieces that keep memory flat, checked without a network."""

from __future__ import annotations

import hashlib
import random

import pytest
from google.protobuf.message import DecodeError

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage_server import manifest as mf
from stowage_server import names, snapshot
from stowage_server.app import Engines

from .test_engines import Op, backed_up, provision, put, restored

PARTNER = env_pb.ARTIFACT_KIND_PARTNER


async def test_a_held_snapshot_sees_one_instant_while_the_environment_changes(
    engines: Engines,
) -> None:
    await provision(engines, "held")
    for i in range(5):
        await put(engines, "held", PARTNER, f"p{i}", f"<p{i}/>".encode())
    snap = engines.registry.hold_snapshot("held")
    try:
        # Changed after the snapshot was taken: none of it may show.
        await put(engines, "held", PARTNER, "p9", b"<late/>")
        await put(engines, "held", PARTNER, "p0", b"<changed/>")
        await engines.artifacts.delete(names.artifact_name("held", PARTNER, "p1"))
        pages = list(snap.contents(2))
        assert [len(p) for p in pages] == [2, 2, 1]
        want = [f"<p{i}/>".encode() for i in range(5)]
        assert [row for page in pages for row in page] == [
            (hashlib.sha256(d).digest(), len(d), None) for d in want
        ]
        assert [row[3:5] for row in snap.items()] == [(PARTNER, f"p{i}") for i in range(5)]
        assert snap.artifact_count == 5 and snap.total_bytes == 5 * len(b"<p0/>")
    finally:
        snap.close()
    after = engines.registry.hold_snapshot("held")
    try:
        assert [row[4] for row in after.items()] == ["p0", "p2", "p3", "p4", "p9"]
    finally:
        after.close()


async def test_a_backup_of_many_pages_restores_every_artifact(
    engines: Engines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshot, "PAGE", 3)
    await provision(engines, "paged")
    contents = {f"a{i:02d}": f"<a{i % 4}/>".encode() for i in range(11)}  # shared content too
    contents["big"] = hashlib.sha256(b"seed").digest() * 40_000  # over the threshold: chunks
    for artifact_id, data in contents.items():
        await put(engines, "paged", PARTNER, artifact_id, data)
    op = await backed_up(engines, "paged")
    assert op.state == Op.STATE_SUCCEEDED, op.error
    assert op.backup.artifact_count == 12
    copy = await restored(
        engines, bk_pb.RestoreBackupRequest(backup=op.backup.name, environment_id="paged-copy")
    )
    assert copy.state == Op.STATE_SUCCEEDED, copy.error
    for artifact_id, data in contents.items():
        name = names.artifact_name("paged-copy", PARTNER, artifact_id)
        record, info = await engines.artifacts.get(name)
        got = b"".join([c async for c in engines.artifacts.read(record, info)])
        assert got == data, artifact_id


def _manifest(n: int) -> mf_pb.BackupManifest:
    m = mf_pb.BackupManifest(format_version=1, backup="environments/e/backups/b", region="r")
    for i in range(n):
        item = m.items.add(kind=PARTNER, id=f"p{i}", sha256=hashlib.sha256(b"%d" % i).digest())
        item.metadata["k"] = str(i)
        item.update_time.FromSeconds(i)
    m.warnings.append("after the items")
    m.control_numbers.add(agreement="environments/e/agreements/a", interchange=7)
    return m


def test_a_split_manifest_reads_back_exactly_as_a_whole_parse() -> None:
    whole = _manifest(300)
    header, items = mf.split(whole.SerializeToString())
    assert len(items) == 300 and items[7] == whole.items[7] and items[-1] == whole.items[-1]
    assert list(items) == list(whole.items)
    assert not header.items and list(header.warnings) == ["after the items"]
    header.items.extend(items)
    assert header == whole


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-2],  # cut inside the last field
        lambda b: b + b"\x0f",  # wire type 7 does not exist
        lambda b: b + b"\x42\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # varint too long
    ],
)
def test_a_damaged_manifest_is_refused_as_undecodable(damage) -> None:  # type: ignore[no-untyped-def]
    data = damage(_manifest(20).SerializeToString())
    with pytest.raises(DecodeError):
        header, items = mf.split(data)
        list(items)


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_an_item_listed_twice_makes_a_manifest_invalid_in_any_order(order: str) -> None:
    m = _manifest(50)
    items = list(m.items)
    if order == "shuffled":
        random.Random(3).shuffle(items)
    else:  # as backups write them
        items.sort(key=lambda i: (i.kind, i.id))
    del m.items[:]
    m.items.extend(items)
    header, items = mf.split(m.SerializeToString())
    assert mf.invalid(header, items) == ""
    m.items.add().CopyFrom(m.items[17])  # the same kind and id again, last
    header, items = mf.split(m.SerializeToString())
    assert "listed twice" in mf.invalid(header, items)

"""Backups stream an environment from a held snapshot, restores read manifest
items one at a time: the pieces that keep memory flat, checked without a network."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
from pathlib import Path

import pytest
from google.protobuf.message import DecodeError

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage_server import manifest as mf
from stowage_server import names, snapshot
from stowage_server.app import Engines
from stowage_server.errors import DataLoss
from stowage_storage.repository import RecordRef

from .test_engines import Op, backed_up, finish, provision, put, restored

PARTNER = env_pb.ARTIFACT_KIND_PARTNER


async def provisioned(engines: Engines, env: str, partners: dict[str, bytes]) -> None:
    """A new environment holding these partners (id -> content)."""
    await provision(engines, env)
    for artifact_id, data in partners.items():
        await put(engines, env, PARTNER, artifact_id, data)


async def test_a_held_snapshot_sees_one_instant_while_the_environment_changes(
    engines: Engines,
) -> None:
    await provisioned(engines, "held", {f"p{i}": f"<p{i}/>".encode() for i in range(5)})
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
    contents = {f"a{i:02d}": f"<a{i % 4}/>".encode() for i in range(11)}  # shared content too
    contents["big"] = hashlib.sha256(b"seed").digest() * 40_000  # over the threshold: chunks
    await provisioned(engines, "paged", contents)
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


def test_items_whose_sizes_overflow_a_restore_result_make_a_manifest_invalid() -> None:
    m = _manifest(3)
    m.items[0].size_bytes = m.items[1].size_bytes = 2**62  # each fits, the sum does not
    header, items = mf.split(m.SerializeToString())
    assert "add up to more than" in mf.invalid(header, items)


def _item(i: int, size: int = 0) -> bytes:
    item = mf_pb.ManifestItem(
        kind=PARTNER, id=f"p{i:04d}", sha256=hashlib.sha256(b"%d" % i).digest(), size_bytes=size
    )
    return item.SerializeToString(deterministic=True)


def test_item_blocks_parse_as_the_items_and_line_up_again_after_a_change() -> None:
    items = [_item(i) for i in range(3000)]
    blocks = list(mf.item_blocks(items))
    assert 30 < len(blocks) < 300
    assert all(hashlib.sha256(b).digest() == d for d, b in blocks)
    header, parsed = mf.split(b"".join(b for _, b in blocks))
    assert header == mf_pb.BackupManifest()
    assert list(parsed) == [mf_pb.ManifestItem.FromString(i) for i in items]
    changed = list(items)
    changed[1500] = _item(1500, size=7)
    after = {d for d, _ in mf.item_blocks(changed)}
    assert len(after - {d for d, _ in blocks}) <= 2  # its block, and the next if the cut moved
    # An item over the block size makes a block of its own.
    big = mf_pb.ManifestItem(kind=PARTNER, id="big", sha256=bytes(32))
    big.chunks.extend(mf_pb.BlobRef(sha256=bytes(32), size_bytes=1) for _ in range(3000))
    sizes = [len(b) for _, b in mf.item_blocks([big.SerializeToString(), *items[:10]])]
    assert sizes[0] > mf.BLOCK_BYTES and len(sizes) >= 2


async def test_a_backup_stores_its_items_in_blocks_that_later_backups_share(
    engines: Engines,
) -> None:
    await provisioned(engines, "blocks", {f"p{i:03d}": f"<p{i}/>".encode() for i in range(300)})
    first = (await backed_up(engines, "blocks")).backup
    unchanged = (await backed_up(engines, "blocks")).backup
    await put(engines, "blocks", PARTNER, "p150", b"<changed/>")
    changed = (await backed_up(engines, "blocks")).backup

    stored, header, items = await mf.read(engines.repo, first.manifest_sha256)
    assert header.format_version == 2 and not header.items and len(items) == 300
    assert len(stored) < 300 * 20  # the block list, not the items (about 70 bytes each)
    blocks = [bytes(b.sha256) for b in header.item_blocks]
    assert len(blocks) >= 4 and all(engines.repo.has_blob(d) for d in blocks)
    # Nothing changed: the same blocks, none stored again.
    _, again, _ = await mf.read(engines.repo, unchanged.manifest_sha256)
    assert [bytes(b.sha256) for b in again.item_blocks] == blocks
    assert unchanged.added_bytes == 0
    # One artifact changed: its content and one or two blocks are new.
    _, later, later_items = await mf.read(engines.repo, changed.manifest_sha256)
    assert len(set(bytes(b.sha256) for b in later.item_blocks) - set(blocks)) <= 2
    assert later_items[150].sha256 == hashlib.sha256(b"<changed/>").digest()
    assert engines.repo.config.format_version == 3


async def _swap_manifest(engines: Engines, backup: str, manifest: mf_pb.BackupManifest) -> None:
    """Points a backup's record at another manifest (records are never
    replaced: a test does it by hand)."""
    repo = engines.repo
    digest = await repo.put_manifest(manifest.SerializeToString(deterministic=True))
    bname = names.parse_backup(backup)
    ref = RecordRef(bname.environment, bname.backup_id)
    record = bk_pb.Backup.FromString(await repo.get_record(ref))
    record.manifest_sha256 = digest
    await repo.store.delete(f"backups/{ref.environment}/{ref.backup_id}")
    await repo.put_record(ref, record.SerializeToString())


async def test_a_block_that_holds_no_items_makes_the_backup_data_loss(engines: Engines) -> None:
    await provisioned(engines, "odd", {"p0": b"<p0/>"})
    op = await backed_up(engines, "odd")
    _, header, _ = await mf.read(engines.repo, op.backup.manifest_sha256)
    del header.item_blocks[:]  # in their place, a blob that is an artifact's content
    header.item_blocks.add(sha256=hashlib.sha256(b"<p0/>").digest(), size_bytes=5)
    await _swap_manifest(engines, op.backup.name, header)
    with pytest.raises(DataLoss, match="unreadable"):
        await restored(
            engines, bk_pb.RestoreBackupRequest(backup=op.backup.name, environment_id="odd-copy")
        )
    pruned = await finish(engines, await engines.prune.start(mt_pb.PruneRepositoryRequest()))
    assert pruned.state == Op.STATE_FAILED and "manifest" in pruned.error.message


async def test_an_item_that_runs_past_its_block_makes_the_backup_data_loss(
    engines: Engines,
) -> None:
    await provisioned(engines, "split", {f"p{i}": b"<p%d/>" % i for i in range(3)})
    op = await backed_up(engines, "split")
    _, header, items = await mf.read(engines.repo, op.backup.manifest_sha256)
    encoded = [i.SerializeToString(deterministic=True) for i in items]
    block = b"".join(b for _, b in mf.item_blocks(encoded))  # the items, framed
    cut = len(block) // 2  # inside the second item
    session = engines.repo.session()
    del header.item_blocks[:]
    for half in (block[:cut], block[cut:]):
        await session.add(hashlib.sha256(half).digest(), half)
        header.item_blocks.add(sha256=hashlib.sha256(half).digest(), size_bytes=len(half))
    await session.commit()
    await _swap_manifest(engines, op.backup.name, header)
    with pytest.raises(DecodeError, match="past the end of its block"):
        await mf.read(engines.repo, await _manifest_of(engines, op.backup.name))
    with pytest.raises(DataLoss, match="unreadable"):
        await restored(
            engines, bk_pb.RestoreBackupRequest(backup=op.backup.name, environment_id="split-copy")
        )
    pruned = await finish(engines, await engines.prune.start(mt_pb.PruneRepositoryRequest()))
    assert pruned.state == Op.STATE_FAILED and "manifest" in pruned.error.message


async def _manifest_of(engines: Engines, backup: str) -> str:
    bname = names.parse_backup(backup)
    ref = RecordRef(bname.environment, bname.backup_id)
    return bk_pb.Backup.FromString(await engines.repo.get_record(ref)).manifest_sha256


async def test_a_format_1_manifest_with_its_items_inline_restores_and_keeps_its_blobs(
    engines: Engines,
) -> None:
    contents = {f"p{i}": f"<p{i}/>".encode() for i in range(30)}
    contents["big"] = hashlib.sha256(b"big").digest() * 40_000  # chunked
    await provisioned(engines, "inline", contents)
    op = await backed_up(engines, "inline")
    repo = engines.repo
    # Rewritten as a server of format 1 wrote it: every item in the manifest.
    _, header, items = await mf.read(repo, op.backup.manifest_sha256)
    blocks = len(header.item_blocks)
    header.items.extend(items)
    header.ClearField("item_blocks")
    header.format_version = 1
    await _swap_manifest(engines, op.backup.name, header)

    # The blocks are no longer named by any manifest: prune takes them and no more.
    pruned = await finish(engines, await engines.prune.start(mt_pb.PruneRepositoryRequest()))
    assert pruned.state == Op.STATE_SUCCEEDED, pruned.error
    assert pruned.prune.blobs_removed == blocks > 0
    copy = await restored(
        engines, bk_pb.RestoreBackupRequest(backup=op.backup.name, environment_id="inline-copy")
    )
    assert copy.state == Op.STATE_SUCCEEDED, copy.error
    for artifact_id, data in contents.items():
        record_, info = await engines.artifacts.get(
            names.artifact_name("inline-copy", PARTNER, artifact_id)
        )
        assert b"".join([c async for c in engines.artifacts.read(record_, info)]) == data


async def _now(fn):  # type: ignore[no-untyped-def]
    return fn()


async def test_a_spool_gives_back_its_items_in_order_and_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [_item(i, size=i) for i in range(2000)]
    blocks = [b for _, b in mf.item_blocks(items)]

    def ends(part: list[bytes]) -> list[int]:
        return list(itertools.accumulate(len(b) for b in part))

    spool = mf.ItemSpool(str(tmp_path), _now)
    await spool.add(b"".join(blocks[:3]), ends(blocks[:3]))
    await spool.add(b"".join(blocks[3:]), ends(blocks[3:]))
    parsed = [mf_pb.ManifestItem.FromString(i) for i in items]
    assert len(spool) == 2000
    assert list(spool) == parsed
    assert (spool[0], spool[1234], spool[-1]) == (parsed[0], parsed[1234], parsed[-1])
    monkeypatch.setattr(mf, "_SPOOL_BATCH", 100)  # reads of a few items at a time
    assert list(spool) == parsed
    with pytest.raises(DecodeError):
        await spool.add(b"\x08\x01" + blocks[0], [])  # a field that is no item
    assert os.listdir(tmp_path) == []  # the file has no name
    spool.close()


async def test_a_restore_keeps_a_manifests_items_in_a_spool_not_in_memory(
    engines: Engines,
) -> None:
    await provisioned(engines, "spooled", {f"p{i}": b"<p%d/>" % i for i in range(40)})
    op = await backed_up(engines, "spooled")
    loaded = await engines.restores.load(names.parse_backup(op.backup.name))
    assert isinstance(loaded.items, mf.ItemSpool)
    _, _, in_memory = await mf.read(engines.repo, op.backup.manifest_sha256)
    assert list(loaded.items) == list(in_memory)
    assert len(in_memory) == 40


def test_the_read_order_interleaves_small_and_large_items_by_their_bytes(tmp_path: Path) -> None:
    from stowage_server import restore

    def item(i: int, size: int, chunked: bool = False) -> mf_pb.ManifestItem:
        out = mf_pb.ManifestItem(kind=PARTNER, id=f"p{i}", sha256=bytes([i]) * 32, size_bytes=size)
        if chunked:
            out.chunks.add(sha256=bytes(32), size_bytes=size)
        return out

    # Ten small items of 10 bytes, and two large items of 1000 and 3000 bytes.
    items = [item(i, 10) for i in range(10)]
    items[3] = item(3, 1000, chunked=True)
    items.append(item(10, 3000, chunked=True))
    order = restore._Order.of(items, str(tmp_path))
    walked = list(order.walk())
    assert sorted(n for n, _, _, _ in walked) == list(range(11))
    assert [n for n, _, _, small in walked if small] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert [n for n, _, _, small in walked if not small] == [3, 10]
    assert all(d == items[n].sha256 and s == items[n].size_bytes for n, d, s, _ in walked)
    # The first large item comes after the first small one (a quarter of the
    # large bytes); the second once more than a quarter of the small bytes are read.
    assert [n for n, _, _, _ in walked][:5] == [0, 3, 1, 2, 10]
    assert list(order.walk()) == walked  # the same every time
    order.close()


async def test_the_registry_answers_which_contents_it_has_for_any_number_of_digests(
    engines: Engines,
) -> None:
    await provisioned(engines, "known", {f"p{i}": b"<k%d/>" % i for i in range(30)})
    present = [hashlib.sha256(b"<k%d/>" % i).digest() for i in range(30)]
    for n in (1, 7, 30, 513, 1100):
        absent = [hashlib.sha256(b"absent %d" % i).digest() for i in range(n)]
        asked = absent[: n // 2] + present[: min(n, 30)] + absent[n // 2 :]
        known = engines.registry.known_contents(asked)
        assert sorted(d for d in asked if d in known) == sorted(present[: min(n, 30)])


async def test_snapshot_pages_end_early_once_their_chunk_lists_are_large(
    engines: Engines, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = {f"big{i}": hashlib.sha256(b"%d" % i).digest() * 20_000 for i in range(4)}
    await provisioned(engines, "weighed", {**big, "small": b"<s/>"})
    monkeypatch.setattr(snapshot, "_PAGE_BYTES", 100)  # under one chunk list
    monkeypatch.setattr(snapshot, "_FETCH", 1)
    snap = engines.registry.hold_snapshot("weighed")
    try:
        pages = list(snap.contents())
    finally:
        snap.close()
    assert sum(len(p) for p in pages) == 5
    assert all(len(p) == 1 for p in pages if any(r[2] for r in p))


async def test_small_artifacts_are_bundled_and_a_change_leaves_the_bundles_alone(
    engines: Engines,
) -> None:
    rng = random.Random(11)
    partners = {
        f"p{i:03d}": (
            f"<Partner id='p{i:03d}'><Identity qualifier='ZZ' value='{rng.randrange(10**9)}'/>"
            f"<Contact city='{rng.choice(['Seattle', 'Chicago', 'Rotterdam'])}'/></Partner>\n"
            * rng.randint(20, 40)
        ).encode()
        for i in range(300)
    }
    await provisioned(engines, "bundled", partners)
    first = (await backed_up(engines, "bundled")).backup
    where = [engines.repo.index.get(hashlib.sha256(d).digest()) for d in partners.values()]
    objects = {(loc.pack, loc.offset) for loc in where if loc}
    # About 128 KiB of neighbours to a stored object, not one object each.
    assert len(where) == 300 and len(objects) <= 300 * 2800 // (128 * 1024) + 2
    assert sum(1 for loc in where if loc and loc.bundle_offset) >= 290
    assert first.added_bytes < sum(map(len, partners.values())) // 8

    await put(engines, "bundled", PARTNER, "p150", b"<Partner id='p150' changed='yes'/>")
    changed = (await backed_up(engines, "bundled")).backup
    assert changed.added_bytes < 4096  # the one artifact and its item block, no bundle again
    for env, backup, want in (
        ("copy-first", first, partners),
        ("copy-changed", changed, {**partners, "p150": None}),
    ):
        op = await restored(
            engines, bk_pb.RestoreBackupRequest(backup=backup.name, environment_id=env)
        )
        assert op.state == Op.STATE_SUCCEEDED, op.error
        for artifact_id, data in want.items():
            record, info = await engines.artifacts.get(
                names.artifact_name(env, PARTNER, artifact_id)
            )
            got = b"".join([c async for c in engines.artifacts.read(record, info)])
            assert got == (data or b"<Partner id='p150' changed='yes'/>"), artifact_id

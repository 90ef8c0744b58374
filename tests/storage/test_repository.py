"""The repository over a local store: packs, index, deduplication, verification."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path

import pytest

from stowage.v1 import repository_pb2
from stowage_storage import maintenance
from stowage_storage.chunker import Chunker
from stowage_storage.codec import FLAG_ZSTD, Codec, CodecError
from stowage_storage.crypto import MasterKey
from stowage_storage.index import Index
from stowage_storage.local import LocalStore
from stowage_storage.pack import Entry
from stowage_storage.repository import (
    CorruptObject,
    RecordExists,
    RecordRef,
    Repository,
    RepositoryError,
    WriteSession,
    WrongKey,
)

from .counting import CountingStore


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


async def open_repo(path: Path, key: MasterKey) -> Repository:
    return await Repository.open(LocalStore(str(path)), key)


async def test_blobs_are_packed_indexed_and_read_back_verified(tmp_path: Path) -> None:
    key = MasterKey.generate()
    repo = await open_repo(tmp_path, key)
    blobs = [os.urandom(random.randint(10, 5000)) for _ in range(500)]
    session = repo.session()
    for b in blobs:
        await session.add(sha(b), b)
    assert session.blobs_added == 500
    await session.commit()
    packs = await repo.store.list("packs/")
    assert len(packs) == 1  # 500 small blobs, one object write
    assert len(await repo.store.list("index/")) == 1

    # Another process sees the same blobs after opening the repository.
    again = await open_repo(tmp_path, key)
    digests = [sha(b) for b in blobs]
    got = [d async for d in again.read_blobs(digests)]
    assert [g[1] for g in got] == blobs


async def test_dedup_within_and_across_sessions(tmp_path: Path) -> None:
    repo = await open_repo(tmp_path, MasterKey.generate())
    b = b"same content" * 100
    s1 = repo.session()
    assert await s1.add(sha(b), b) > 0
    assert await s1.add(sha(b), b) == 0
    await s1.commit()
    s2 = repo.session()
    assert await s2.add(sha(b), b) == 0
    await s2.commit()
    assert len(await repo.store.list("packs/")) == 1


async def test_a_session_refuses_data_that_does_not_match_its_digest(tmp_path: Path) -> None:
    repo = await open_repo(tmp_path, MasterKey.generate())
    s = repo.session()
    from stowage_storage.repository import SourceChanged

    with pytest.raises(SourceChanged):
        await s.add(sha(b"expected"), b"something else")


async def test_uncommitted_sessions_leave_no_index(tmp_path: Path) -> None:
    repo = await open_repo(tmp_path, MasterKey.generate())
    s = repo.session()
    big = os.urandom(20 << 20)
    for i in range(0, len(big), 1 << 18):
        piece = big[i : i + (1 << 18)]
        await s.add(sha(piece), piece)
    await s.abort()
    assert await repo.store.list("index/") == []
    assert not repo.has_blob(sha(big[: 1 << 18]))


async def three_random_blobs(tmp_path: Path, key: MasterKey) -> tuple[Repository, list[bytes], str]:
    """A repository holding three random blobs (stored as they are) in one
    pack; and that pack's key."""
    repo = await open_repo(tmp_path, key)
    s = repo.session()
    blobs = [os.urandom(3000) for _ in range(3)]
    for b in blobs:
        await s.add(sha(b), b)
    await s.commit()
    (pack,) = await repo.store.list("packs/")
    return repo, blobs, pack.key


def flip_byte(repo: Repository, pack: Path, blob: bytes, at: int) -> None:
    data = bytearray(pack.read_bytes())
    loc = repo.index.get(sha(blob))
    assert loc is not None
    data[loc.offset + at] ^= 0xFF
    pack.write_bytes(bytes(data))


async def test_a_flipped_byte_is_caught_and_named(tmp_path: Path) -> None:
    repo, blobs, pack = await three_random_blobs(tmp_path, MasterKey.generate())
    flip_byte(repo, tmp_path / pack, blobs[1], 5)
    with pytest.raises(CorruptObject) as err:
        [x async for x in repo.read_blobs([sha(b) for b in blobs])]
    assert err.value.sha256 == sha(blobs[1])
    assert err.value.key == pack


async def test_read_runs_checks_each_blob_the_caller_does_not_hash_itself(tmp_path: Path) -> None:
    """A restore hashes a chunked item whole, so its chunks are read unchecked;
    every other blob is checked against its digest by the read."""
    repo, blobs, pack = await three_random_blobs(tmp_path, MasterKey.generate())
    flip_byte(repo, tmp_path / pack, blobs[1], 100)

    async def read(checks: list[bool]) -> list[bytes]:
        refs = [(sha(b), check) for b, check in zip(blobs, checks, strict=True)]
        return [plain async for run in repo.read_runs(refs) for _, plain in run]

    got = await read([True, False, True])
    assert got[0] == blobs[0] and got[2] == blobs[2]
    assert got[1] != blobs[1] and len(got[1]) == len(blobs[1])  # the caller's to check
    with pytest.raises(CorruptObject) as err:
        await read([False, True, False])
    assert err.value.sha256 == sha(blobs[1])


@pytest.mark.parametrize("reads", ["in the decoding worker", "through async reads"])
async def test_a_truncated_or_missing_pack_is_named(tmp_path: Path, reads: str) -> None:
    key = MasterKey.generate()
    repo, blobs, pack = await three_random_blobs(tmp_path, key)
    if reads == "through async reads":  # a store with no blocking reads, like Azure
        repo = await Repository.open(CountingStore(LocalStore(str(tmp_path))), key)
    path = tmp_path / pack
    digests = [sha(b) for b in blobs]
    last = repo.index.get(digests[-1])
    assert last is not None
    path.write_bytes(path.read_bytes()[: last.offset + 10])
    with pytest.raises(CorruptObject, match="truncated") as err:
        [x async for x in repo.read_blobs(digests)]
    assert err.value.key == pack
    path.unlink()
    with pytest.raises(CorruptObject, match="missing") as err:
        [x async for x in repo.read_blobs(digests)]
    assert err.value.key == pack and err.value.sha256 == digests[0]
    if isinstance(repo.store, CountingStore):
        assert repo.store.calls["read"] >= 2


async def test_another_key_cannot_open_the_repository(tmp_path: Path) -> None:
    await open_repo(tmp_path, MasterKey.generate())
    with pytest.raises(WrongKey):
        await open_repo(tmp_path, MasterKey.generate())


async def test_records_are_create_if_absent(tmp_path: Path) -> None:
    repo = await open_repo(tmp_path, MasterKey.generate())
    ref = RecordRef("env", "20260101-000000-abcdef")
    await repo.put_record(ref, b"first")
    with pytest.raises(RecordExists):
        await repo.put_record(ref, b"second")
    assert await repo.get_record(ref) == b"first"
    assert await repo.list_records() == [ref]
    assert await repo.list_records("env") == [ref]
    assert await repo.list_records("other") == []


async def test_manifests_are_content_addressed_and_verified(tmp_path: Path) -> None:
    repo = await open_repo(tmp_path, MasterKey.generate())
    digest = await repo.put_manifest(b"manifest bytes" * 50)
    assert await repo.get_manifest(digest) == b"manifest bytes" * 50
    path = tmp_path / "manifests" / digest
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptObject):
        await repo.get_manifest(digest)


def test_codec_compresses_when_it_pays_and_detects_tampering() -> None:
    codec = Codec()
    text = b"<Agreement/>" * 1000
    stored = codec.encode(text)
    assert len(stored) < len(text) / 10
    assert codec.decode(stored) == text
    noise = os.urandom(4096)
    assert len(codec.encode(noise)) == len(noise) + 1
    sealed = Codec(content_key=os.urandom(32))
    enc = sealed.encode(text, b"aad")
    assert text not in enc
    assert sealed.decode(enc, b"aad") == text
    with pytest.raises(CodecError):
        sealed.decode(enc, b"other aad")
    with pytest.raises(CodecError):
        codec.decode(b"\x80junk")


def test_codec_decodes_a_slice_of_a_read_into_bytes_of_its_own() -> None:
    # Blobs are encoded from, and decoded from, views of larger reads (a file's
    # run of chunks, a pack's run of blobs): each result must be bytes of its
    # own, or a kept blob would keep the whole read.
    text = b"<Agreement/>" * 1000
    noise = os.urandom(4096)
    for codec in (Codec(), Codec(content_key=os.urandom(32))):
        for plain in (text, noise):
            stored = codec.encode(memoryview(b"head" + plain)[4:], b"aad")
            assert type(stored) is bytes
            read = bytearray(b"before" + stored + b"after")
            out = codec.decode(memoryview(read)[6 : 6 + len(stored)], b"aad")
            assert type(out) is bytes and out == plain
            read[6 : 6 + len(stored)] = bytes(len(stored))  # the read buffer reused
            assert out == plain


def test_codec_refuses_a_frame_that_claims_more_than_it_can_hold() -> None:
    # zstd allocates what a frame's header claims: a forged header asking for a
    # terabyte must be refused as corrupt, not tried (MemoryError, INTERNAL).
    header = bytes([0x28, 0xB5, 0x2F, 0xFD, 0xE0]) + (1 << 40).to_bytes(8, "little")
    stored = bytes([FLAG_ZSTD]) + header + bytes([1, 0, 0])
    for max_size in (None, 4096):  # a document's, and a blob's known size
        with pytest.raises(CodecError, match="claims 1099511627776 bytes"):
            Codec().decode(stored, b"", max_size)


def test_chunking_follows_content_so_an_insert_shifts_few_chunks(tmp_path: Path) -> None:
    rng = random.Random(1)
    data = rng.randbytes(4 << 20)
    edited = data[:1_000_000] + b"INSERTED" + data[1_000_000:]
    chunker = Chunker()
    a = {c.sha256 for c in chunker.split_bytes(data)}
    b = {c.sha256 for c in chunker.split_bytes(edited)}
    assert len(a) > 30
    assert len(a - b) <= 3
    path = tmp_path / "f"
    path.write_bytes(data)
    assert [c.sha256 for c in chunker.split_file(str(path))] == [
        c.sha256 for c in chunker.split_bytes(data)
    ]
    small = b"tiny"
    assert [(c.offset, c.length) for c in chunker.split_bytes(small)] == [(0, 4)]


async def test_small_artifacts_compress_with_the_repository_dictionary(tmp_path: Path) -> None:
    key = MasterKey.generate()
    repo = await open_repo(tmp_path, key)
    rng = random.Random(5)
    # Like real partner and agreement definitions: the same structure, few values differ.
    template = (
        b"<Agreement protocol='X12' version='005010'><Host partner='%s' qualifier='ZZ'/>"
        b"<Guest partner='%s' qualifier='01'/><Envelope><ISA usage='P' separator='*' "
        b"terminator='~' control='%d'/><GS functional='PO' control='%d'/></Envelope>"
        b"<Transport kind='ftp' folder='/ftp/%s/inbound' poll='60'/><Validation schema='true' "
        b"duplicates='reject' acknowledgement='997'/></Agreement>\n"
    )
    names = [b"Contoso", b"Fabrikam", b"Northwind", b"Tailspin", b"Woodgrove", b"Litware"]
    texts = [
        b"".join(
            template
            % (
                rng.choice(names),
                rng.choice(names),
                rng.randrange(10**9),
                rng.randrange(10**6),
                rng.choice(names),
            )
            for _ in range(rng.randint(3, 12))
        )
        for _ in range(400)
    ]
    plain = repo.session()
    for t in texts[:200]:
        plain.claim(sha(t))
    without = sum(len(plain.encode(sha(t), t, small=True)) for t in texts[:200])
    await repo.add_dictionary(texts[200:])
    s = repo.session()
    for t in texts[:200]:
        s.claim(sha(t))
        await s.append(sha(t), s.encode(sha(t), t, small=True), len(t))
    await s.commit()
    assert s.stored_bytes < 0.7 * without
    assert [o.key.split("/")[0] for o in await repo.store.list("dicts/")] == ["dicts"]
    # Another process finds the dictionary and reads the blobs back.
    again = await open_repo(tmp_path, key)
    assert [d async for d in again.read_blobs([sha(t) for t in texts[:200]])] == [
        (sha(t), t) for t in texts[:200]
    ]


def test_a_blob_naming_a_missing_dictionary_is_unreadable() -> None:
    trained = Codec()
    rng = random.Random(2)
    samples = [b"row %d %s" % (i, bytes(rng.choices(b"abcdef", k=200))) for i in range(300)]
    trained.add_dictionary(Codec.train(samples, 16 * 1024))
    stored = trained.encode(samples[0] * 3, b"", small=True)
    assert trained.decode(stored) == samples[0] * 3
    with pytest.raises(CodecError, match="dictionary"):
        Codec().decode(stored)


async def _index_objects(repo: Repository, at_least: int) -> int:
    """How many index objects the repository holds, after waiting up to 5 s for
    ``at_least`` (a session indexes full packs once their uploads finish)."""
    for _ in range(500):
        if len(await repo.store.list("index/")) >= at_least:
            break
        await asyncio.sleep(0.01)
    return len(await repo.store.list("index/"))


async def test_a_session_that_indexes_as_it_goes_keeps_every_blob_findable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stowage_storage import repository

    monkeypatch.setattr(repository, "TARGET_PACK_BYTES", 64 << 10)
    key = MasterKey.generate()
    repo = await open_repo(tmp_path, key)
    blobs = [os.urandom(40 << 10) for _ in range(12)]  # a pack each other blob
    s = repo.session(index_every=2)
    for b in blobs:
        assert await s.add(sha(b), b) > 0
    # Indexed while the session runs (the uploads of full packs finish in the
    # background): other sessions deduplicate against them.
    assert await _index_objects(repo, at_least=2) >= 2
    assert repo.has_blob(sha(blobs[0]))
    assert await s.add(sha(blobs[0]), blobs[0]) == 0  # known to the index now
    other = repo.session()
    assert await other.add(sha(blobs[0]), blobs[0]) == 0
    await s.commit()
    assert all(repo.has_blob(sha(b)) for b in blobs)
    again = await open_repo(tmp_path, key)
    got = [data async for _, data in again.read_blobs([sha(b) for b in blobs])]
    assert got == blobs


async def test_a_session_indexes_packs_of_many_small_blobs_before_it_reaches_its_pack_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stowage_storage import repository

    monkeypatch.setattr(repository, "TARGET_PACK_BYTES", 16 << 10)
    monkeypatch.setattr(repository, "_INDEX_ENTRIES", 40)
    repo = await open_repo(tmp_path, MasterKey.generate())
    blobs = [os.urandom(1000) for _ in range(200)]  # about 16 to a pack
    s = repo.session(index_every=1000)
    for b in blobs:
        assert await s.add(sha(b), b) > 0
    # Every 40 blobs or so (3 packs, far fewer than 1000) are indexed for their count.
    assert await _index_objects(repo, at_least=2) >= 2
    await s.commit()
    assert all(repo.has_blob(sha(b)) for b in blobs)


def test_index_packs_reads_an_index_object_pack_by_pack_and_checks_it_first() -> None:
    from stowage.v1 import repository_pb2
    from stowage_storage.index import encode_index
    from stowage_storage.pack import Entry
    from stowage_storage.repository import CorruptObject, index_packs

    packs = {
        hashlib.sha256(b"%d" % p).hexdigest(): [
            Entry(hashlib.sha256(b"%d-%d" % (p, i)).digest(), i * 100, 100, 120) for i in range(50)
        ]
        for p in range(5)
    }
    data = encode_index(packs)
    assert list(index_packs("index/x", data)) == list(
        repository_pb2.IndexFile.FromString(data).packs
    )
    bad = repository_pb2.IndexFile.FromString(data)
    bad.packs[4].entries[3].length = 0  # the last pack: nothing may be yielded before it is checked
    got: list[object] = []
    with pytest.raises(CorruptObject):
        for p in index_packs("index/x", bad.SerializeToString()):
            got.append(p)
    assert got == []
    with pytest.raises(CorruptObject):
        list(index_packs("index/x", data[:-5]))


async def set_format(store: LocalStore, version: int) -> None:
    config = repository_pb2.RepositoryConfig.FromString(await store.read("config"))
    config.format_version = version
    await store.write("config", config.SerializeToString())


async def stored_format(store: LocalStore) -> int:
    return repository_pb2.RepositoryConfig.FromString(await store.read("config")).format_version


async def test_a_format_1_repository_is_read_as_it_is_and_raised_before_a_manifest(
    tmp_path: Path,
) -> None:
    key = MasterKey.generate()
    store = LocalStore(str(tmp_path))
    await open_repo(tmp_path, key)

    await set_format(store, 1)
    old = await open_repo(tmp_path, key)
    session = old.session()  # blobs alone change nothing
    await session.add(sha(b"blob"), b"blob")
    await session.commit()
    assert await stored_format(store) == 1
    await old.put_manifest(b"a manifest")  # its items may be in blobs a format 1 server misses
    assert await stored_format(store) == 3 and old.config.format_version == 3
    await set_format(store, 4)
    with pytest.raises(RepositoryError, match="format 4 is not supported"):
        await open_repo(tmp_path, key)


async def test_a_session_ends_a_pack_at_its_blob_count_as_well_as_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stowage_storage import repository

    monkeypatch.setattr(repository, "TARGET_PACK_ENTRIES", 25)
    repo = await open_repo(tmp_path, MasterKey.generate())
    blobs = [os.urandom(200) for _ in range(100)]  # far below a pack's size
    s = repo.session()
    for b in blobs:
        assert await s.add(sha(b), b) > 0
    written = await s.commit()
    assert sorted(len(entries) for entries in written.values()) == [25, 25, 25, 25]
    got = [data async for _, data in repo.read_blobs([sha(b) for b in blobs])]
    assert got == blobs


def _texts(seed: int, count: int) -> list[bytes]:
    """Small artifacts of one kind: the same structure, a few values differ."""
    rng = random.Random(seed)
    return [
        b"<Partner name='%s-%06d'><Identity qualifier='ZZ' value='%d'/><Contact city='%s'/>"
        b"<Agreement protocol='X12' version='005010' control='%d'/></Partner>\n"
        % (
            rng.choice([b"Contoso", b"Fabrikam", b"Northwind"]),
            i,
            rng.randrange(10**9),
            rng.choice([b"Seattle", b"Chicago", b"Rotterdam"]),
            rng.randrange(10**6),
        )
        * rng.randint(5, 40)
        for i in range(count)
    ]


async def _nothing(items: int, nbytes: int, key: str) -> None:
    pass


async def add_bundle(s: WriteSession, texts: list[bytes]) -> int:
    """Claims the texts and adds them to the session as one bundle; its stored size."""
    for t in texts:
        assert s.claim(sha(t))
    stored = s.encode_bundle([(sha(t), t) for t in texts])
    return await s.append_bundle([(sha(t), len(t)) for t in texts], stored)


async def test_small_blobs_stored_as_a_bundle_read_back_one_by_one_and_together(
    tmp_path: Path,
) -> None:
    key = MasterKey.generate()
    repo = await open_repo(tmp_path, key)
    texts = _texts(1, 60)
    before, after = os.urandom(3000), os.urandom(2000)
    s = repo.session()
    alone = sum(len(s.encode(sha(t), t, small=True)) for t in texts)
    await s.add(sha(before), before)
    stored = await add_bundle(s, texts)
    await s.add(sha(after), after)
    await s.commit()
    assert s.blobs_added == 62
    assert stored < 0.8 * alone  # they compress together, and share one seal
    # One stored object: every member's entry names it, and where the member starts in it.
    locations = [repo.index.get(sha(t)) for t in texts]
    assert len({(loc.offset, loc.length) for loc in locations if loc}) == 1
    assert [loc.bundle_offset for loc in locations if loc] == [
        sum(len(t) for t in texts[:i]) for i in range(len(texts))
    ]
    # Another process reads members alone, out of order, and with their neighbours.
    again = await open_repo(tmp_path, key)
    assert await again.read_blob(sha(texts[17])) == texts[17]
    order = [before, *reversed(texts), after, texts[3], texts[3]]
    assert [p async for _, p in again.read_blobs([sha(b) for b in order])] == order
    report = await maintenance.check(again, True, _nothing)
    assert report.problems == [] and report.blobs_checked == 62


async def one_bundle(
    tmp_path: Path, key: MasterKey, count: int
) -> tuple[Repository, list[bytes], str]:
    """A repository holding one pack: a bundle of ``count`` texts."""
    repo = await open_repo(tmp_path, key)
    texts = _texts(count, count)
    s = repo.session()
    await add_bundle(s, texts)
    await s.commit()
    (pack,) = [o.key for o in await repo.store.list("packs/")]
    return repo, texts, pack


async def test_a_damaged_bundle_fails_each_member_and_check_names_them(tmp_path: Path) -> None:
    repo, texts, pack = await one_bundle(tmp_path, MasterKey.generate(), 10)
    flip_byte(repo, tmp_path / pack, texts[0], 40)
    for t in (texts[0], texts[9]):
        with pytest.raises(CorruptObject, match="unreadable") as err:
            await repo.read_blob(sha(t))
        assert err.value.key == pack and err.value.sha256 == sha(t)
    report = await maintenance.check(repo, True, _nothing)
    assert sorted(report.bad_blobs) == sorted(sha(t) for t in texts)


async def test_a_bundle_member_is_checked_against_its_digest_even_unasked(
    tmp_path: Path,
) -> None:
    """A bundle's seal names no member, so its members are always hashed:
    an index entry pointing at the wrong part of a bundle is caught."""
    repo = await open_repo(tmp_path, MasterKey.generate())
    texts = [b"a" * 100, b"b" * 100]
    s = repo.session()
    await add_bundle(s, texts)
    packs = await s.commit()
    (pack_id,) = packs
    entries = packs[pack_id]
    forged = Index()
    forged.add_pack(
        pack_id,
        [Entry(entries[0].sha256, entries[0].offset, entries[0].length, 100, 100), entries[1]],
    )
    repo.index = forged
    with pytest.raises(CorruptObject, match="does not match"):
        [x async for run in repo.read_runs([(sha(texts[0]), False)]) for x in run]
    # A single blob's entry that claims a place in a bundle is refused too.
    single = b"c" * 200
    s = repo.session()
    await s.add(sha(single), single)
    (other,) = await s.commit()
    loc = repo.index.get(sha(single))
    assert loc is not None
    repo.index = Index()
    repo.index.add_pack(other, [Entry(sha(single), loc.offset, loc.length, 100, 100)])
    with pytest.raises(CorruptObject, match="unreadable"):
        await repo.read_blob(sha(single))


async def test_prune_keeps_the_live_members_of_a_bundle(tmp_path: Path) -> None:
    key = MasterKey.generate()
    repo, texts, old = await one_bundle(tmp_path, key, 30)
    live = {sha(t) for t in texts[::3]}
    stats = await maintenance.prune(repo, live, set(), _nothing)
    assert stats.blobs_removed == 20 and stats.packs_repacked == 1 and stats.bytes_freed > 0
    assert old not in [o.key for o in await repo.store.list("packs/")]
    again = await open_repo(tmp_path, key)
    assert [p async for _, p in again.read_blobs([sha(t) for t in texts[::3]])] == texts[::3]
    assert all(not again.has_blob(sha(t)) for t in texts[1::3])
    # Bundled again, the ten together.
    kept = [again.index.get(sha(t)) for t in texts[::3]]
    assert len({(loc.pack, loc.offset) for loc in kept if loc}) == 1


async def test_a_bundle_raises_a_format_2_repository_to_3_before_its_index(
    tmp_path: Path,
) -> None:
    key = MasterKey.generate()
    store = LocalStore(str(tmp_path))
    await open_repo(tmp_path, key)
    await set_format(store, 2)
    old = await open_repo(tmp_path, key)
    s = old.session()
    await s.add(sha(b"alone" * 30), b"alone" * 30)
    await s.commit()
    assert await stored_format(store) == 2  # single blobs are what format 2 reads
    texts = _texts(4, 3)
    s = old.session()
    await add_bundle(s, texts)
    await s.end_pack()
    await asyncio.sleep(0.05)
    assert await stored_format(store) == 2  # the pack alone is invisible
    await s.commit()
    assert await stored_format(store) == 3 and old.config.format_version == 3


def test_codec_keeps_bundles_and_single_blobs_apart() -> None:
    codec = Codec(content_key=os.urandom(32))
    bundle = codec.encode_bundle([b"x" * 500, b"y" * 500])
    assert Codec.is_bundle(bundle) and codec.decode_bundle(bundle) == b"x" * 500 + b"y" * 500
    single = codec.encode(b"z" * 500, sha(b"z" * 500))
    assert not Codec.is_bundle(single)
    with pytest.raises(CodecError, match="bundle"):
        codec.decode(bundle, sha(b"x" * 500), 500)
    with pytest.raises(CodecError, match="not a bundle"):
        codec.decode_bundle(single)
    # The flag is bound to the seal: a single blob relabelled a bundle does not open.
    relabelled = bytes([single[0] | 0x08]) + single[1:]
    with pytest.raises(CodecError):
        codec.decode_bundle(relabelled)
    with pytest.raises(ValueError, match="over"):
        codec.encode_bundle([b"\0" * (1 << 20), b"\0"])

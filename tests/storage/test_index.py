"""The in-memory index: first locations, every pack's entries as listed, growth."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from stowage.v1 import repository_pb2
from stowage_storage.index import DigestSet, Index, Location, encode_index
from stowage_storage.pack import Entry

PACK_A = "a" * 64
PACK_B = "b" * 64
PACK_C = "c" * 64


def digest(n: int) -> bytes:
    return n.to_bytes(4, "big") * 8


def test_first_location_wins_and_later_packs_still_list_the_digest() -> None:
    index = Index()
    index.add_pack(PACK_A, [Entry(digest(1), 0, 10, 20), Entry(digest(2), 10, 5, 5)])
    index.add_pack(PACK_B, [Entry(digest(3), 0, 7, 7), Entry(digest(1), 7, 11, 20)])

    assert index.get(digest(1)) == Location(PACK_A, 0, 10, 20)
    assert index.get(digest(3)) == Location(PACK_B, 0, 7, 7)
    assert digest(1) in index and digest(3) in index
    assert len(index) == 3
    assert index.packs[PACK_B] == [Entry(digest(3), 0, 7, 7), Entry(digest(1), 7, 11, 20)]


def test_packs_list_every_entry_in_the_order_added_duplicates_included() -> None:
    index = Index()
    listed = [
        Entry(digest(5), 100, 1, 1),
        Entry(digest(4), 0, 100, 300),
        Entry(digest(5), 101, 1, 1),  # twice in one pack
    ]
    index.add_pack(PACK_B, listed)
    index.add_pack(PACK_A, [])
    index.add_pack(PACK_C, [Entry(digest(4), 0, 9, 9)])

    assert list(index.packs) == [PACK_B, PACK_A, PACK_C]
    assert len(index.packs) == 3
    assert PACK_A in index.packs and "d" * 64 not in index.packs
    assert index.packs[PACK_B] == listed
    assert index.packs[PACK_A] == []
    assert dict(index.packs) == {
        PACK_B: listed,
        PACK_A: [],
        PACK_C: [Entry(digest(4), 0, 9, 9)],
    }
    assert index.get(digest(5)) == Location(PACK_B, 100, 1, 1)
    assert len(index) == 2
    with pytest.raises(KeyError):
        index.packs["d" * 64]


def test_a_pack_added_again_lists_its_new_entries_and_keeps_first_locations() -> None:
    index = Index()
    index.add_pack(PACK_A, [Entry(digest(1), 0, 10, 10), Entry(digest(2), 10, 10, 10)])
    index.add_pack(PACK_B, [Entry(digest(9), 0, 1, 1)])
    index.add_pack(PACK_A, [Entry(digest(2), 0, 3, 3), Entry(digest(3), 3, 4, 4)])

    assert list(index.packs) == [PACK_A, PACK_B]
    assert index.packs[PACK_A] == [Entry(digest(2), 0, 3, 3), Entry(digest(3), 3, 4, 4)]
    assert index.get(digest(1)) == Location(PACK_A, 0, 10, 10)
    assert index.get(digest(2)) == Location(PACK_A, 10, 10, 10)
    assert index.get(digest(3)) == Location(PACK_A, 3, 4, 4)
    assert len(index) == 4


def test_missing_items_and_len() -> None:
    index = Index()
    assert index.missing({digest(1)}) == {digest(1)}
    assert index.items() == [] and len(index) == 0
    index.add_pack(PACK_A, [Entry(digest(2), 0, 1, 2), Entry(digest(1), 1, 3, 4)])
    index.add_pack(PACK_B, [Entry(digest(1), 0, 5, 6), Entry(digest(3), 5, 7, 8)])

    assert index.missing({digest(1), digest(3), digest(7), digest(8)}) == {digest(7), digest(8)}
    assert index.missing(set()) == set()
    assert index.items() == [
        (digest(2), Location(PACK_A, 0, 1, 2)),
        (digest(1), Location(PACK_A, 1, 3, 4)),
        (digest(3), Location(PACK_B, 5, 7, 8)),
    ]
    assert len(index) == 3


def test_only_whole_digests_match() -> None:
    # A few entries share one bucket; a digest made of one item's tail and the
    # next item's head occurs in the bucket's bytes without being indexed.
    index = Index()
    first, second = bytes(range(32)), bytes(range(100, 132))
    index.add_pack(PACK_A, [Entry(first, 0, 1, 1), Entry(second, 1, 1, 1)])
    straddling = first[4:] + (0).to_bytes(4, "big")  # first's position is 0
    assert straddling not in index
    assert index.get(straddling) is None
    assert index.missing({straddling, first}) == {straddling}
    assert first[:16] not in index and index.get(first[:16]) is None
    assert index.missing({first[:16]}) == {first[:16]}

    # Indexed later, it is found past its straddling occurrence.
    index.add_pack(PACK_B, [Entry(straddling, 0, 2, 2)])
    assert straddling in index
    assert index.get(straddling) == Location(PACK_B, 0, 2, 2)
    assert index.missing({straddling}) == set()


def test_many_entries_all_found_across_growth() -> None:
    rnd = random.Random(5)
    index = Index()
    # Digests listed twice before the buckets grow keep their first location.
    twice = [rnd.randbytes(32) for _ in range(50)]
    packs = {
        PACK_A: [Entry(d, i, 1, 1) for i, d in enumerate(twice)],
        PACK_B: [Entry(d, i + 100, 2, 2) for i, d in enumerate(twice)],
    }
    index.add_pack(PACK_A, packs[PACK_A])
    index.add_pack(PACK_B, packs[PACK_B])
    expected = {d: Location(PACK_A, i, 1, 1) for i, d in enumerate(twice)}
    for _ in range(100):
        pack = rnd.randbytes(32).hex()
        entries = []
        offset = 0
        for _ in range(500):
            length = rnd.randint(1, 40_000)
            entries.append(Entry(rnd.randbytes(32), offset, length, rnd.randint(0, 2**20)))
            offset += length
        index.add_pack(pack, entries)
        packs[pack] = entries
        for e in entries:
            expected[e.sha256] = Location(pack, e.offset, e.length, e.raw_length)
    assert len(index._keys.table[0]) >= 2048  # the buckets doubled many times

    assert len(index) == len(expected) == 50_050
    for sha256, location in expected.items():
        assert sha256 in index
        assert index.get(sha256) == location
    strangers = {rnd.randbytes(32) for _ in range(10_000)}
    assert not any(s in index for s in strangers)
    assert all(index.get(s) is None for s in strangers)
    assert index.missing(set(expected) | strangers) == strangers
    assert dict(index.items()) == expected
    assert dict(index.packs) == packs


def test_proto_entries_and_encode_index_round_trip() -> None:
    entries = [
        repository_pb2.PackEntry(sha256=digest(1), offset=0, length=30, raw_length=40),
        repository_pb2.PackEntry(sha256=digest(2), offset=30, length=2**32 - 1, raw_length=0),
    ]
    index = Index()
    index.add_file(
        repository_pb2.IndexFile(packs=[repository_pb2.IndexedPack(pack=PACK_A, entries=entries)])
    )
    assert index.get(digest(2)) == Location(PACK_A, 30, 2**32 - 1, 0)
    assert index.packs[PACK_A] == [Entry.from_proto(e) for e in entries]

    again = Index()
    again.add_file(repository_pb2.IndexFile.FromString(encode_index(index.packs)))
    assert dict(again.packs) == dict(index.packs)


@pytest.mark.parametrize(
    "entry",
    [
        Entry(digest(1), 2**32, 1, 1),
        Entry(digest(1), 0, 2**32, 1),
        Entry(digest(1), 0, 1, 2**40),
        Entry(digest(1), -1, 1, 1),
        Entry(b"short", 0, 1, 1),
    ],
)
def test_an_entry_that_does_not_fit_is_refused_whole(entry: Entry) -> None:
    index = Index()
    index.add_pack(PACK_A, [Entry(digest(2), 0, 1, 1)])
    with pytest.raises(ValueError):
        index.add_pack(PACK_B, [Entry(digest(3), 0, 1, 1), entry])
    assert list(index.packs) == [PACK_A]
    assert digest(3) not in index and len(index) == 1


def test_a_digest_set_holds_what_was_added_and_forgets_what_was_discarded() -> None:
    rng = random.Random(7)
    members = [rng.randbytes(32) for _ in range(20_000)]
    claimed = DigestSet()
    for d in members:
        claimed.add(d)
    claimed.add(members[0])  # again: still one
    assert len(claimed) == 20_000
    assert all(d in claimed for d in members)
    assert not any(rng.randbytes(32) in claimed for _ in range(5_000))
    # Bytes straddling two stored digests are no member, nor a shorter prefix.
    assert members[0][:16] not in claimed
    for d in members[::2]:
        claimed.discard(d)
    claimed.discard(rng.randbytes(32))  # absent: nothing happens
    assert len(claimed) == 10_000
    assert sorted(claimed) == sorted(members[1::2])
    assert [d in claimed for d in members[:6]] == [False, True] * 3
    with pytest.raises(ValueError):
        claimed.add(b"short")


def test_locations_are_told_apart_by_whole_digests_membership_by_their_first_16_bytes() -> None:
    # Memory holds 16 bytes of each digest and the file the rest: where a blob
    # lies is checked against the whole digest, whether one is held is not (two
    # SHA-256 digests agreeing on 128 bits do not happen; these are made up).
    head = bytes(range(16))
    a, b, c = (head + bytes([n]) * 16 for n in (1, 2, 3))
    index = Index()
    index.add_pack(PACK_A, [Entry(a, 0, 1, 1)])
    index.add_pack(PACK_B, [Entry(b, 5, 2, 2), Entry(a, 7, 3, 3)])

    assert index.get(a) == Location(PACK_A, 0, 1, 1)
    assert index.get(b) == Location(PACK_B, 5, 2, 2)
    assert index.get(c) is None
    assert index.items() == [(a, Location(PACK_A, 0, 1, 1)), (b, Location(PACK_B, 5, 2, 2))]
    assert index.packs[PACK_B] == [Entry(b, 5, 2, 2), Entry(a, 7, 3, 3)]
    assert a in index and c in index  # the first 16 bytes decide
    assert bytes(16) + a[16:] not in index


def test_lookups_in_any_order_agree_with_what_was_added_while_more_is_added() -> None:
    # Lookups in the order entries were added read records ahead; the window
    # read must never hide an entry added after it, nor outlast a pack.
    rnd = random.Random(11)
    index = Index()
    added: dict[bytes, Location] = {}
    order: list[bytes] = []
    for _ in range(30):
        pack = rnd.randbytes(32).hex()
        entries = [Entry(rnd.randbytes(32), i * 10, 10, 10) for i in range(rnd.randint(1, 150))]
        index.add_pack(pack, entries)
        for e in entries:
            added[e.sha256] = Location(pack, e.offset, e.length, e.raw_length)
            order.append(e.sha256)
        # In order (read ahead), across the end written so far, then shuffled.
        assert [index.get(d) for d in order] == [added[d] for d in order]
        shuffled = order[:]
        rnd.shuffle(shuffled)
        assert all(index.get(d) == added[d] for d in shuffled[:200])
    assert len(index) == len(order)


def test_lookups_from_other_threads_find_every_entry_added_before_them() -> None:
    import threading

    rnd = random.Random(3)
    index = Index()
    published: list[bytes] = []
    errors: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            for d in published[-500:]:
                if d not in index:
                    errors.append(d)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(60):
            entries = [Entry(rnd.randbytes(32), i, 1, 1) for i in range(300)]
            index.add_pack(rnd.randbytes(32).hex(), entries)
            published.extend(e.sha256 for e in entries)  # after add_pack returned
    finally:
        done.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(index) == 18_000


def test_the_index_keeps_its_entries_in_a_nameless_file_in_its_directory(tmp_path: Path) -> None:
    import os

    def open_in_directory() -> int:
        if not os.path.isdir("/proc/self/fd"):
            pytest.skip("no /proc to see open files by")
        inside = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                inside += os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path) + os.sep)
            except OSError:
                pass  # the listing's own descriptor, closed already
        return inside

    before = open_in_directory()
    index = Index(str(tmp_path))
    index.add_pack(PACK_A, [Entry(digest(1), 0, 1, 1)])
    assert open_in_directory() == before + 1
    assert os.listdir(tmp_path) == []  # nothing left behind, whatever happens
    assert index.get(digest(1)) == Location(PACK_A, 0, 1, 1)


def test_positions_follow_packs_and_offsets_so_sorting_by_them_reads_packs_in_order() -> None:
    index = Index()
    index.add_pack(PACK_B, [Entry(digest(5), 0, 9, 9), Entry(digest(6), 9, 30, 100, 0)])
    index.add_pack(
        PACK_A,
        [Entry(digest(7), 9, 30, 100, 60), Entry(digest(8), 9, 30, 40, 0)][::-1]
        + [Entry(digest(9), 39, 4, 4)],
    )
    wanted = [digest(n) for n in (9, 7, 5, 8, 6)]
    assert sorted(wanted, key=index.position) == [digest(n) for n in (5, 6, 8, 7, 9)]
    assert index.position(digest(99)) == -1 and index.position(b"short") == -1
    # A digest listed again keeps its first place.
    index.add_pack(PACK_C, [Entry(digest(5), 0, 9, 9)])
    assert index.position(digest(5)) == 0

"""The index: which pack holds which blob.

Each committed write session adds one ``index/{sha256}`` object describing the
packs it wrote. Every process keeps the union in memory and reads only the index
objects it has not seen yet when it refreshes.

A repository holds a blob per 16 KiB of content, so the index is the one
structure of a server that grows with everything ever backed up. A dict keyed by
digest costs some 210 bytes per blob (the digest's own bytes object, the dict
slot, an int); this layout costs about 51, with no object per blob:

- Every entry's digest and position (its number in the order entries were
  added), 36 bytes, in buckets chosen by the digest's ``hash()`` (cached by
  the bytes object, and already computed for a set of digests). A lookup is
  one ``bytes.find`` of the digest in its bucket, in C; a hit must start on an
  item boundary. A bucket keeps the order its items were added in, so a
  digest's first hit is its first location.
- Each added pack's entries without their digests, 12 bytes each (offset,
  length and raw length as 32-bit ints: packs are a few MiB), one ``bytes``
  per pack in the order listed: entry k of a pack is at its first position + k.

The buckets double as entries come, holding 8 to 16 items: a lookup's cost is
mostly reaching its bucket, not scanning it, while each bucket costs some 50
bytes of its own. They are immutable ``bytes``, replaced on insert: less
overhead than a ``bytearray`` and no over-allocation, for a copy of a few
hundred bytes.

``packs`` gathers digests back from the buckets, in one walk of them all the
first time a ``packs`` view is read; that view caches them (32 bytes an entry,
transient: the price of not keeping every digest twice).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from stowage.v1 import repository_pb2

from .pack import Entry

_ENTRY = struct.Struct(">32sQQQ")  # PackEntries: as wide as the index objects' fields
_RECORD = struct.Struct(">III")  # the Index: offset, length, raw length
_ITEM = struct.Struct(">32sI")  # a lookup item: digest, position
_POSITION = struct.Struct(">I")
_DIGEST = struct.Struct("32s")
_FIELD_MAX = (1 << 32) - 1
_ITEM_SIZE = _ITEM.size
_DIGEST_SIZE = _DIGEST.size
_RECORD_SIZE = _RECORD.size
_MAX_LOAD = 16  # items per bucket, on average, before the buckets double


class Location(NamedTuple):
    pack: str
    offset: int
    length: int
    raw_length: int


_new_location = Location._make


class PackEntries(Mapping[str, list[Entry]]):
    """Every indexed pack with all its entries, as the index objects list them
    (duplicates included): a mapping that decodes a pack's entries on access."""

    def __init__(self) -> None:
        self._packed: dict[str, bytes] = {}

    def __getitem__(self, pack: str) -> list[Entry]:
        return [Entry(*fields) for fields in _ENTRY.iter_unpack(self._packed[pack])]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __contains__(self, pack: object) -> bool:
        return pack in self._packed

    def put(self, pack: str, entries: Sequence[Entry] | Sequence[repository_pb2.PackEntry]) -> None:
        self._packed[pack] = b"".join(
            _ENTRY.pack(e.sha256, e.offset, e.length, e.raw_length) for e in entries
        )

    @property
    def entry_count(self) -> int:
        return sum(len(packed) for packed in self._packed.values()) // _ENTRY.size


class _IndexedPacks(Mapping[str, list[Entry]]):
    """The index's packs, each with all its entries as last added (duplicates
    included), decoded on access."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self._digests = bytearray()  # every entry's digest, by position
        self._digests_of = -1  # the index size they were gathered at

    def __getitem__(self, pack: str) -> list[Entry]:
        index = self._index
        slot = index._latest[pack]
        if self._digests_of != index._size:
            self._digests = index._digests_by_position()
            self._digests_of = index._size
        records = index._slot_records[slot]
        start = index._slot_start[slot] * _DIGEST_SIZE
        digests = bytes(self._digests[start : start + len(records) // _RECORD_SIZE * _DIGEST_SIZE])
        return [
            Entry(sha256, *record)
            for (sha256,), record in zip(
                _DIGEST.iter_unpack(digests), _RECORD.iter_unpack(records), strict=True
            )
        ]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index._latest)

    def __len__(self) -> int:
        return len(self._index._latest)

    def __contains__(self, pack: object) -> bool:
        return pack in self._index._latest


def _find(bucket: bytes, sha256: bytes, item_size: int) -> int:
    """Where the digest's first item starts in the bucket, or -1."""
    i = bucket.find(sha256)
    while i > 0 and i % item_size:  # bytes straddling two items
        i = bucket.find(sha256, i + 1)
    return i


class _HashBuckets:
    """Fixed-size items, each starting with a 32-byte digest, in buckets of
    immutable bytes chosen by the digest's hash, each in the order added."""

    def __init__(self, item_size: int) -> None:
        self.item_size = item_size
        self.size = 0
        # (buckets, mask) in one attribute, so that a reader never pairs the
        # buckets of one size with the mask of another.
        self.table: tuple[list[bytes], int] = ([b""], 0)

    def find(self, sha256: bytes) -> tuple[bytes, int]:
        """The digest's bucket and where its first item starts there, or -1."""
        buckets, mask = self.table
        bucket = buckets[hash(sha256) & mask]
        if len(sha256) != _DIGEST_SIZE:
            return bucket, -1  # a shorter one could match inside an item
        return bucket, _find(bucket, sha256, self.item_size)

    def append(self, sha256: bytes, item: bytes) -> bool:
        """Adds an item for the digest; True if the digest was new."""
        buckets, mask = self.table
        b = hash(sha256) & mask
        bucket = buckets[b]
        new = _find(bucket, sha256, self.item_size) < 0
        buckets[b] = bucket + item
        self.size += 1
        if self.size > _MAX_LOAD * len(buckets):
            self._grow()
        return new

    def remove(self, sha256: bytes) -> None:
        """Drops the digest's first item, if any."""
        buckets, mask = self.table
        b = hash(sha256) & mask
        bucket = buckets[b]
        i = _find(bucket, sha256, self.item_size) if len(sha256) == _DIGEST_SIZE else -1
        if i >= 0:
            buckets[b] = bucket[:i] + bucket[i + self.item_size :]
            self.size -= 1

    def _grow(self) -> None:
        """Doubles the buckets: bucket i splits into i and i + its old count,
        on the next bit of the hash, each keeping its order."""
        buckets, mask = self.table
        bit = len(buckets)
        step = self.item_size
        grown = buckets + buckets
        for b, bucket in enumerate(buckets):
            low: list[bytes] = []
            high: list[bytes] = []
            for i in range(0, len(bucket), step):
                digest = bucket[i : i + _DIGEST_SIZE]
                (high if hash(digest) & bit else low).append(bucket[i : i + step])
            grown[b] = b"".join(low)
            grown[b + bit] = b"".join(high)
        self.table = (grown, mask | bit)


class DigestSet:
    """A set of 32-byte digests at about 34 bytes each (a set of bytes takes
    about 100): what a write session has claimed, across a whole backup."""

    def __init__(self) -> None:
        self._buckets = _HashBuckets(_DIGEST_SIZE)

    def __contains__(self, sha256: bytes) -> bool:
        return self._buckets.find(sha256)[1] >= 0

    def __len__(self) -> int:
        return self._buckets.size

    def add(self, sha256: bytes) -> None:
        if len(sha256) != _DIGEST_SIZE:
            raise ValueError(f"a digest of {len(sha256)} bytes")
        if sha256 not in self:
            self._buckets.append(sha256, bytes(sha256))

    def discard(self, sha256: bytes) -> None:
        self._buckets.remove(sha256)

    def __iter__(self) -> Iterator[bytes]:
        for bucket in self._buckets.table[0]:
            for i in range(0, len(bucket), _DIGEST_SIZE):
                yield bucket[i : i + _DIGEST_SIZE]


class Index:
    def __init__(self) -> None:
        # One slot per add_pack call: a pack added again gets a new slot (its
        # entries as listed now), while its old slot keeps serving the digests
        # it located first.
        self._slot_pack: list[str] = []
        self._slot_records: list[bytes] = []
        self._slot_start: list[int] = []  # position of each slot's first entry
        self._latest: dict[str, int] = {}  # pack -> its last slot
        self._count = 0  # distinct digests
        # Every entry (duplicates included) by digest, with its position.
        self._buckets = _HashBuckets(_ITEM_SIZE)
        self.loaded: set[str] = set()

    @property
    def packs(self) -> Mapping[str, list[Entry]]:
        """Every pack with all its entries as the index objects list them
        (duplicates included). A new view each time: its cache goes with it."""
        return _IndexedPacks(self)

    @property
    def _size(self) -> int:
        """Entries, duplicates included: the next position."""
        return self._buckets.size

    def __contains__(self, sha256: bytes) -> bool:
        return self._buckets.find(sha256)[1] >= 0

    def __len__(self) -> int:
        return self._count

    def missing(self, digests: set[bytes]) -> set[bytes]:
        """The digests no pack holds."""
        return {d for d in digests if d not in self}

    def get(self, sha256: bytes) -> Location | None:
        bucket, i = self._buckets.find(sha256)
        return None if i < 0 else self._location(_POSITION.unpack_from(bucket, i + _DIGEST_SIZE)[0])

    def _location(self, pos: int) -> Location:
        slot = bisect_right(self._slot_start, pos) - 1
        at = (pos - self._slot_start[slot]) * _RECORD_SIZE
        record = _RECORD.unpack_from(self._slot_records[slot], at)
        return _new_location((self._slot_pack[slot], *record))

    def add_pack(
        self, pack: str, entries: Sequence[Entry] | Sequence[repository_pb2.PackEntry]
    ) -> None:
        """Records a pack's entries; a digest already indexed keeps its first
        location (duplicates come from racing writers and are equal)."""
        digests = []
        records = []
        for e in entries:
            sha256 = e.sha256
            if len(sha256) != _DIGEST_SIZE:
                raise ValueError(f"pack {pack}: a digest of {len(sha256)} bytes")
            try:
                records.append(_RECORD.pack(e.offset, e.length, e.raw_length))
            except struct.error:
                raise ValueError(
                    f"pack {pack}: entry {bytes(sha256).hex()} has offset {e.offset}, length"
                    f" {e.length}, raw length {e.raw_length}; the index holds 0..{_FIELD_MAX}"
                ) from None
            digests.append(sha256)
        start = self._size
        if start + len(digests) > _FIELD_MAX:
            raise ValueError(f"the index holds at most {_FIELD_MAX} entries")
        # Records before start: a reader finds a slot through its start.
        self._slot_pack.append(pack)
        self._slot_records.append(b"".join(records))
        self._slot_start.append(start)
        self._latest[pack] = len(self._slot_start) - 1
        append = self._buckets.append
        for pos, sha256 in enumerate(digests, start):
            self._count += append(sha256, _ITEM.pack(sha256, pos))

    def _digests_by_position(self) -> bytearray:
        digests = bytearray(self._size * _DIGEST_SIZE)
        for bucket in self._buckets.table[0]:
            for sha256, pos in _ITEM.iter_unpack(bucket):
                digests[pos * _DIGEST_SIZE : (pos + 1) * _DIGEST_SIZE] = sha256
        return digests

    def add_file(self, index_file: repository_pb2.IndexFile) -> None:
        for p in index_file.packs:
            self.add_pack(p.pack, p.entries)

    def items(self) -> list[tuple[bytes, Location]]:
        """Every distinct digest with its first location, in the order added."""
        first: list[tuple[int, bytes]] = []
        for bucket in self._buckets.table[0]:
            seen: set[bytes] = set()
            for sha256, pos in _ITEM.iter_unpack(bucket):
                if sha256 not in seen:
                    seen.add(sha256)
                    first.append((pos, sha256))
        first.sort()
        return [(sha256, self._location(pos)) for pos, sha256 in first]


def encode_index(packs: Mapping[str, list[Entry]]) -> bytes:
    return repository_pb2.IndexFile(
        packs=[
            repository_pb2.IndexedPack(pack=pid, entries=[e.to_proto() for e in entries])
            for pid, entries in sorted(packs.items())
        ]
    ).SerializeToString()

"""The index: which pack holds which blob.

Each committed write session adds one ``index/{sha256}`` object describing the
packs it wrote. Every process keeps the union and reads only the index objects
it has not seen yet when it refreshes.

A repository holds a blob per 16 KiB of content, so the index is the one
structure of a server that grows with everything ever backed up. A dict keyed by
digest costs some 210 bytes per blob; held whole in packed bytes, about 51.
Here memory holds about 24 and the rest lies in a scratch file (page cache,
which the system takes back when it needs it):

- The file: every entry, by position (its number in the order entries were
  added), 48 bytes: digest, offset, length, raw length and offset in its
  bundle (32-bit ints: packs are a few MiB). Written before the entry is
  published in memory, so a reader in another thread never meets a position
  whose record is not there yet.
- In memory: each entry's first 16 digest bytes and its position, 20 bytes,
  in buckets chosen by bits of those bytes (a digest is uniform). A lookup is
  one ``bytes.find`` of the 16 bytes in its bucket, in C; a hit must start on
  an item boundary. Whether a pack holds a digest (what a backup asks of every
  blob it meets) is answered from memory: two SHA-256 digests that agree on
  128 bits are as unlikely as any collision of a 128-bit hash (about n^2 /
  2^129 for n blobs: 10^-27 for a million), and making another's artifact
  look stored would take a second preimage of 2^128 work. Where a blob lies
  is read from its record, and checked against the whole digest. A bucket
  keeps the order its items were added in, so a digest's first hit is its
  first location. A miss reads nothing.
- Per pack added: its name and first position (entry k of a pack is at its
  first position + k).

The buckets double as entries come, holding 8 to 16 items: a lookup's cost is
mostly reaching its bucket, not scanning it, while each bucket costs some 50
bytes of its own. They are immutable ``bytes``, replaced on insert: less
overhead than a ``bytearray`` and no over-allocation, for a copy of a few
hundred bytes.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from stowage.v1 import repository_pb2

from .pack import Entry
from .scratch import ScratchFile

_ENTRY = struct.Struct(">32sQQQQ")  # PackEntries: as wide as the index objects' fields
# The Index's file: digest, offset, length, raw length, offset in a bundle.
_RECORD = struct.Struct(">32sIIII")
_KEY = struct.Struct(">16sI")  # a lookup item: the digest's first 16 bytes, position
_POSITION = struct.Struct(">I")
_FIELD_MAX = (1 << 32) - 1
_DIGEST_SIZE = 32
_PREFIX_SIZE = 16
_KEY_SIZE = _KEY.size
_RECORD_SIZE = _RECORD.size
_MAX_LOAD = 16  # items per bucket, on average, before the buckets double
_WINDOW = 64  # records read at once (3 KiB)


class Location(NamedTuple):
    pack: str
    offset: int
    length: int
    raw_length: int
    bundle_offset: int = 0


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
            _ENTRY.pack(e.sha256, e.offset, e.length, e.raw_length, e.bundle_offset)
            for e in entries
        )

    @property
    def entry_count(self) -> int:
        return sum(len(packed) for packed in self._packed.values()) // _ENTRY.size


class _IndexedPacks(Mapping[str, list[Entry]]):
    """The index's packs, each with all its entries as last added (duplicates
    included), read from the index's file on access."""

    def __init__(self, index: Index) -> None:
        self._index = index

    def __getitem__(self, pack: str) -> list[Entry]:
        index = self._index
        _, start, count = index._slots[index._latest[pack]]
        data = index._file.read(start * _RECORD_SIZE, count * _RECORD_SIZE)
        return [Entry(*record) for record in _RECORD.iter_unpack(data)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index._latest)

    def __len__(self) -> int:
        return len(self._index._latest)

    def __contains__(self, pack: object) -> bool:
        return pack in self._index._latest


def _find(bucket: bytes, key: bytes, item_size: int, start: int = 0) -> int:
    """Where the first item from ``start`` that begins with ``key`` starts in
    the bucket, or -1."""
    i = bucket.find(key, start)
    while i > 0 and i % item_size:  # bytes straddling two items
        i = bucket.find(key, i + 1)
    return i


class _Buckets:
    """Fixed-size items, each starting with a key of ``key_size`` bytes (a
    digest or its prefix, 16 bytes at least), in buckets of immutable bytes
    chosen by the key's bytes 8-15 (a digest is uniform), each in the order
    added."""

    def __init__(self, key_size: int, item_size: int) -> None:
        self.key_size = key_size
        self.item_size = item_size
        self._choosing = struct.Struct(f">8xQ{item_size - 16}x")  # an item's bytes 8-15
        self.size = 0
        # (buckets, mask) in one attribute, so that a reader never pairs the
        # buckets of one size with the mask of another.
        self.table: tuple[list[bytes], int] = ([b""], 0)

    def find(self, key: bytes) -> tuple[bytes, int]:
        """The key's bucket and where its first item starts there, or -1."""
        buckets, mask = self.table
        if len(key) != self.key_size:
            return b"", -1  # a shorter one could match inside an item
        bucket = buckets[int.from_bytes(key[8:16], "big") & mask]
        return bucket, _find(bucket, key, self.item_size)

    def append(self, key: bytes, item: bytes) -> bool:
        """Adds an item for the key; True if the key was new."""
        buckets, mask = self.table
        b = int.from_bytes(key[8:16], "big") & mask
        bucket = buckets[b]
        new = _find(bucket, key, self.item_size) < 0
        buckets[b] = bucket + item
        self.size += 1
        if self.size > _MAX_LOAD * len(buckets):
            self._grow()
        return new

    def remove(self, key: bytes) -> None:
        """Drops the key's first item, if any."""
        buckets, mask = self.table
        bucket, i = self.find(key)
        if i >= 0:
            b = int.from_bytes(key[8:16], "big") & mask
            buckets[b] = bucket[:i] + bucket[i + self.item_size :]
            self.size -= 1

    def _grow(self) -> None:
        """Doubles the buckets: bucket i splits into i and i + its old count,
        on the next bit of the keys, each keeping its order."""
        buckets, mask = self.table
        bit = len(buckets)
        step = self.item_size
        grown = buckets + buckets
        for b, bucket in enumerate(buckets):
            low: list[bytes] = []
            high: list[bytes] = []
            for i, (choosing,) in enumerate(self._choosing.iter_unpack(bucket)):
                at = i * step
                (high if choosing & bit else low).append(bucket[at : at + step])
            grown[b] = b"".join(low)
            grown[b + bit] = b"".join(high)
        self.table = (grown, mask | bit)


class DigestSet:
    """A set of 32-byte digests at about 34 bytes each (a set of bytes takes
    about 100): what a write session has claimed, across a whole backup."""

    def __init__(self) -> None:
        self._buckets = _Buckets(_DIGEST_SIZE, _DIGEST_SIZE)

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
    def __init__(self, directory: str | None = None) -> None:
        # Every entry's record, by position (see the module's comment).
        self._file = ScratchFile(directory)
        # One slot per add_pack call, (pack, first position, entries): a pack
        # added again gets a new slot (its entries as listed now), while its
        # old slot keeps serving the digests it located first.
        self._slots: list[tuple[str, int, int]] = []
        self._slot_start: list[int] = []  # each slot's first position, to bisect
        self._latest: dict[str, int] = {}  # pack -> its last slot
        self._count = 0  # distinct digests
        self._size = 0  # entries written, duplicates included: the next position
        self._window: tuple[int, bytes] = (0, b"")  # records read ahead: first position, bytes
        # Every entry (duplicates included) by its digest's first 16 bytes, with its position.
        self._keys = _Buckets(_PREFIX_SIZE, _KEY_SIZE)
        self.loaded: set[str] = set()

    @property
    def packs(self) -> Mapping[str, list[Entry]]:
        """Every pack with all its entries as the index objects list them
        (duplicates included)."""
        return _IndexedPacks(self)

    def __contains__(self, sha256: bytes) -> bool:
        """Whether a pack holds the digest, answered from memory: the first
        16 bytes decide (see the module's comment)."""
        if len(sha256) != _DIGEST_SIZE:
            return False  # a shorter one could match inside an item
        return self._keys.find(sha256[:_PREFIX_SIZE])[1] >= 0

    def __len__(self) -> int:
        return self._count

    def position(self, sha256: bytes) -> int:
        """Where the digest stands in the order entries were added (packs in
        the order indexed, a pack's blobs in offset order; -1 if absent), from
        memory: blobs read in this order are read pack by pack, front to back,
        a bundle's members together."""
        if len(sha256) != _DIGEST_SIZE:
            return -1
        return next(self._candidates(sha256[:_PREFIX_SIZE]), -1)

    def missing(self, digests: set[bytes]) -> set[bytes]:
        """The digests no pack holds."""
        return {d for d in digests if d not in self}

    def get(self, sha256: bytes) -> Location | None:
        found = self._first(sha256)
        if found is None:
            return None
        pos, record = found
        _, *fields = _RECORD.unpack(record)
        slot = bisect_right(self._slot_start, pos) - 1
        return _new_location((self._slots[slot][0], *fields))

    def _candidates(self, prefix: bytes) -> Iterator[int]:
        """Positions of the items with these first 16 bytes, in the order added."""
        bucket, i = self._keys.find(prefix)
        while i >= 0:
            yield _POSITION.unpack_from(bucket, i + _PREFIX_SIZE)[0]
            i = _find(bucket, prefix, _KEY_SIZE, i + 1)

    def _record(self, pos: int) -> bytes:
        """The record at a position, from the last window read if it holds it.

        Lookups tend to come in the order blobs were written (a backup claims
        content in the order the last one stored it, a restore reads a
        manifest that backup wrote), so where a lookup follows the last record
        read, the read takes the next records too: most lookups then make no
        system call. The window is replaced whole, so a reader in another
        thread sees one window or the other, and it holds only records
        written before it was read."""
        start, window = self._window
        at = (pos - start) * _RECORD_SIZE
        if 0 <= at < len(window):
            return window[at : at + _RECORD_SIZE]
        # Read ahead only where lookups went on past the last read.
        ahead = pos == start + len(window) // _RECORD_SIZE
        count = min(_WINDOW, self._size - pos) if ahead else 1
        window = self._file.read(pos * _RECORD_SIZE, count * _RECORD_SIZE)
        self._window = (pos, window)
        return window[:_RECORD_SIZE]

    def _first(self, sha256: bytes) -> tuple[int, bytes] | None:
        """The digest's first position and its record, or None."""
        if len(sha256) != _DIGEST_SIZE:
            return None  # a shorter one could match inside an item
        for pos in self._candidates(sha256[:_PREFIX_SIZE]):
            record = self._record(pos)
            if record[:_DIGEST_SIZE] == sha256:
                return pos, record
        return None

    def add_pack(
        self, pack: str, entries: Sequence[Entry] | Sequence[repository_pb2.PackEntry]
    ) -> None:
        """Records a pack's entries; a digest already indexed keeps its first
        location (duplicates come from racing writers and are equal)."""
        records = bytearray(len(entries) * _RECORD_SIZE)
        for k, e in enumerate(entries):
            sha256 = e.sha256
            if len(sha256) != _DIGEST_SIZE:
                raise ValueError(f"pack {pack}: a digest of {len(sha256)} bytes")
            try:
                _RECORD.pack_into(
                    records,
                    k * _RECORD_SIZE,
                    sha256,
                    e.offset,
                    e.length,
                    e.raw_length,
                    e.bundle_offset,
                )
            except struct.error:
                raise ValueError(
                    f"pack {pack}: entry {bytes(sha256).hex()} has offset {e.offset}, length"
                    f" {e.length}, raw length {e.raw_length}, offset in its bundle"
                    f" {e.bundle_offset}; the index holds 0..{_FIELD_MAX}"
                ) from None
        start, count = self._size, len(entries)
        if start + count > _FIELD_MAX:
            raise ValueError(f"the index holds at most {_FIELD_MAX} entries")
        # Write order: the records, then the slot, then the keys that make them
        # visible, so a reader in another thread finds all it looks up.
        self._file.append(records)
        self._size = start + count
        self._slots.append((pack, start, count))
        self._slot_start.append(start)
        self._latest[pack] = len(self._slots) - 1
        append = self._keys.append
        for pos, (sha256, *_) in enumerate(_RECORD.iter_unpack(records), start):
            self._count += append(sha256[:_PREFIX_SIZE], _KEY.pack(sha256, pos))

    def add_file(self, index_file: repository_pb2.IndexFile) -> None:
        for p in index_file.packs:
            self.add_pack(p.pack, p.entries)

    def items(self) -> list[tuple[bytes, Location]]:
        """Every distinct digest with its first location, in the order added."""
        out = []
        for pack, start, count in list(self._slots):
            data = self._file.read(start * _RECORD_SIZE, count * _RECORD_SIZE)
            for pos, (sha256, *fields) in enumerate(_RECORD.iter_unpack(data), start):
                first = next(self._candidates(sha256[:_PREFIX_SIZE]))
                # An earlier item with the same first 16 bytes may or may not be this digest.
                if first == pos or (first < pos and self._first(sha256)[0] == pos):  # type: ignore[index]
                    out.append((sha256, _new_location((pack, *fields))))
        return out


def encode_index(packs: Mapping[str, list[Entry]]) -> bytes:
    """An index object listing the packs, by name. Encoded a pack at a time
    (a message of one pack each, joined: repeated fields concatenate), so only
    one pack's entries are ever decoded at once."""
    return b"".join(
        repository_pb2.IndexFile(
            packs=[repository_pb2.IndexedPack(pack=pid, entries=[e.to_proto() for e in packs[pid]])]
        ).SerializeToString()
        for pid in sorted(packs)
    )

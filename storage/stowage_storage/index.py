"""The index: which pack holds which blob.

Each committed write session adds one ``index/{sha256}`` object describing the
packs it wrote. Every process keeps the union in memory and reads only the index
objects it has not seen yet when it refreshes.

A repository holds a blob per 16 KiB of content, so the index is the one
structure of a server that grows with everything ever backed up; it is kept
compact: one int per blob (its pack's number and its place in it) and each
pack's entries as one bytes object, decoded only when asked for.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from stowage.v1 import repository_pb2

from .pack import Entry

_ENTRY = struct.Struct(">32sQQQ")
_FIELD = 64  # bits per packed field: any uint64 an index object holds fits
_MASK = (1 << _FIELD) - 1
_PACK_SHIFT = 3 * _FIELD
_OFFSET_SHIFT = 2 * _FIELD


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


class Index:
    def __init__(self) -> None:
        self._blobs: dict[bytes, int] = {}
        self._pack_ids: list[str] = []
        self._pack_numbers: dict[str, int] = {}
        self.packs = PackEntries()
        self.loaded: set[str] = set()

    def __contains__(self, sha256: bytes) -> bool:
        return sha256 in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def missing(self, digests: set[bytes]) -> set[bytes]:
        """The digests no pack holds (a set operation, not a loop)."""
        return digests - self._blobs.keys()

    def get(self, sha256: bytes) -> Location | None:
        packed = self._blobs.get(sha256)
        return None if packed is None else self._location(packed)

    def _location(self, packed: int) -> Location:
        return _new_location(
            (
                self._pack_ids[packed >> _PACK_SHIFT],
                (packed >> _OFFSET_SHIFT) & _MASK,
                (packed >> _FIELD) & _MASK,
                packed & _MASK,
            )
        )

    def add_pack(
        self, pack: str, entries: Sequence[Entry] | Sequence[repository_pb2.PackEntry]
    ) -> None:
        self.packs.put(pack, entries)
        number = self._pack_numbers.get(pack)
        if number is None:
            number = self._pack_numbers[pack] = len(self._pack_ids)
            self._pack_ids.append(pack)
        base = number << _PACK_SHIFT
        for e in entries:
            # The first location wins: duplicates from racing writers are equal.
            self._blobs.setdefault(
                e.sha256,
                base | (e.offset << _OFFSET_SHIFT) | (e.length << _FIELD) | e.raw_length,
            )

    def add_file(self, index_file: repository_pb2.IndexFile) -> None:
        for p in index_file.packs:
            self.add_pack(p.pack, p.entries)

    def items(self) -> list[tuple[bytes, Location]]:
        return [(digest, self._location(packed)) for digest, packed in self._blobs.items()]


def encode_index(packs: Mapping[str, list[Entry]]) -> bytes:
    return repository_pb2.IndexFile(
        packs=[
            repository_pb2.IndexedPack(pack=pid, entries=[e.to_proto() for e in entries])
            for pid, entries in sorted(packs.items())
        ]
    ).SerializeToString()

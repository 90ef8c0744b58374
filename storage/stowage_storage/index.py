"""The index: which pack holds which blob.

Each committed write session adds one ``index/{sha256}`` object describing the
packs it wrote. Every process keeps the union in memory and reads only the index
objects it has not seen yet when it refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass

from stowage.v1 import repository_pb2

from .pack import Entry


@dataclass(frozen=True)
class Location:
    pack: str
    offset: int
    length: int
    raw_length: int


class Index:
    def __init__(self) -> None:
        self._blobs: dict[bytes, Location] = {}
        # Every indexed pack with all its entries, as the index objects list them.
        self.packs: dict[str, list[Entry]] = {}
        self.loaded: set[str] = set()

    def __contains__(self, sha256: bytes) -> bool:
        return sha256 in self._blobs

    def __len__(self) -> int:
        return len(self._blobs)

    def missing(self, digests: set[bytes]) -> set[bytes]:
        """The digests no pack holds (a set operation, not a loop)."""
        return digests - self._blobs.keys()

    def get(self, sha256: bytes) -> Location | None:
        return self._blobs.get(sha256)

    def add_pack(self, pack: str, entries: list[Entry]) -> None:
        self.packs[pack] = entries
        for e in entries:
            # The first location wins: duplicates from racing writers are equal.
            self._blobs.setdefault(e.sha256, Location(pack, e.offset, e.length, e.raw_length))

    def add_file(self, index_file: repository_pb2.IndexFile) -> None:
        for p in index_file.packs:
            self.add_pack(p.pack, [Entry.from_proto(e) for e in p.entries])

    def items(self) -> list[tuple[bytes, Location]]:
        return list(self._blobs.items())


def encode_index(packs: dict[str, list[Entry]]) -> bytes:
    return repository_pb2.IndexFile(
        packs=[
            repository_pb2.IndexedPack(pack=pid, entries=[e.to_proto() for e in entries])
            for pid, entries in sorted(packs.items())
        ]
    ).SerializeToString()

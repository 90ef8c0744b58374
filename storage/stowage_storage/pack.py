"""Packs: many stored blobs in one object, so that thousands of small artifacts
cost a few writes.

Layout: the stored blobs back to back, then the encoded ``PackTrailer`` listing
them, then the trailer's length as 4 big-endian bytes. A pack is named by the
SHA-256 of its bytes, ``packs/{first two hex digits}/{hex}``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from stowage.v1 import repository_pb2

from .codec import Codec

TARGET_PACK_BYTES = 8 * 1024 * 1024
# And at most this many blobs: a pack of small artifacts would otherwise hold
# some 20,000, each an object in memory until the pack is written and indexed,
# and the packs in flight together more than a small environment has.
TARGET_PACK_ENTRIES = 4096
_LEN = struct.Struct(">I")
_TRAILER_AAD = b"pack-trailer"


@dataclass(frozen=True)
class Entry:
    sha256: bytes
    offset: int
    length: int
    raw_length: int

    def to_proto(self) -> repository_pb2.PackEntry:
        return repository_pb2.PackEntry(
            sha256=self.sha256, offset=self.offset, length=self.length, raw_length=self.raw_length
        )

    @classmethod
    def from_proto(cls, p: repository_pb2.PackEntry) -> Entry:
        return cls(bytes(p.sha256), p.offset, p.length, p.raw_length)


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


class PackBuilder:
    """Collects stored blobs until the pack is big enough to write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.entries: list[Entry] = []
        self.size = 0

    def add(self, sha256: bytes, stored: bytes, raw_length: int) -> None:
        self.entries.append(Entry(sha256, self.size, len(stored), raw_length))
        self._parts.append(stored)
        self.size += len(stored)

    def __len__(self) -> int:
        return len(self.entries)

    def finish(self, codec: Codec) -> tuple[str, bytes]:
        """The pack's id and bytes. Blocking (encodes the trailer and hashes)."""
        trailer = repository_pb2.PackTrailer(entries=[e.to_proto() for e in self.entries])
        encoded = codec.encode(trailer.SerializeToString(), _TRAILER_AAD)
        data = b"".join([*self._parts, encoded, _LEN.pack(len(encoded))])
        self._parts = []
        return hashlib.sha256(data).hexdigest(), data


def parse_trailer(codec: Codec, tail: bytes, pack_size: int) -> list[Entry]:
    """Entries of a pack from its last bytes (at least the trailer and its length)."""
    if len(tail) < _LEN.size:
        raise ValueError("pack too short")
    (length,) = _LEN.unpack(tail[-_LEN.size :])
    if length + _LEN.size > len(tail) or length + _LEN.size > pack_size:
        raise ValueError("pack trailer length out of range")
    encoded = tail[-_LEN.size - length : -_LEN.size]
    try:
        trailer = repository_pb2.PackTrailer.FromString(codec.decode(encoded, _TRAILER_AAD))
    except DecodeError as e:
        raise ValueError(f"pack trailer unreadable: {e}") from e
    return [Entry.from_proto(e) for e in trailer.entries]


def trailer_length(tail: bytes) -> int:
    """The length of the trailer and its length field, from a pack's last bytes;
    ValueError when they cannot hold one (a truncated or foreign object)."""
    if len(tail) < _LEN.size:
        raise ValueError("pack too short")
    return int(_LEN.unpack(tail[-_LEN.size :])[0]) + _LEN.size

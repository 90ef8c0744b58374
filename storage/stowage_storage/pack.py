"""Packs: many stored blobs in one object, so that thousands of small artifacts
cost a few writes.

Layout: the stored blobs back to back, then the encoded ``PackTrailer`` listing
them, then the trailer's length as 4 big-endian bytes. A stored object may be a
bundle of several small blobs (see Codec.encode_bundle): each member has an
entry, all with the bundle's offset and length, and where the member starts in
the bundle's plaintext. A pack is named by the
SHA-256 of its bytes, ``packs/{first two hex digits}/{hex}``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from stowage.v1 import repository_pb2

from .codec import Codec, CodecError

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
    bundle_offset: int = 0

    def to_proto(self) -> repository_pb2.PackEntry:
        return repository_pb2.PackEntry(
            sha256=self.sha256,
            offset=self.offset,
            length=self.length,
            raw_length=self.raw_length,
            bundle_offset=self.bundle_offset,
        )

    @classmethod
    def from_proto(cls, p: repository_pb2.PackEntry) -> Entry:
        return cls(bytes(p.sha256), p.offset, p.length, p.raw_length, p.bundle_offset)


def stored_bytes(entries: list[Entry]) -> int:
    """What a pack's entries take in it: a bundle counts once, not per member."""
    return sum(e.length for e in {(e.offset, e.length): e for e in entries}.values())


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

    def add_bundle(self, members: list[tuple[bytes, int]], stored: bytes) -> None:
        """A bundle (Codec.encode_bundle) of these (digest, raw length) members, in order."""
        at = 0
        for sha256, raw_length in members:
            self.entries.append(Entry(sha256, self.size, len(stored), raw_length, at))
            at += raw_length
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


class BlobMismatch(Exception):
    """A blob decoded, but not to what its entry says (length or digest)."""


class BlobDecoder:
    """Decodes blobs from a pack's stored bytes, the members of a bundle from
    the bundle decoded once: readers go through a pack's entries in order, so
    only the last bundle is kept."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._bundle: tuple[int, int, bytes] | None = None  # offset, length, plaintext

    def decode(
        self,
        stored: memoryview | bytes,
        at: tuple[int, int],
        sha256: bytes,
        raw_length: int,
        bundle_offset: int,
        check: bool,
    ) -> bytes:
        """The blob's plaintext from its stored object ``stored``, which lies
        at ``at`` (offset, length) in the pack. Checked against the digest when
        ``check``, and always for a bundle's member (a bundle's seal does not
        name its members). Raises CodecError or BlobMismatch."""
        if self._codec.is_bundle(stored):
            if self._bundle is None or self._bundle[:2] != at:
                self._bundle = None  # the last one goes before the next is made
                self._bundle = (*at, self._codec.decode_bundle(stored))
            plain = self._bundle[2][bundle_offset : bundle_offset + raw_length]
            check = True
        elif bundle_offset:
            raise CodecError("an entry inside a bundle points at a single blob")
        else:
            plain = self._codec.decode(stored, sha256, raw_length)
        if len(plain) != raw_length or (check and hashlib.sha256(plain).digest() != sha256):
            raise BlobMismatch("does not match its digest")
        return plain

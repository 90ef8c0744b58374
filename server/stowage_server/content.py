"""Artifact content in the registry, keyed by the SHA-256 computed once, as it
is written.

Small content (up to INLINE_MAX) is appended to segments
``DATA_DIR/content/segments/`` (segments.py); larger content lives in files
``DATA_DIR/content/{xx}/{sha256}``. Content over the chunk threshold is
also cut into content-defined chunks at write time, so a backup knows every
blob digest without reading a byte.
"""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from stowage_storage.chunker import Chunk, Chunker

from .segments import SegmentStore

INLINE_MAX = 64 * 1024
_CHUNK = struct.Struct(">Q32s")


@dataclass(frozen=True)
class StagedContent:
    """Content received and hashed, not yet visible to any environment."""

    sha256: bytes
    size: int
    inline: bytes | None
    chunks: list[Chunk] | None
    tmp_path: str | None


def encode_chunks(chunks: list[Chunk] | None) -> bytes | None:
    if chunks is None:
        return None
    return b"".join(_CHUNK.pack(c.length, c.sha256) for c in chunks)


def decode_chunks(data: bytes | None) -> list[Chunk] | None:
    if data is None:
        return None
    out, offset = [], 0
    for length, digest in _CHUNK.iter_unpack(data):
        out.append(Chunk(offset, length, digest))
        offset += length
    return out


def chunk_refs(data: bytes) -> Iterator[tuple[bytes, int]]:
    """(digest, length) of each chunk of an encoded chunk list, without Chunk objects."""
    for length, digest in _CHUNK.iter_unpack(data):
        yield digest, length


def tmp_path(root: str) -> str:
    """Where a content store under ``root`` keeps files no environment sees."""
    return os.path.join(root, "tmp")


class ContentStore:
    def __init__(self, root: str, chunker: Chunker) -> None:
        self.root = root
        self.chunker = chunker
        self.chunker_id = f"fastcdc-{chunker.average}-{chunker.threshold}"
        self.segments = SegmentStore(os.path.join(root, "segments"))
        self._tmp = tmp_path(root)
        os.makedirs(self._tmp, exist_ok=True)
        for name in os.listdir(self._tmp):
            # Leftovers of uploads that never finished.
            os.unlink(os.path.join(self._tmp, name))

    def path(self, sha256: bytes) -> str:
        h = sha256.hex()
        return os.path.join(self.root, h[:2], h)

    def writer(self, max_size: int) -> ContentWriter:
        return ContentWriter(self, max_size)

    def install(self, staged: StagedContent) -> None:
        """Moves a staged file into place. Called inside the registry's write
        transaction, so that a concurrent sweep cannot delete it in between."""
        if staged.tmp_path is None:
            return
        final = self.path(staged.sha256)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(staged.tmp_path, final)

    def discard(self, staged: StagedContent) -> None:
        if staged.tmp_path and os.path.exists(staged.tmp_path):
            os.unlink(staged.tmp_path)

    def remove(self, sha256: bytes) -> None:
        try:
            os.unlink(self.path(sha256))
        except FileNotFoundError:
            pass

    def read_range(self, sha256: bytes, offset: int, length: int) -> bytes:
        """Blocking ranged read of a content file."""
        with open(self.path(sha256), "rb", buffering=0) as f:
            return os.pread(f.fileno(), length, offset)

    def new_tmp_path(self) -> str:
        return os.path.join(self._tmp, uuid.uuid4().hex)

    @property
    def tmp_dir(self) -> str:
        """Where files no environment sees are kept (staging, spools)."""
        return self._tmp


class ContentTooLarge(Exception):
    pass


class ContentWriter:
    """Receives content in pieces, hashing as it goes; spills to a file when large.

    Blocking: call from a worker thread.
    """

    def __init__(self, store: ContentStore, max_size: int) -> None:
        self._store = store
        self._max = max_size
        self._hash = hashlib.sha256()
        self._buf = bytearray()
        self._file: object | None = None
        self._path: str | None = None
        self.size = 0

    @property
    def in_memory(self) -> bool:
        """Small so far: finishing costs nothing worth a worker thread."""
        return self._file is None

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self._max:
            self.abort()
            raise ContentTooLarge(f"content exceeds {self._max} bytes")
        self._hash.update(data)
        self.size += len(data)
        if self._file is None:
            self._buf += data
            if len(self._buf) > INLINE_MAX:
                self._path = self._store.new_tmp_path()
                self._file = open(self._path, "wb")  # noqa: SIM115 - closed in finish/abort
                self._file.write(self._buf)  # type: ignore[attr-defined]
                self._buf = bytearray()
        else:
            self._file.write(data)  # type: ignore[attr-defined]

    def finish(self, known_chunks: list[Chunk] | None = None) -> StagedContent:
        """Completes the content. ``known_chunks`` (from a manifest) saves cutting
        the file again; they are trusted only as far as the whole digest checks."""
        digest = self._hash.digest()
        if self._file is None:
            return StagedContent(digest, self.size, bytes(self._buf), None, None)
        f = self._file
        f.flush()  # type: ignore[attr-defined]
        os.fsync(f.fileno())  # type: ignore[attr-defined]
        f.close()  # type: ignore[attr-defined]
        self._file = None
        assert self._path is not None
        chunks = known_chunks or self._store.chunker.split_file(self._path)
        return StagedContent(
            digest, self.size, None, chunks if len(chunks) > 1 else None, self._path
        )

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()  # type: ignore[attr-defined]
            self._file = None
        if self._path and os.path.exists(self._path):
            os.unlink(self._path)
        self._path = None

"""How a blob is stored: optionally compressed (zstd), optionally encrypted.

Stored form: one flags byte, then the body. Flags bit 0: the body is zstd
compressed; bit 2 (with bit 0): compressed with a dictionary, whose 4-byte id
(big endian) starts the body; bit 1: the body is sealed with AES-256-GCM
(12-byte nonce, then ciphertext and tag; the associated data is the blob's
plaintext digest); bit 3: a bundle, several small blobs' plaintexts back to
back, compressed and sealed as one (associated data ``_BUNDLE_AAD``: a
bundle's members are checked by their digests whenever they are read). The
digest of a blob is always SHA-256 of its plaintext, as restic does, so
encryption never changes a blob's identity or defeats deduplication.
"""

from __future__ import annotations

import struct
import threading

import zstandard

from .crypto import NONCE_BYTES, DecryptionFailed, Sealed, seal, unseal

FLAG_ZSTD = 0x01
FLAG_SEALED = 0x02
FLAG_DICTIONARY = 0x04
FLAG_BUNDLE = 0x08
_KNOWN = FLAG_ZSTD | FLAG_SEALED | FLAG_DICTIONARY | FLAG_BUNDLE
_BUNDLE_AAD = b"bundle"
# Writers close a bundle once it holds this much plaintext: measured on text
# artifacts of 1-8 KiB, a sixth smaller than each alone, as much as bundles of
# 512 KiB, while a read of one member decodes little. A bundle's header that
# claims more than BUNDLE_MAX is refused.
BUNDLE_TARGET = 128 * 1024
BUNDLE_MAX = 1 << 20
_DICT_ID = struct.Struct(">I")
# Compression must save at least this fraction to be kept.
_MIN_SAVING = 0.03
# A frame's header says how large it decompresses, and zstd allocates that much
# up front: a damaged or forged header could ask for terabytes. A blob's size is
# known from the index; a document's is not, but documents are mostly digests,
# which do not compress, so one that claims to grow more than this is refused.
_DOCUMENT_GROWTH = 64
_DOCUMENT_MAX = 1 << 30


class CodecError(Exception):
    """Stored bytes cannot be decoded: corrupt, truncated or sealed with another key."""


class Codec:
    """Encodes and decodes stored blobs; safe to share between threads."""

    def __init__(
        self, level: int = 3, content_key: bytes | None = None, small_level: int = 7
    ) -> None:
        self._level = level
        # Small artifacts are a small share of the bytes: a higher level costs
        # little time there and, with the dictionary, saves about a tenth.
        self._small_level = small_level
        self._key = content_key
        self._local = threading.local()
        # Dictionaries for small artifacts, by id; the newest one encodes.
        self._dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}
        self._current: int | None = None

    def add_dictionary(self, raw: bytes) -> int:
        """Makes a trained dictionary usable for decoding, and the newest for
        encoding small content; returns its id."""
        d = zstandard.ZstdCompressionDict(raw)
        dict_id = d.dict_id()
        if dict_id == 0:
            raise CodecError("a dictionary without an id cannot be referenced")
        self._dictionaries[dict_id] = d
        self._current = dict_id
        return dict_id

    @property
    def has_dictionary(self) -> bool:
        return self._current is not None

    def _dict_compressor(self, dict_id: int) -> zstandard.ZstdCompressor:
        cache = self._local.__dict__.setdefault("dc", {})
        c = cache.get(dict_id)
        if c is None:
            c = cache[dict_id] = zstandard.ZstdCompressor(
                level=self._small_level, dict_data=self._dictionaries[dict_id]
            )
        return c

    def _dict_decompressor(self, dict_id: int) -> zstandard.ZstdDecompressor:
        cache = self._local.__dict__.setdefault("dd", {})
        d = cache.get(dict_id)
        if d is None:
            d = cache[dict_id] = zstandard.ZstdDecompressor(dict_data=self._dictionaries[dict_id])
        return d

    @property
    def encrypts(self) -> bool:
        return self._key is not None

    @property
    def content_key(self) -> bytes | None:
        return self._key

    def _compressor(self) -> zstandard.ZstdCompressor:
        c = getattr(self._local, "c", None)
        if c is None:
            c = self._local.c = zstandard.ZstdCompressor(level=self._level)
        return c

    def _decompressor(self) -> zstandard.ZstdDecompressor:
        d = getattr(self._local, "d", None)
        if d is None:
            d = self._local.d = zstandard.ZstdDecompressor()
        return d

    def encode(
        self, data: bytes | bytearray | memoryview, aad: bytes = b"", small: bool = False
    ) -> bytes:
        """``small``: a whole small artifact, compressed with the dictionary when
        there is one (each alone is too short for zstd to learn much from)."""
        return self._encode(data, aad, small, 0)

    def encode_bundle(self, parts: list[bytes]) -> bytes:
        """Small blobs stored as one: compressed together (with the dictionary
        when there is one), they share what zstd learns from the first ones and
        one header, nonce and tag. Neighbours in a backup are artifacts of one
        kind in name order, which is what makes this pay: about a sixth less
        stored than each alone with the dictionary."""
        data = b"".join(parts)
        if len(data) > BUNDLE_MAX:
            raise ValueError(f"a bundle of {len(data)} bytes is over {BUNDLE_MAX}")
        return self._encode(data, _BUNDLE_AAD, True, FLAG_BUNDLE)

    @staticmethod
    def is_bundle(stored: bytes | memoryview) -> bool:
        return bool(stored) and bool(stored[0] & FLAG_BUNDLE)

    def decode_bundle(self, stored: bytes | memoryview) -> bytes:
        """A bundle's plaintext (its members back to back)."""
        if not self.is_bundle(stored):
            raise CodecError("not a bundle")
        return self._decode(stored, _BUNDLE_AAD, BUNDLE_MAX)

    def _encode(
        self, data: bytes | bytearray | memoryview, aad: bytes, small: bool, flags: int
    ) -> bytes:
        body = data
        if self._level > 0 and len(data) >= 64:
            dict_id = self._current if small else None
            if dict_id is not None:
                packed = _DICT_ID.pack(dict_id) + self._dict_compressor(dict_id).compress(data)
            else:
                packed = self._compressor().compress(data)
            if len(packed) <= len(data) * (1 - _MIN_SAVING):
                flags |= FLAG_ZSTD | (FLAG_DICTIONARY if dict_id is not None else 0)
                body = packed
        if self._key is not None:
            sealed = seal(self._key, body, aad)
            # One join: a manifest is megabytes, and each concatenation a copy.
            return b"".join((bytes([flags | FLAG_SEALED]), sealed.nonce, sealed.ciphertext))
        return bytes([flags]) + body

    def decode(
        self, stored: bytes | memoryview, aad: bytes = b"", max_size: int | None = None
    ) -> bytes:
        """The plaintext of a stored blob or document; ``max_size``, a blob's
        size as the index records it (a document's is bounded by its own)."""
        if self.is_bundle(stored):
            raise CodecError("a bundle where a single blob was expected")
        return self._decode(stored, aad, max_size)

    def _decode(self, stored: bytes | memoryview, aad: bytes, max_size: int | None) -> bytes:
        if not stored:
            raise CodecError("empty stored blob")
        flags = stored[0]
        if flags & ~_KNOWN:
            raise CodecError(f"unknown blob flags {flags:#x}")
        # A view, not a copy: decryption and decompression each make the new
        # bytes they return, and a blob read in a run is a slice of megabytes.
        body: bytes | memoryview = memoryview(stored)[1:]
        if flags & FLAG_SEALED:
            if self._key is None:
                raise CodecError("blob is encrypted and no content key is configured")
            nonce, ciphertext = body[:NONCE_BYTES], body[NONCE_BYTES:]
            try:
                body = unseal(self._key, Sealed(nonce, ciphertext), aad)  # type: ignore[arg-type]
            except DecryptionFailed as e:
                raise CodecError(str(e)) from e
        if flags & FLAG_ZSTD:
            decompressor = self._decompressor()
            if flags & FLAG_DICTIONARY:
                if len(body) < _DICT_ID.size:
                    raise CodecError("truncated dictionary id")
                (dict_id,) = _DICT_ID.unpack(body[: _DICT_ID.size])
                if dict_id not in self._dictionaries:
                    raise CodecError(f"compression dictionary {dict_id} is missing")
                decompressor = self._dict_decompressor(dict_id)
                body = body[_DICT_ID.size :]
            limit = max_size
            if limit is None:
                limit = min(_DOCUMENT_MAX, max(1 << 20, _DOCUMENT_GROWTH * len(body)))
            try:
                claimed = zstandard.frame_content_size(body)
                if claimed > limit:
                    raise CodecError(f"compressed data claims {claimed} bytes, over {limit}")
                body = decompressor.decompress(body, max_output_size=limit)
            except zstandard.ZstdError as e:
                raise CodecError(f"corrupt compressed data: {e}") from e
        elif flags & FLAG_DICTIONARY:
            raise CodecError(f"unknown blob flags {flags:#x}")
        return body if isinstance(body, bytes) else bytes(body)

    @staticmethod
    def train(samples: list[bytes], size: int = 64 * 1024) -> bytes:
        """A zstd dictionary trained on samples of small artifacts. Blocking."""
        return zstandard.train_dictionary(size, samples).as_bytes()

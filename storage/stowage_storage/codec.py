"""How a blob is stored: optionally compressed (zstd), optionally encrypted.

Stored form: one flags byte, then the body. Flags bit 0: the body is zstd
compressed; bit 1: the body is sealed with AES-256-GCM (12-byte nonce, then
ciphertext and tag; the associated data is the blob's plaintext digest). The
digest of a blob is always SHA-256 of its plaintext, as restic does, so
encryption never changes a blob's identity or defeats deduplication.
"""

from __future__ import annotations

import threading

import zstandard

from .crypto import NONCE_BYTES, DecryptionFailed, Sealed, seal, unseal

FLAG_ZSTD = 0x01
FLAG_SEALED = 0x02
_KNOWN = FLAG_ZSTD | FLAG_SEALED
# Compression must save at least this fraction to be kept.
_MIN_SAVING = 0.03


class CodecError(Exception):
    """Stored bytes cannot be decoded: corrupt, truncated or sealed with another key."""


class Codec:
    """Encodes and decodes stored blobs; safe to share between threads."""

    def __init__(self, level: int = 3, content_key: bytes | None = None) -> None:
        self._level = level
        self._key = content_key
        self._local = threading.local()

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

    def encode(self, data: bytes, aad: bytes = b"") -> bytes:
        flags = 0
        body = data
        if self._level > 0 and len(data) >= 64:
            packed = self._compressor().compress(data)
            if len(packed) <= len(data) * (1 - _MIN_SAVING):
                flags |= FLAG_ZSTD
                body = packed
        if self._key is not None:
            sealed = seal(self._key, body, aad)
            flags |= FLAG_SEALED
            body = sealed.nonce + sealed.ciphertext
        return bytes([flags]) + body

    def decode(
        self, stored: bytes | memoryview, aad: bytes = b"", max_size: int = 1 << 31
    ) -> bytes:
        if not stored:
            raise CodecError("empty stored blob")
        flags = stored[0]
        if flags & ~_KNOWN:
            raise CodecError(f"unknown blob flags {flags:#x}")
        body = bytes(stored[1:])
        if flags & FLAG_SEALED:
            if self._key is None:
                raise CodecError("blob is encrypted and no content key is configured")
            try:
                body = unseal(self._key, Sealed(body[:NONCE_BYTES], body[NONCE_BYTES:]), aad)
            except DecryptionFailed as e:
                raise CodecError(str(e)) from e
        if flags & FLAG_ZSTD:
            try:
                body = self._decompressor().decompress(body, max_output_size=max_size)
            except zstandard.ZstdError as e:
                raise CodecError(f"corrupt compressed data: {e}") from e
        return body

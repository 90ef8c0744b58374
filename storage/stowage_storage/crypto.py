"""Keys and authenticated encryption (AES-256-GCM).

One 256-bit master key (``STOWAGE_KEY`` or a key file) is never used directly:
HKDF derives one sub-key per purpose (the registry's secrets, the repository's
key check, wrapping data keys), so a key used for one thing cannot be replayed
for another. Each backup gets a random data key for its secrets, stored only in
wrapped form (envelope encryption). A repository created with content
encryption also has a content key, wrapped the same way (see repokeys.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12


class DecryptionFailed(Exception):
    """The ciphertext was altered, or the key is not the one it was sealed with."""


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def seal(key: bytes, plaintext: bytes, aad: bytes) -> Sealed:
    nonce = os.urandom(NONCE_BYTES)
    return Sealed(nonce, AESGCM(key).encrypt(nonce, plaintext, aad))


def unseal(key: bytes, sealed: Sealed, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except (InvalidTag, ValueError) as e:
        raise DecryptionFailed("decryption failed: wrong key or altered data") from e


class MasterKey:
    """The server's root key. Its bytes never leave this object."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes, got {len(raw)}")
        self._raw = raw

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> MasterKey:
        """Accepts 64 hex digits or the base64 of 32 bytes."""
        text = text.strip()
        try:
            if len(text) == 2 * KEY_BYTES:
                return cls(bytes.fromhex(text))
            return cls(base64.b64decode(text, validate=True))
        except ValueError as e:
            raise ValueError("a key is 64 hex digits or the base64 of 32 random bytes") from e

    def encode(self) -> str:
        return base64.b64encode(self._raw).decode()

    def derive(self, purpose: str) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=b"stowage/" + purpose.encode(),
        ).derive(self._raw)

    @property
    def key_id(self) -> str:
        """A public name for the key (16 hex digits): tells which key wrapped
        something without revealing anything about the key."""
        return self.derive("key-id").hex()[:16]

    def key_check(self, repository_id: str) -> bytes:
        return hmac.new(self.derive("key-check"), repository_id.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "MasterKey(<redacted>)"


def new_data_key() -> tuple[str, bytes]:
    return secrets.token_hex(16), secrets.token_bytes(KEY_BYTES)


def wrap_data_key(master: MasterKey, key_id: str, data_key: bytes) -> Sealed:
    return seal(master.derive("wrap"), data_key, b"data-key/" + key_id.encode())


def unwrap_data_key(master: MasterKey, key_id: str, wrapped: Sealed) -> bytes:
    return unseal(master.derive("wrap"), wrapped, b"data-key/" + key_id.encode())


def fingerprint(key: bytes, value: bytes) -> str:
    """A keyed fingerprint: compares secrets without showing or exposing them."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()[:16]

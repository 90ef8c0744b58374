"""Which master key opens a repository, its content key, and the two steps of a
key rotation that change the repository's ``config``.

The config proves the repository key (``key_check``) and, when all content is
encrypted, holds the content key wrapped by it. A rotation first adds the new
key beside the old one (``next_key_check``, ``next_content_key``): from then on
either key opens the repository. Once every data key is re-wrapped it makes the
new key the only one. Each step is one atomic write of ``config``, so a crash
leaves the old state or the new, and either lets a re-run finish.

The content key itself never changes: blob data is not rewritten.
"""

from __future__ import annotations

import hmac
import secrets

from stowage.v1 import repository_pb2

from .crypto import KEY_BYTES, MasterKey, Sealed, seal, unseal
from .keyring import KeyRing
from .store import ObjectStore

CONTENT_KEY_ID = "content"


class KeyMismatch(Exception):
    """No key of the ring opens the repository."""


class EncryptionNotEnabled(Exception):
    """Content encryption was asked of a repository created without it."""


def new_content_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def wrap_content_key(
    master: MasterKey, repository_id: str, content_key: bytes
) -> repository_pb2.WrappedKey:
    s = seal(master.derive("wrap"), content_key, _aad(repository_id))
    return repository_pb2.WrappedKey(
        key_id=CONTENT_KEY_ID, nonce=s.nonce, ciphertext=s.ciphertext, master_key_id=master.key_id
    )


def unwrap_content_key(
    master: MasterKey, repository_id: str, wrapped: repository_pb2.WrappedKey
) -> bytes:
    return unseal(
        master.derive("wrap"), Sealed(wrapped.nonce, wrapped.ciphertext), _aad(repository_id)
    )


def _aad(repository_id: str) -> bytes:
    return f"content-key/{repository_id}".encode()


def _matching(keys: KeyRing, check: bytes, repository_id: str) -> MasterKey | None:
    if not check:
        return None
    return next(
        (k for k in keys.all() if hmac.compare_digest(check, k.key_check(repository_id))), None
    )


def unlock(
    config: repository_pb2.RepositoryConfig, keys: KeyRing, encrypt_all: bool, where: str
) -> bytes | None:
    """Checks that the ring opens the repository; returns its content key, if any."""
    repo_id = config.repository_id
    current = _matching(keys, config.key_check, repo_id)
    upcoming = _matching(keys, config.next_key_check, repo_id)
    if current is None and upcoming is None:
        raise KeyMismatch(f"the repository at {where} was created with another key")
    content_key: bytes | None = None
    if config.HasField("content_key") and current is not None:
        content_key = unwrap_content_key(current, repo_id, config.content_key)
    elif config.HasField("next_content_key") and upcoming is not None:
        content_key = unwrap_content_key(upcoming, repo_id, config.next_content_key)
    if encrypt_all and content_key is None:
        raise EncryptionNotEnabled(
            f"the repository at {where} was created without --encrypt-all, and content "
            "encryption is chosen when a repository is created: start with a new repository "
            "(`stowage backup copy` moves backups into it), or start without --encrypt-all"
        )
    return content_key


def initial_content_key(config: repository_pb2.RepositoryConfig, master: MasterKey) -> None:
    """Gives a config being created a fresh content key, wrapped by ``master``."""
    config.content_key.CopyFrom(wrap_content_key(master, config.repository_id, new_content_key()))


async def begin_rotation(
    store: ObjectStore,
    config: repository_pb2.RepositoryConfig,
    new: MasterKey,
    content_key: bytes | None,
) -> repository_pb2.RepositoryConfig:
    """Adds ``new`` beside the current key; returns the config written."""
    repo_id = config.repository_id
    if hmac.compare_digest(config.key_check, new.key_check(repo_id)):
        return config  # already finished in the repository
    updated = repository_pb2.RepositoryConfig()
    updated.CopyFrom(config)
    updated.next_key_check = new.key_check(repo_id)
    updated.ClearField("next_content_key")
    if content_key is not None:
        updated.next_content_key.CopyFrom(wrap_content_key(new, repo_id, content_key))
    if updated != config:
        await store.write("config", updated.SerializeToString())
    return updated


async def finish_rotation(
    store: ObjectStore, config: repository_pb2.RepositoryConfig, new: MasterKey
) -> repository_pb2.RepositoryConfig:
    """Makes ``new`` the only repository key; returns the config written."""
    repo_id = config.repository_id
    if hmac.compare_digest(config.key_check, new.key_check(repo_id)):
        return config
    if not hmac.compare_digest(config.next_key_check, new.key_check(repo_id)):
        raise KeyMismatch("the rotation's new key is not recorded in the repository config")
    updated = repository_pb2.RepositoryConfig()
    updated.CopyFrom(config)
    updated.key_check = config.next_key_check
    updated.ClearField("content_key")
    if config.HasField("next_content_key"):
        updated.content_key.CopyFrom(config.next_content_key)
    updated.ClearField("next_key_check")
    updated.ClearField("next_content_key")
    await store.write("config", updated.SerializeToString())
    return updated

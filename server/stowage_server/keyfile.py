"""The master key and its files.

The key comes from ``--key``/``STOWAGE_KEY`` or from the key file
(``DATA_DIR/stowage.key`` unless ``--key-file``), created mode 0600 on first
start. A key rotation needs the file: the server writes the new key to
``stowage.key.next`` before it wraps anything with it, and at the end copies
the old key to ``stowage.key.old`` and renames ``.next`` over ``stowage.key``.
A server that finds ``.next`` at start holds both keys (the new one current)
until a re-run of the rotation completes it. A key given by STOWAGE_KEY cannot
be replaced by the server, so rotation is refused then.
"""

from __future__ import annotations

import logging
import os

from stowage_storage.crypto import MasterKey
from stowage_storage.keyring import KeyRing

from . import private_file
from .config import Config

log = logging.getLogger("stowage.server")


class KeyUnreadable(ValueError):
    """A key could not be read; the message names where and why."""


class KeyFiles:
    def __init__(self, path: str) -> None:
        self.path = path
        self.next_path = path + ".next"
        self.old_path = path + ".old"

    @staticmethod
    def _read(path: str) -> MasterKey | None:
        try:
            with open(path) as f:
                return MasterKey.parse(f.read())
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise KeyUnreadable(f"key file {path}: {e}") from e

    def load(self) -> KeyRing:
        current = self._read(self.path)
        if current is None:
            current = MasterKey.generate()
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(current.encode() + "\n")
                f.flush()
                os.fsync(f.fileno())
            log.warning(
                "created a new master key in %s (mode 0600); keep a copy somewhere safe: "
                "without it no backup in the repository can be restored",
                self.path,
            )
        pending = self._read(self.next_path)
        if pending is None:
            return KeyRing(current)
        log.warning(
            "a key rotation is unfinished (%s exists): both keys are in use until "
            "`stowage repo rotate-key` is run again to complete it",
            self.next_path,
        )
        return KeyRing(pending, previous=current)

    def pending_or_new(self) -> MasterKey:
        """The rotation's new key: the one a rotation cut short left, or a new
        one, on disk before it wraps anything. Blocking."""
        pending = self._read(self.next_path)
        if pending is not None:
            return pending
        new = MasterKey.generate()
        private_file.write(self.next_path, (new.encode() + "\n").encode())
        return new

    def promote(self) -> None:
        """Makes the new key the key file's, keeping the old one as ``.old``
        (backups copied to other repositories still use it). Blocking; safe to
        repeat after a crash at any point."""
        if not os.path.exists(self.next_path):
            return
        with open(self.path, "rb") as f:
            old = f.read()
        private_file.write(self.old_path, old)
        os.replace(self.next_path, self.path)
        private_file.sync_folder(os.path.dirname(self.path))


def load(config: Config) -> tuple[KeyRing, KeyFiles | None]:
    """The server's keys, and their files (None when the key came from STOWAGE_KEY)."""
    if config.key:
        try:
            return KeyRing(MasterKey.parse(config.key)), None
        except ValueError as e:
            raise KeyUnreadable(f"STOWAGE_KEY: {e}") from e
    files = KeyFiles(config.key_path)
    return files.load(), files

"""A repository on local disk read directly with the master key, the way a
restore reads it, without a server: for repositories no server serves (the
destination of a copy) and for checking many backups quickly (the load run).

Read-only: it never writes, so a server may keep using the repository.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage_server import manifest as mf
from stowage_server.names import COLLECTIONS
from stowage_storage.crypto import MasterKey
from stowage_storage.local import LocalStore
from stowage_storage.repository import Repository

Listing = dict[tuple[int, str], str]  # (kind, id) -> sha256 hex


@dataclass
class StoredBackup:
    name: str
    record: bk_pb.Backup
    manifest: mf_pb.BackupManifest

    def listing(self) -> Listing:
        return {(i.kind, i.id): bytes(i.sha256).hex() for i in self.manifest.items}


class OfflineRepository:
    def __init__(self, repo: Repository, master: MasterKey) -> None:
        self.repo = repo
        self._master = master

    @classmethod
    async def open(cls, path: Path, key_hex: str) -> OfflineRepository:
        master = MasterKey.parse(key_hex)
        return cls(await Repository.open(LocalStore(str(path)), master, create=False), master)

    async def backups(self) -> list[StoredBackup]:
        """Every backup with a record, its record and manifest parsed; the data
        key is unwrapped too, so a missing or damaged one fails here."""
        await self.repo.refresh()
        out = []
        for ref in await self.repo.list_records():
            record = bk_pb.Backup.FromString(await self.repo.get_record(ref))
            # Items inline, as format 1 keeps them, wherever they are stored.
            _, manifest, items = await mf.read(self.repo, record.manifest_sha256)
            manifest.items.extend(items)
            manifest.ClearField("item_blocks")
            mf.unwrap(self._master, await self.repo.get_data_key(ref), manifest.data_key_id)
            name = f"environments/{ref.environment}/backups/{ref.backup_id}"
            out.append(StoredBackup(name, record, manifest))
        return out

    async def content(self, item: mf_pb.ManifestItem) -> bytes:
        """An item's content, every blob verified, checked whole against the item."""
        digests = [d for d, _ in mf.blob_refs(item)]
        data = b"".join([blob async for _, blob in self.repo.read_blobs(digests)])
        if hashlib.sha256(data).digest() != bytes(item.sha256) or len(data) != item.size_bytes:
            raise AssertionError(f"{label(item)} does not match its digest")
        return data

    async def check_restorable(self, backup: StoredBackup) -> None:
        """Reads every item of a backup as a restore would; raises if one fails."""
        for item in backup.manifest.items:
            await self.content(item)

    async def close(self) -> None:
        await self.repo.store.close()


def label(item: mf_pb.ManifestItem) -> str:
    return f"{COLLECTIONS.get(item.kind, 'artifacts')}/{item.id}"

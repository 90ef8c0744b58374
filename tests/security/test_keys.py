"""Envelope encryption and key rotation: after a rotation every backup still
restores and the old key opens nothing; a rotation cut short leaves every
backup restorable and a re-run completes it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from stowage import errors
from stowage.client import Client
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import repository_pb2
from stowage_server import manifest as mf
from stowage_server import settings as settings_mod
from stowage_server.app import StartupError, StowageServer, assemble
from stowage_server.clock import SystemClock
from stowage_server.config import load
from stowage_storage.codec import Codec
from stowage_storage.crypto import DecryptionFailed, MasterKey
from stowage_storage.open import open_store
from stowage_storage.repository import Repository, WrongKey
from stowage_storage.store import ObjectStore, StorageRejected

from ..conftest import ServerThread, server_flags
from ..sample import SECRETS, full_settings, populate
from ..storage.counting import CountingStore
from ..unit.test_engines import finish, provision


def test_rotation_rewraps_every_key_and_the_old_key_opens_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerThread(data)
    try:
        with Client(server.address) as c:
            c.provision("rotated", "basic", settings=full_settings())
            populate(c, "rotated")
            backups = [c.create_backup("rotated").result().backup for _ in range(2)]
            old_text = (data / "stowage.key").read_text()
            result = c.rotate_key().result().rotate_key
            assert (result.data_keys_rewrapped, result.secrets_resealed) == (2, 1)
            assert (data / "stowage.key.old").read_text() == old_text
            assert (data / "stowage.key").read_text() != old_text
            assert not (data / "stowage.key.next").exists()
            for i, b in enumerate(backups):
                c.restore(b.name, f"rotated-{i}").result()
                full = c.get_environment(f"rotated-{i}", full=True)
                assert full.settings.ssl_certificate.value == SECRETS["ssl_certificate"]
            live = c.get_environment("rotated", full=True)
            assert live.settings.access_control_key.value == SECRETS["access_control_key"]
            assert c.verify_repository().result().verify.ok
    finally:
        server.stop()

    old = MasterKey.parse(old_text)

    async def old_key_opens_nothing() -> None:
        store = await open_store(str(data / "repository"))
        with pytest.raises(WrongKey):
            await Repository.open(store, old, create=False)
        wrapped = await store.list("keys/")
        assert len(wrapped) == 2
        for info in wrapped:
            raw = Codec().decode(await store.read(info.key), info.key.encode())
            with pytest.raises(DecryptionFailed):
                mf.unwrap(old, raw, repository_pb2.WrappedKey.FromString(raw).key_id)
        await store.close()

    asyncio.run(old_key_opens_nothing())
    with sqlite3.connect(data / "registry.db") as db:
        rows = db.execute("SELECT uid, settings FROM environments").fetchall()
    assert len(rows) == 3
    for uid, stored in rows:
        with pytest.raises(DecryptionFailed):
            settings_mod.open_all(settings_mod.SecretBox(old), uid, stored, reveal=True)
    with pytest.raises(StartupError, match="another key"):
        asyncio.run(
            StowageServer(load(server_flags(data, key=old_text.strip()), environ={})).start()
        )


def test_rotation_is_refused_when_the_key_comes_from_stowage_key(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", key=MasterKey.generate().encode())
    try:
        with Client(server.address) as c, pytest.raises(errors.InvalidState) as refused:
            c.rotate_key()
        assert "STOWAGE_KEY" in str(refused.value)
    finally:
        server.stop()


class FailingKeyWrites(CountingStore):
    """Fails every write of a data key after the first ``allowed``, as a crash would."""

    def __init__(self, inner: ObjectStore, allowed: int) -> None:
        super().__init__(inner)
        self.allowed = allowed

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        if key.startswith("keys/") and not exclusive:
            if self.allowed == 0:
                raise StorageRejected("injected failure", key)
            self.allowed -= 1
        await super().write(key, data, exclusive=exclusive)


async def test_a_rotation_cut_short_keeps_every_backup_restorable(tmp_path: Path) -> None:
    cfg = load({"data_dir": str(tmp_path), "name_release_period": "0", "key": ""}, environ={})
    e = await assemble(cfg, SystemClock())
    await provision(e, "halfway")
    names = []
    for _ in range(3):
        op = await finish(
            e, await e.backups.start(bk_pb.CreateBackupRequest(parent="environments/halfway"))
        )
        names.append(op.backup.name)
    await e.close()

    # The rotation dies after re-wrapping one data key of three.
    e = await assemble(cfg, SystemClock(), wrap_store=lambda s: FailingKeyWrites(s, 1))
    op = await finish(e, await e.rotation.start(mt_pb.RotateKeyRequest()))
    assert op.error.code != 0 and not op.HasField("rotate_key")
    await e.close()
    assert (tmp_path / "stowage.key.next").exists()

    # After a restart both keys are held: every backup verifies and restores.
    e = await assemble(cfg, SystemClock())
    try:
        assert len(e.keys.all()) == 2
        verified = await finish(e, await e.verify.start(mt_pb.VerifyRepositoryRequest()))
        assert verified.verify.ok, verified.verify.problems
        restored = await finish(
            e,
            await e.restores.start(
                bk_pb.RestoreBackupRequest(backup=names[2], environment_id="halfway-copy")
            ),
        )
        assert restored.restore.environment == "environments/halfway-copy"
        # Running it again completes it.
        op = await finish(e, await e.rotation.start(mt_pb.RotateKeyRequest()))
        assert (op.rotate_key.data_keys_rewrapped, op.rotate_key.data_keys_current) == (2, 1)
        assert not (tmp_path / "stowage.key.next").exists()
        verified = await finish(e, await e.verify.start(mt_pb.VerifyRepositoryRequest()))
        assert verified.verify.ok, verified.verify.problems
    finally:
        await e.close()
    e = await assemble(cfg, SystemClock())
    assert len(e.keys.all()) == 1  # restarted: the old key is gone
    await e.close()


async def test_a_rotation_keeps_the_format_another_server_raised_the_repository_to(
    tmp_path: Path,
) -> None:
    cfg = load({"data_dir": str(tmp_path), "name_release_period": "0", "key": ""}, environ={})
    e = await assemble(cfg, SystemClock())
    try:
        store = e.repo.store
        # This server opened the repository while it was format 1; another one
        # has raised it to format 3 since (its first manifest did).
        e.repo.config.format_version = 1
        assert (
            repository_pb2.RepositoryConfig.FromString(await store.read("config")).format_version
            == 3
        )
        op = await finish(e, await e.rotation.start(mt_pb.RotateKeyRequest()))
        assert op.HasField("rotate_key"), op.error
        stored = repository_pb2.RepositoryConfig.FromString(await store.read("config"))
        assert stored.format_version == 3
        assert stored.key_check == e.keys.current.key_check(stored.repository_id)
    finally:
        await e.close()

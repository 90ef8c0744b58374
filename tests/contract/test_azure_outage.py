"""Azurite stopped in the middle of a backup: a clean, named failure; nothing
listable; and after it returns, the next backup succeeds and earlier ones restore."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import StowageError

from ..azurite import Azurite, new_container
from ..conftest import ServerThread
from ..sample import provision_full, write_assembly

MB = 1 << 20


def test_azurite_stopped_mid_backup(tmp_path: Path, azurite: Azurite) -> None:
    server = ServerThread(
        tmp_path / "data",
        repository=f"abfs://{new_container()}/outage",
        upload_limit="8MiB",
        storage_retry_budget="4s",
    )
    try:
        with Client(server.address, timeout=120) as client:
            assembly = tmp_path / "a.dll"
            want = write_assembly(assembly, 4 * MB)
            provision_full(client, "cloudy", "basic", assembly)
            client.put_artifact(
                "cloudy", "assembly", "Extra.dll", b"\x4d\x5a" + bytes(range(256)) * 4000
            )
            earlier = (
                client.create_backup("cloudy").result().backup.name
            )  # everything is stored once...
            client.put_artifact("cloudy", "assembly", "Fresh.dll", str(_fresh(tmp_path, 24 * MB)))
            handle = client.create_backup("cloudy")  # ...so this one has 24 MB of new data to send
            for event in handle.progress():
                if event.progress.phase == "upload" and event.progress.bytes_done > 2 * MB:
                    break
            azurite.stop()
            try:
                with pytest.raises(StowageError) as err:
                    handle.result()
                assert err.value.code == grpc.StatusCode.UNAVAILABLE
                assert err.value.reason == "STORAGE_UNAVAILABLE"
                assert "gave up after" in err.value.message
            finally:
                azurite.start()
            assert [b.name for b in client.list_backups("cloudy")] == [earlier]
            again = client.create_backup("cloudy").result().backup
            assert again.artifact_count == 11
            client.restore(earlier, "cloudy-earlier").result()
            got = hashlib.sha256(
                b"".join(client.read_artifact("cloudy-earlier", "assembly", "Contoso.Maps.dll"))
            )
            assert got.hexdigest() == want
            assert client.verify_repository(read_data=True).result().verify.ok
    finally:
        server.stop()


def _fresh(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "fresh.dll"
    write_assembly(path, size, seed=99)
    return path

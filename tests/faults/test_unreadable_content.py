"""A backup that cannot read one artifact's content fails: it never commits a
backup that lacks that content.

Engine-level faults in an in-process server: the registry's content file of one
artifact cannot be read (an I/O error), and progress saves are slow (a busy
data disk), so the failing read ends while the backup saves progress and the
artifacts after it need no upload. A backup once succeeded in exactly this
case, listed, with the blob in no pack (restore: DATA_LOSS).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from stowage.client import Client
from stowage.errors import StowageError

from ..conftest import ServerThread


def test_a_content_read_error_fails_the_backup_and_lists_nothing(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data")
    engines = server.server.engines
    content, operations = engines.registry.content, engines.operations.store
    unreadable: set[bytes] = set()
    slow = [0.0]
    read_range, save = content.read_range, operations.save

    def failing_read(sha256: bytes, offset: int, length: int) -> bytes:
        if sha256 in unreadable:
            raise OSError(5, "injected I/O error")
        return read_range(sha256, offset, length)

    def slow_save(op, events):  # type: ignore[no-untyped-def]
        time.sleep(slow[0])
        return save(op, events)

    content.read_range = failing_read  # type: ignore[method-assign]
    operations.save = slow_save  # type: ignore[method-assign]
    try:
        with Client(server.address, timeout=60) as client:
            client.provision("shaky", "basic")
            for i in range(3):
                client.put_artifact("shaky", "assembly", f"z{i}.dll", os.urandom(200_000))
            first = client.create_backup("shaky").result().backup.name
            bad = client.put_artifact("shaky", "assembly", "m.dll", os.urandom(300_000))
            unreadable.add(bytes.fromhex(bad.sha256))
            slow[0] = 0.3
            with pytest.raises(StowageError):
                client.create_backup("shaky").result()
            slow[0] = 0.0
            assert [b.name for b in client.list_backups("shaky")] == [first]
            assert client.verify_repository(read_data=True).result().verify.ok
    finally:
        slow[0] = 0.0
        server.stop()

"""AsyncClient through a real server: the same calls and outcomes as Client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stowage import errors
from stowage.aio import AsyncClient
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from ..sample import small_contents


async def test_backup_and_restore_with_the_async_client(
    server: ServerThread, tmp_path: Path
) -> None:
    async with AsyncClient(server.address) as c:
        env = await c.provision("async-src", "standard", region="west-europe")
        assert env.state == env_pb.Environment.STATE_ACTIVE
        for kind, (artifact_id, content, meta) in small_contents().items():
            await c.put_artifact("async-src", kind, artifact_id, content, metadata=meta)
        assembly = tmp_path / "Maps.dll"
        assembly.write_bytes(bytes(range(256)) * 9000)
        put = await c.put_artifact("async-src", "assembly", "Maps.dll", str(assembly))
        assert put.sha256 == hashlib.sha256(assembly.read_bytes()).hexdigest()
        read = b"".join([p async for p in c.read_artifact("async-src", "assembly", "Maps.dll")])
        assert read == assembly.read_bytes()
        listed = [a.name async for a in c.list_artifacts("async-src")]
        assert len(listed) == len(small_contents()) + 1

        handle = await c.create_backup("async-src")
        events = [e async for e in handle.progress()]
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        backup = (await handle.result()).backup
        assert backup.artifact_count == len(listed)
        assert [b.name async for b in c.list_backups("async-src")] == [backup.name]
        (status,) = await c.backup_status("async-src")
        assert status.last_successful_backup.backup == backup.name

        with pytest.raises(errors.RestoreEditionTooLow) as too_low:
            await c.restore(backup.name, "async-low", edition="basic")
        assert too_low.value.metadata["target_edition"]

        restore = await c.restore(backup.name, "async-dst", edition="premium")
        result = (await restore.result()).restore
        assert result.environment == "environments/async-dst"
        assert result.artifact_count == len(listed)
        restored = await c.get_environment("async-dst")
        assert restored.state == env_pb.Environment.STATE_SUSPENDED
        with pytest.raises(errors.ResumeBlocked):
            # The source still pulls the same FTP folder (R9).
            await c.resume("async-dst")
        await c.resume("async-dst", force=True)
        assert sorted([e.name async for e in c.list_environments()]) == [
            "environments/async-dst",
            "environments/async-src",
        ]
        ops = [op.name async for op in c.list_operations(kind=ops_pb.Operation.KIND_RESTORE)]
        assert ops == [restore.name]
        with pytest.raises(errors.OperationFinished):
            await restore.cancel()


async def test_folder_import_and_export_with_the_async_client(
    server: ServerThread, tmp_path: Path
) -> None:
    contents = small_contents()  # random certificate bytes: build once
    source = tmp_path / "in"
    for kind, (artifact_id, content, _) in contents.items():
        (source / kind).mkdir(parents=True)
        (source / kind / artifact_id).write_bytes(content)
    async with AsyncClient(server.address) as c:
        await c.provision("folders", "basic")
        imported = await c.import_directory("folders", str(source))
        assert imported.artifact_count == len(contents)
        assert await c.export_directory("folders", str(tmp_path / "out")) == len(contents)
    for kind, (artifact_id, content, _) in contents.items():
        assert (tmp_path / "out" / kind / artifact_id).read_bytes() == content
    with pytest.raises(errors.EnvironmentNotFound):
        async with AsyncClient(server.address) as c:
            await c.get_environment("missing")

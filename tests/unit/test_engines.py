"""The engines without a network: registry rules under a manual clock, backup and
restore driven directly, operations persistence, content sweeping."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.app import Engines
from stowage_server.errors import DataLoss, FailedPrecondition, StowageError

Op = ops_pb.Operation


async def provision(e: Engines, name: str, edition: int = common_pb2.EDITION_BASIC) -> None:
    req = env_pb.ProvisionEnvironmentRequest(
        environment_id=name, environment=env_pb.Environment(edition=edition)
    )
    req.environment.settings.access_control_key.value = b"secret"
    await e.environments.provision(req)


async def put(e: Engines, env: str, kind: int, artifact_id: str, data: bytes) -> None:
    async def stream():  # type: ignore[no-untyped-def]
        from stowage_server import names

        yield env_pb.PutArtifactRequest(
            artifact=env_pb.Artifact(name=names.artifact_name(env, kind, artifact_id)), data=data
        )

    await e.artifacts.put(stream())


async def finish(e: Engines, op: Op) -> Op:
    for _ in range(2000):
        current = await e.operations.get(op.name.split("/")[1])
        if current.done:
            return current
        await asyncio.sleep(0.01)
    raise AssertionError("operation did not finish")


async def backed_up(e: Engines, env: str) -> Op:
    """A backup of ``env``, run to its end."""
    return await finish(
        e, await e.backups.start(bk_pb.CreateBackupRequest(parent=f"environments/{env}"))
    )


async def restored(e: Engines, req: bk_pb.RestoreBackupRequest) -> Op:
    """A restore, run to its end."""
    return await finish(e, await e.restores.start(req))


async def test_release_period_follows_the_clock(engines: Engines) -> None:
    await provision(engines, "reuse")
    await engines.environments.delete("environments/reuse")
    with pytest.raises(FailedPrecondition) as err:
        await provision(engines, "reuse")
    assert err.value.reason == "NAME_NOT_AVAILABLE"
    engines.clock.advance(3601)  # type: ignore[attr-defined]
    await provision(engines, "reuse")


async def test_backup_and_restore_engines_round_trip(engines: Engines) -> None:
    await provision(engines, "unit")
    big = os.urandom(3 << 20)
    await put(engines, "unit", env_pb.ARTIFACT_KIND_ASSEMBLY, "Big.dll", big)
    await put(engines, "unit", env_pb.ARTIFACT_KIND_PARTNER, "P", b"<p/>")
    op = await backed_up(engines, "unit")
    assert op.state == Op.STATE_SUCCEEDED, op.error
    assert op.backup.artifact_count == 2
    copy = await restored(
        engines,
        bk_pb.RestoreBackupRequest(
            backup=op.backup.name, environment_id="unit-copy", edition=common_pb2.EDITION_STANDARD
        ),
    )
    assert copy.state == Op.STATE_SUCCEEDED, copy.error
    env = await engines.environments.get("environments/unit-copy")
    assert (
        env.state == env_pb.Environment.STATE_SUSPENDED
        and env.edition == common_pb2.EDITION_STANDARD
    )
    assert env.artifact_count == 2 and env.artifact_bytes == len(big) + 4
    assert engines.registry.settings_plain(env).access_control_key.value == b"secret"


async def test_restore_is_refused_before_anything_changes(engines: Engines) -> None:
    await provision(engines, "premium-src", common_pb2.EDITION_PREMIUM)
    op = await backed_up(engines, "premium-src")
    with pytest.raises(StowageError) as err:
        await engines.restores.start(
            bk_pb.RestoreBackupRequest(
                backup=op.backup.name, environment_id="lower", edition=common_pb2.EDITION_BASIC
            )
        )
    assert err.value.reason == "RESTORE_EDITION_TOO_LOW"
    assert [e.name for e in await engines.environments.list("", 10)] == ["premium-src"]


async def test_a_deleted_artifact_content_survives_until_no_backup_needs_it(
    engines: Engines,
) -> None:
    await provision(engines, "sweepy")
    data = os.urandom(200_000)
    await put(engines, "sweepy", env_pb.ARTIFACT_KIND_ASSEMBLY, "A.dll", data)
    path = engines.registry.content.path(hashlib.sha256(data).digest())
    assert os.path.exists(path)
    await engines.artifacts.delete("environments/sweepy/assemblies/A.dll")
    # An unfinished backup blocks the sweep.
    pending = engines.operations.new(Op.KIND_BACKUP, "environments/other", "")
    await engines.operations.create(pending, "h")
    assert engines.registry.sweep_contents(grace=0) == 0
    assert os.path.exists(path)
    pending.state = Op.STATE_SUCCEEDED
    engines.operations.store.save(pending, [])
    assert engines.registry.sweep_contents(grace=0) == 1
    assert not os.path.exists(path)


async def test_a_changed_content_file_fails_the_backup_with_data_loss(engines: Engines) -> None:
    await provision(engines, "rot")
    data = os.urandom(300_000)
    await put(engines, "rot", env_pb.ARTIFACT_KIND_ASSEMBLY, "A.dll", data)
    path = engines.registry.content.path(hashlib.sha256(data).digest())
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01")
    op = await backed_up(engines, "rot")
    assert op.state == Op.STATE_FAILED
    assert op.error.code == DataLoss.code.value[0]
    assert await engines.catalog.list(None, None, 10) == []


async def test_operation_store_enforces_one_backup_per_environment(engines: Engines) -> None:
    a = engines.operations.new(Op.KIND_BACKUP, "environments/x", "")
    await engines.operations.create(a, "h1")
    b = engines.operations.new(Op.KIND_BACKUP, "environments/x", "")
    with pytest.raises(FailedPrecondition) as err:
        await engines.operations.create(b, "h2")
    assert err.value.reason == "BACKUP_IN_PROGRESS"
    c = engines.operations.new(Op.KIND_BACKUP, "environments/y", "")
    assert (await engines.operations.create(c, "h3"))[1]

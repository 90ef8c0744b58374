"""Backup rules through a real server: editions (R1), one at a time (R11),
idempotent retries, batch preflight, quiesce, and the status of the last backup."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import (
    ActiveBatchMessages,
    BackupInProgress,
    EditionNotSupported,
    EnvironmentQuiesced,
    RequestIdReused,
)
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from ..sample import provision_full, write_assembly

MB = 1 << 20


def test_developer_edition_cannot_be_backed_up(client: Client) -> None:
    client.provision("dev-box", "developer")
    with pytest.raises(EditionNotSupported) as err:
        client.create_backup("dev-box")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.metadata["edition"] == "EDITION_DEVELOPER"


def test_restore_to_developer_edition_is_not_offered(client: Client) -> None:
    # Developer is below every edition that can be backed up, so R5 refuses too.
    provision_full(client, "src", "basic")
    backup = client.create_backup("src").result().backup.name
    plan = (
        client.restore(backup, "src-dev", edition="developer", validate_only=True).result().restore
    )
    failed = {c.check for c in plan.checks if not c.passed}
    assert failed == {"edition-offered", "edition"}


def test_batches_with_active_messages_refuse_a_backup_unless_loss_is_accepted(
    client: Client,
) -> None:
    provision_full(client, "batchy", "standard")
    for i in range(3):
        client.environments.AddBatchMessage(
            env_pb.AddBatchMessageRequest(
                batch="environments/batchy/batches/nightly", message_id=f"m{i}"
            )
        )
    with pytest.raises(ActiveBatchMessages) as err:
        client.create_backup("batchy")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert [(v.subject, v.description) for v in err.value.violations] == [
        ("environments/batchy/batches/nightly", "3 active message(s) would be lost")
    ]
    backup = client.create_backup("batchy", allow_batch_loss=True).result().backup
    lost = [e for e in backup.excluded if e.kind == bk_pb.ExcludedItem.KIND_BATCH_MESSAGES]
    assert [(e.name, e.message_count) for e in lost] == [("environments/batchy/batches/nightly", 3)]
    assert "m0, m1, m2" in lost[0].reason
    result = client.restore(backup.name, "batchy-copy").result().restore
    assert bk_pb.RestoreWarning.KIND_BATCH_MESSAGES in {w.kind for w in result.warnings}
    # Released batches no longer block.
    client.environments.ReleaseBatch(
        env_pb.ReleaseBatchRequest(name="environments/batchy/batches/nightly")
    )
    assert client.create_backup("batchy").result().backup.name


def _slow_server(tmp_path: Path) -> ServerThread:
    return ServerThread(tmp_path / "data", upload_limit="4MiB")


def test_one_backup_per_environment_at_a_time(tmp_path: Path) -> None:
    server = _slow_server(tmp_path)
    try:
        with Client(server.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 24 * MB)
            provision_full(client, "busy", "basic", big)
            first = client.create_backup("busy")
            with pytest.raises(BackupInProgress) as err:
                client.create_backup("busy")
            assert err.value.metadata["operation"] == first.name
            first.cancel()
            assert first.refresh().state == ops_pb.Operation.STATE_CANCELLED
            assert client.create_backup("busy").result().backup.name
    finally:
        server.stop()


def test_request_id_makes_create_backup_idempotent(client: Client) -> None:
    provision_full(client, "retry", "premium")
    a = client.create_backup("retry", request_id="req-0001")
    b = client.create_backup("retry", request_id="req-0001")
    assert a.name == b.name
    a.result()
    c = client.create_backup("retry", request_id="req-0001")
    assert c.name == a.name and c.operation.done
    assert len(list(client.list_backups("retry"))) == 1
    with pytest.raises(RequestIdReused) as err:
        client.create_backup("retry", request_id="req-0001", allow_batch_loss=True)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_request_id_makes_restore_idempotent(client: Client) -> None:
    provision_full(client, "rsrc", "basic")
    backup = client.create_backup("rsrc").result().backup.name
    a = client.restore(backup, "rsrc-copy", request_id="restore-1")
    a.result()
    b = client.restore(backup, "rsrc-copy", request_id="restore-1")
    assert b.name == a.name and b.operation.state == ops_pb.Operation.STATE_SUCCEEDED


def test_quiesce_refuses_management_writes_while_the_backup_runs(tmp_path: Path) -> None:
    server = _slow_server(tmp_path)
    try:
        with Client(server.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 16 * MB)
            provision_full(client, "still", "basic", big)
            handle = client.create_backup("still", quiesce=True)
            for event in handle.progress():
                if event.progress.phase == "upload":
                    break
            with pytest.raises(EnvironmentQuiesced) as err:
                client.put_artifact("still", "bridge", "NewBridge", b"<Bridge/>")
            assert err.value.code == grpc.StatusCode.UNAVAILABLE
            handle.result()
            client.put_artifact("still", "bridge", "NewBridge", b"<Bridge/>")
    finally:
        server.stop()


def test_backup_status_reports_last_attempt_and_last_success(client: Client) -> None:
    provision_full(client, "watched", "basic")
    assert client.backup_status("watched")[0].HasField("last_backup") is False
    ok = client.create_backup("watched").result().backup
    client.environments.AddBatchMessage(
        env_pb.AddBatchMessageRequest(batch="environments/watched/batches/b", message_id="x")
    )
    status = client.backup_status("watched")[0]
    assert status.last_backup.backup == ok.name
    assert status.last_backup.state == "SUCCEEDED"
    assert status.last_successful_backup.backup == ok.name
    assert status.last_backup.size_bytes == ok.size_bytes
    everyone = client.backup_status()
    assert [s.environment for s in everyone] == ["environments/watched"]


def test_every_backup_is_one_instant_while_writes_continue(client: Client) -> None:
    """R2: a writer keeps adding item-N together with a counter saying N, in one
    transaction each; backups taken meanwhile must each restore to a state where
    the counter equals the number of items."""
    client.provision("ledger", "basic")
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            n += 1
            reqs = [
                env_pb.ImportArtifactsRequest(
                    artifact=env_pb.Artifact(name=f"environments/ledger/transforms/item-{n}"),
                    data=b"x" * n,
                ),
                env_pb.ImportArtifactsRequest(
                    artifact=env_pb.Artifact(name="environments/ledger/templates/counter"),
                    data=str(n).encode(),
                ),
            ]
            client.environments.ImportArtifacts(iter(reqs))
            written[0] = n

    t = threading.Thread(target=writer)
    t.start()
    backups = []
    try:
        while len(backups) < 5 and t.is_alive():
            if written[0]:
                backups.append(client.create_backup("ledger").result().backup.name)
    finally:
        stop.set()
        t.join()
    assert len(backups) >= 2
    seen = set()
    for i, name in enumerate(backups):
        env = f"ledger-r{i}"
        client.restore(name, env).result()
        items = [a for a in client.list_artifacts(env, "transform")]
        counter = int(b"".join(client.read_artifact(env, "template", "counter")))
        assert counter == len(items), f"{name}: counter {counter}, items {len(items)}"
        seen.add(counter)
    assert len(seen) >= 2  # the backups really were taken at different instants

"""Which calls gRPC retries for the client, seen through a proxy that loses
replies after the server has acted on them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stowage import channel
from stowage.client import Client
from stowage.errors import StowageError
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from .lossy_proxy import LossyProxy


def test_the_retry_policy_names_reads_and_request_id_writes_only() -> None:
    retried = set(channel.idempotent_methods())
    for read in (
        "EnvironmentService/GetEnvironment",
        "EnvironmentService/ListArtifacts",
        "EnvironmentService/ReadArtifact",
        "BackupService/ListBackups",
        "BackupService/GetBackupStatus",
        "OperationService/GetOperation",
        "OperationService/WatchOperation",
    ):
        assert f"stowage.v1.{read}" in retried
    for write in ("ProvisionEnvironment", "CreateBackup", "RestoreBackup"):
        assert any(m.endswith(f"/{write}") for m in retried)
    for unsafe in (
        "EnvironmentService/DeleteEnvironment",
        "EnvironmentService/PutArtifact",
        "EnvironmentService/IssueControlNumbers",
        "EnvironmentService/UpdateEnvironment",
        "BackupService/DeleteBackup",
        "OperationService/CancelOperation",
    ):
        assert f"stowage.v1.{unsafe}" not in retried
    policy = json.loads(channel.service_config())["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert 2 <= policy["maxAttempts"] <= 5


@pytest.fixture
def lossy(server: ServerThread) -> Iterator[LossyProxy]:
    proxy = LossyProxy(server.address, losses=2)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_a_lost_reply_to_a_read_is_retried(client: Client, lossy: LossyProxy) -> None:
    client.provision("reads", "basic")
    with Client(lossy.address) as through:
        assert through.get_environment("reads").name == "environments/reads"
    assert lossy.calls("EnvironmentService/GetEnvironment") == 3


def test_a_lost_reply_to_create_backup_is_retried_without_a_second_backup(
    client: Client, lossy: LossyProxy
) -> None:
    client.provision("twice", "basic")
    with Client(lossy.address) as through:
        handle = through.create_backup("twice")
    assert lossy.calls("BackupService/CreateBackup") == 3
    backups = list(client.list_operations("environments/twice", ops_pb.Operation.KIND_BACKUP))
    assert [op.name for op in backups] == [handle.name]
    assert handle.operation.request_id
    assert client.operation(handle.name).result().backup.name


def test_a_lost_reply_to_a_write_without_request_id_is_not_retried(
    client: Client, lossy: LossyProxy
) -> None:
    client.provision("once", "basic")
    with Client(lossy.address) as through, pytest.raises(StowageError) as failed:
        through.delete_environment("once")
    assert failed.value.code.name == "UNAVAILABLE"
    assert lossy.calls("EnvironmentService/DeleteEnvironment") == 1
    # The server did delete it: a silent retry would have answered NOT_FOUND.
    assert [e.name for e in client.list_environments()] == []


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "@grpc" / "grpc-js").exists(),
    reason="Node.js client dependencies not installed (npm install)",
)
@pytest.mark.skipif(
    not (ROOT / "third_party" / "protos" / "google" / "rpc").exists(),
    reason="google.rpc protos not staged (python scripts/protos.py deps third_party/protos)",
)
def test_the_node_client_retries_the_same_methods() -> None:
    script = (
        "const lib = require('./clients/node/lib');"
        "console.log(JSON.stringify(lib.idempotentMethods().map(m => `${m.service}/${m.method}`)))"
    )
    out = subprocess.run(
        ["node", "-e", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert sorted(json.loads(out)) == sorted(channel.idempotent_methods())

"""The contract's general promises: errors name the field, pagination, health,
reflection, and no secret in plaintext anywhere under the data directory."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from stowage.client import Client
from stowage.errors import EnvironmentExists, EnvironmentNotFound, InvalidArgument, StowageError
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from ..sample import SECRETS, provision_full, write_assembly


@pytest.mark.parametrize(
    "call, field",
    [
        (
            lambda c: c.environments.GetEnvironment(
                env_pb.GetEnvironmentRequest(name="environments/../etc")
            ),
            "name",
        ),
        (
            lambda c: c.environments.GetEnvironment(env_pb.GetEnvironmentRequest(name="nope")),
            "name",
        ),
        (
            lambda c: c.environments.ProvisionEnvironment(
                env_pb.ProvisionEnvironmentRequest(environment_id="Bad_Name")
            ),
            "environment_id",
        ),
        (
            lambda c: c.environments.ProvisionEnvironment(
                env_pb.ProvisionEnvironmentRequest(environment_id="okay-name")
            ),
            "environment.edition",
        ),
        (
            lambda c: c.environments.ProvisionEnvironment(
                env_pb.ProvisionEnvironmentRequest(environment_id="x" * 70)
            ),
            "environment_id",
        ),
        (
            lambda c: c.environments.GetArtifact(
                env_pb.GetArtifactRequest(name="environments/abc/widgets/x")
            ),
            "name",
        ),
        (
            lambda c: c.environments.GetArtifact(
                env_pb.GetArtifactRequest(name="environments/abc/assemblies/..")
            ),
            "name",
        ),
        (
            lambda c: c.environments.GetArtifact(
                env_pb.GetArtifactRequest(name="environments/abc/assemblies/a\x00b")
            ),
            "name",
        ),
        (
            lambda c: c.backups.CreateBackup(
                bk_pb.CreateBackupRequest(parent="environments/abc", request_id="no spaces!")
            ),
            "request_id",
        ),
        (
            lambda c: c.backups.GetBackup(
                bk_pb.GetBackupRequest(name="environments/abc/backups/latest")
            ),
            "name",
        ),
        (
            lambda c: c.backups.RestoreBackup(
                bk_pb.RestoreBackupRequest(
                    backup="environments/abc/backups/20260101-000000-abcdef", environment_id="-x"
                )
            ),
            "environment_id",
        ),
        (
            lambda c: c.backups.RestoreBackup(
                bk_pb.RestoreBackupRequest(backup="x", environment_id="good-name")
            ),
            "backup",
        ),
        (
            lambda c: c.operations.GetOperation(ops_pb.GetOperationRequest(name="operations/xyz")),
            "name",
        ),
        (
            lambda c: c.environments.ListEnvironments(
                env_pb.ListEnvironmentsRequest(page_token="garbage")
            ),
            "page_token",
        ),
        (
            lambda c: c.environments.ListEnvironments(env_pb.ListEnvironmentsRequest(page_size=-1)),
            "page_size",
        ),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(client: Client, call, field: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(client)
    from stowage.errors import from_rpc_error

    e = from_rpc_error(err.value)
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT, e
    assert isinstance(e, InvalidArgument)
    assert e.metadata["field"] == field
    assert e.violations and e.violations[0].subject == field


def test_not_found_and_already_exists(client: Client) -> None:
    with pytest.raises(EnvironmentNotFound) as err:
        client.get_environment("ghost")
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    client.provision("twice", "basic")
    with pytest.raises(EnvironmentExists) as err2:
        client.provision("twice", "basic")
    assert err2.value.code == grpc.StatusCode.ALREADY_EXISTS


def test_lists_paginate(client: Client) -> None:
    for i in range(5):
        client.provision(f"page-{i}", "basic")
    seen, token = [], ""
    while True:
        page = client.environments.ListEnvironments(
            env_pb.ListEnvironmentsRequest(page_size=2, page_token=token)
        )
        assert len(page.environments) <= 2
        seen += [e.name for e in page.environments]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"environments/page-{i}" for i in range(5)]
    for i in range(3):
        client.put_artifact("page-0", "bridge", f"b{i}", b"<b/>")
    first = client.environments.ListArtifacts(
        env_pb.ListArtifactsRequest(parent="environments/page-0", page_size=2)
    )
    second = client.environments.ListArtifacts(
        env_pb.ListArtifactsRequest(
            parent="environments/page-0", page_size=2, page_token=first.next_page_token
        )
    )
    assert [a.name.rsplit("/", 1)[1] for a in [*first.artifacts, *second.artifacts]] == [
        "b0",
        "b1",
        "b2",
    ]
    assert second.next_page_token == ""


def test_health_and_reflection_are_on(server: ServerThread) -> None:
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in (
            "",
            "stowage.v1.BackupService",
            "stowage.v1.EnvironmentService",
            "stowage.v1.OperationService",
        ):
            resp = health.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
        assert {
            "stowage.v1.BackupService",
            "stowage.v1.EnvironmentService",
            "stowage.v1.OperationService",
        } <= names


def test_secrets_are_redacted_unless_the_full_view_is_asked_for(client: Client) -> None:
    provision_full(client, "hush", "basic")
    basic = client.get_environment("hush")
    for name in SECRETS:
        secret = getattr(basic.settings, name)
        assert secret.set and secret.value == b"" and len(secret.fingerprint) == 16
    listed = next(e for e in client.list_environments() if e.name == "environments/hush")
    assert all(getattr(listed.settings, n).value == b"" for n in SECRETS)
    full = client.get_environment("hush", full=True)
    assert all(getattr(full.settings, n).value == v for n, v in SECRETS.items())


def _assert_no_plaintext(data: Path, markers: list[bytes]) -> int:
    files = [p for p in data.rglob("*") if p.is_file()]
    for path in files:
        content = path.read_bytes()
        for marker in markers:
            assert marker[:20] not in content, (
                f"{marker[:20]!r} in plaintext in {path.relative_to(data)}"
            )
    return len(files)


def test_no_secret_appears_in_plaintext_in_any_file_under_the_data_directory(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    markers = [*SECRETS.values(), b"PWD-secret-marker-override-0007"]
    server = ServerThread(data)
    try:
        with Client(server.address) as client:
            assembly = tmp_path / "a.dll"
            write_assembly(assembly, 1 << 20)
            provision_full(client, "vault", "basic", assembly)
            backup = client.create_backup("vault").result().backup.name
            settings = env_pb.EnvironmentSettings()
            settings.ssl_certificate_password.value = markers[-1]
            client.restore(backup, "vault-copy", settings=settings).result()
            client.update_environment(
                "vault", settings=settings, setting_fields=["ssl_certificate_password"]
            )
            # While running: the database's write-ahead log is on disk too.
            assert (data / "registry.db-wal").exists()
            assert _assert_no_plaintext(data, markers) >= 10
            client.delete_environment("vault")
    finally:
        server.stop()
    assert _assert_no_plaintext(data, markers) >= 8


def test_nothing_a_client_sends_yields_unknown_or_internal(client: Client) -> None:
    """A sweep of odd but well-formed requests: every answer is a meaningful code."""
    calls = [
        lambda: client.environments.UpdateEnvironment(env_pb.UpdateEnvironmentRequest()),
        lambda: client.environments.DeleteEnvironment(
            env_pb.DeleteEnvironmentRequest(name="environments/nobody")
        ),
        lambda: client.environments.ReadArtifact(
            env_pb.ReadArtifactRequest(name="environments/nobody/bridges/b")
        ).next(),
        lambda: client.environments.PutArtifact(iter([env_pb.PutArtifactRequest(data=b"x")])),
        lambda: client.environments.PutArtifact(iter([])),
        lambda: client.environments.ImportArtifacts(
            iter([env_pb.ImportArtifactsRequest(data=b"x")])
        ),
        lambda: client.environments.IssueControlNumbers(
            env_pb.IssueControlNumbersRequest(agreement="environments/a/bridges/b")
        ),
        lambda: client.environments.ReleaseBatch(
            env_pb.ReleaseBatchRequest(name="environments/nobody/batches/b")
        ),
        lambda: client.backups.ListBackups(bk_pb.ListBackupsRequest(parent="environments/nobody")),
        lambda: client.backups.DeleteBackup(
            bk_pb.DeleteBackupRequest(name="environments/nobody/backups/20260101-000000-abcdef")
        ),
        lambda: client.backups.GetBackupStatus(
            bk_pb.GetBackupStatusRequest(parent="environments/nobody")
        ),
        lambda: client.operations.CancelOperation(
            ops_pb.CancelOperationRequest(name="operations/" + "a" * 32)
        ),
        lambda: client.operations.WatchOperation(
            ops_pb.WatchOperationRequest(name="operations/" + "a" * 32)
        ).next(),
        lambda: client.operations.ListOperations(ops_pb.ListOperationsRequest(kind=99)),
    ]
    for call in calls:
        try:
            call()
        except grpc.RpcError as e:
            assert e.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (
                e.code(),
                e.details(),
            )
        except StowageError as e:
            raise AssertionError(e) from None

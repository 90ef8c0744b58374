"""The Python client: the common paths of the Stowage API as one call each.

    from stowage.client import Client

    with Client("127.0.0.1:50051") as c:
        handle = c.create_backup("contoso")
        for event in handle.progress():
            print(event.progress.phase, event.progress.bytes_done)
        backup = handle.result().backup

Failed calls raise the typed exceptions of ``stowage.errors``. Watching an
operation survives a dropped connection or a server restart: the watcher
reconnects and resumes after the last event it saw.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2, field_mask_pb2

from stowage.v1 import (
    backup_policy_pb2 as pol_pb,
)
from stowage.v1 import (
    backup_service_pb2_grpc,
    common_pb2,
    environments_pb2_grpc,
    operations_pb2_grpc,
    repository_service_pb2_grpc,
)
from stowage.v1 import (
    backups_pb2 as bk_pb,
)
from stowage.v1 import (
    environments_pb2 as env_pb,
)
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import (
    operations_pb2 as ops_pb,
)

from .errors import StowageError, from_rpc_error, from_status

DEFAULT_SERVER = "127.0.0.1:50051"
PIECE = 1 << 20
MAX_MESSAGE = 8 * 1024 * 1024
T = TypeVar("T")

COLLECTIONS = {
    env_pb.ARTIFACT_KIND_PARTNER: "partners",
    env_pb.ARTIFACT_KIND_AGREEMENT: "agreements",
    env_pb.ARTIFACT_KIND_ASSEMBLY: "assemblies",
    env_pb.ARTIFACT_KIND_BRIDGE: "bridges",
    env_pb.ARTIFACT_KIND_CERTIFICATE: "certificates",
    env_pb.ARTIFACT_KIND_TRANSFORM: "transforms",
    env_pb.ARTIFACT_KIND_PIPELINE: "pipelines",
    env_pb.ARTIFACT_KIND_TEMPLATE: "templates",
    env_pb.ARTIFACT_KIND_X12_MAPPING: "x12Mappings",
}
KINDS = {
    "partner": env_pb.ARTIFACT_KIND_PARTNER,
    "agreement": env_pb.ARTIFACT_KIND_AGREEMENT,
    "assembly": env_pb.ARTIFACT_KIND_ASSEMBLY,
    "bridge": env_pb.ARTIFACT_KIND_BRIDGE,
    "certificate": env_pb.ARTIFACT_KIND_CERTIFICATE,
    "transform": env_pb.ARTIFACT_KIND_TRANSFORM,
    "pipeline": env_pb.ARTIFACT_KIND_PIPELINE,
    "template": env_pb.ARTIFACT_KIND_TEMPLATE,
    "x12-mapping": env_pb.ARTIFACT_KIND_X12_MAPPING,
}
KIND_NAMES = {v: k for k, v in KINDS.items()}
EDITIONS = {
    "developer": common_pb2.EDITION_DEVELOPER,
    "basic": common_pb2.EDITION_BASIC,
    "standard": common_pb2.EDITION_STANDARD,
    "premium": common_pb2.EDITION_PREMIUM,
}


def environment_name(env: str) -> str:
    return env if env.startswith("environments/") else f"environments/{env}"


def artifact_name(env: str, kind: str | int, artifact_id: str) -> str:
    k = KINDS[kind] if isinstance(kind, str) else kind
    return f"{environment_name(env)}/{COLLECTIONS[k]}/{artifact_id}"


def policy_name(env: str) -> str:
    return f"{environment_name(env)}/backupPolicy"


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(value * 1e9)))
    return d


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except grpc.RpcError as e:
        raise from_rpc_error(e) from None


class Operation:
    """A handle on a long-running operation: watch it, wait for it, cancel it."""

    def __init__(self, client: Client, op: ops_pb.Operation) -> None:
        self._client = client
        self.operation = op
        self.last_sequence = 0

    @property
    def name(self) -> str:
        return self.operation.name

    def progress(self, *, reconnect_for: float = 60.0) -> Iterator[ops_pb.OperationEvent]:
        """Every event from the last one seen to the terminal one, exactly once.

        A dropped stream (server restart, network) is resumed from the last
        sequence number, for up to ``reconnect_for`` seconds without an event.
        """
        deadline = time.monotonic() + reconnect_for
        while True:
            stream = self._client.operations.WatchOperation(
                ops_pb.WatchOperationRequest(name=self.name, after_sequence=self.last_sequence)
            )
            try:
                for event in stream:
                    deadline = time.monotonic() + reconnect_for
                    self.last_sequence = event.sequence
                    if event.HasField("operation"):
                        self.operation = event.operation
                    yield event
                return
            except grpc.RpcError as e:
                if e.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.INTERNAL,
                    grpc.StatusCode.UNKNOWN,
                ):
                    raise from_rpc_error(e) from None
                if time.monotonic() > deadline:
                    raise from_rpc_error(e) from None
                time.sleep(0.2)
            finally:
                stream.cancel()

    def result(self) -> ops_pb.Operation:
        """Waits for the end; returns the operation, or raises its error."""
        if not self.operation.done:
            for _ in self.progress():
                pass
        if self.operation.state != ops_pb.Operation.STATE_SUCCEEDED:
            raise from_status(self.operation.error)
        return self.operation

    def refresh(self) -> ops_pb.Operation:
        self.operation = self._client.get_operation(self.name)
        return self.operation

    def cancel(self) -> ops_pb.Operation:
        self.operation = _call(
            lambda: self._client.operations.CancelOperation(
                ops_pb.CancelOperationRequest(name=self.name)
            )
        )
        return self.operation


class Client:
    """A synchronous client. ``timeout`` is the deadline of every unary call, in seconds."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 60.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        self.target = target or os.environ.get("STOWAGE_SERVER") or DEFAULT_SERVER
        self.timeout = timeout
        self.channel = channel or grpc.insecure_channel(
            self.target,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ],
        )
        self.environments = environments_pb2_grpc.EnvironmentServiceStub(self.channel)
        self.backups = backup_service_pb2_grpc.BackupServiceStub(self.channel)
        self.operations = operations_pb2_grpc.OperationServiceStub(self.channel)
        self.repository = repository_service_pb2_grpc.RepositoryServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _unary(self, method: Callable[..., T], request: Any) -> T:
        return _call(lambda: method(request, timeout=self.timeout))

    # -- environments ---------------------------------------------------------

    def provision(
        self,
        env: str,
        edition: int | str,
        *,
        region: str = "",
        settings: env_pb.EnvironmentSettings | None = None,
        request_id: str = "",
    ) -> env_pb.Environment:
        ed = EDITIONS[edition] if isinstance(edition, str) else edition
        return self._unary(
            self.environments.ProvisionEnvironment,
            env_pb.ProvisionEnvironmentRequest(
                environment_id=env,
                environment=env_pb.Environment(edition=ed, region=region, settings=settings),
                request_id=request_id,
            ),
        )

    def get_environment(self, env: str, *, full: bool = False) -> env_pb.Environment:
        view = env_pb.ENVIRONMENT_VIEW_FULL if full else env_pb.ENVIRONMENT_VIEW_BASIC
        return self._unary(
            self.environments.GetEnvironment,
            env_pb.GetEnvironmentRequest(name=environment_name(env), view=view),
        )

    def list_environments(self) -> Iterator[env_pb.Environment]:
        token = ""
        while True:
            page = self._unary(
                self.environments.ListEnvironments,
                env_pb.ListEnvironmentsRequest(page_token=token, page_size=500),
            )
            yield from page.environments
            token = page.next_page_token
            if not token:
                return

    def update_environment(
        self,
        env: str,
        *,
        settings: env_pb.EnvironmentSettings | None = None,
        setting_fields: Iterable[str] = (),
        edition: int | str | None = None,
        region: str | None = None,
    ) -> env_pb.Environment:
        e = env_pb.Environment(name=environment_name(env), settings=settings)
        paths = [f"settings.{f}" for f in setting_fields]
        if edition is not None:
            e.edition = EDITIONS[edition] if isinstance(edition, str) else edition
            paths.append("edition")
        if region is not None:
            e.region = region
            paths.append("region")
        return self._unary(
            self.environments.UpdateEnvironment,
            env_pb.UpdateEnvironmentRequest(
                environment=e, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
        )

    def delete_environment(self, env: str) -> None:
        self._unary(
            self.environments.DeleteEnvironment,
            env_pb.DeleteEnvironmentRequest(name=environment_name(env)),
        )

    def suspend(self, env: str) -> env_pb.Environment:
        return self._unary(
            self.environments.SuspendEnvironment,
            env_pb.SuspendEnvironmentRequest(name=environment_name(env)),
        )

    def resume(self, env: str, *, force: bool = False) -> env_pb.Environment:
        return self._unary(
            self.environments.ResumeEnvironment,
            env_pb.ResumeEnvironmentRequest(name=environment_name(env), force=force),
        )

    # -- artifacts ------------------------------------------------------------

    def put_artifact(
        self,
        env: str,
        kind: str | int,
        artifact_id: str,
        content: bytes | str | os.PathLike[str],
        *,
        metadata: dict[str, str] | None = None,
    ) -> env_pb.Artifact:
        """Uploads an artifact from bytes or a file path, streamed in 1 MiB pieces."""
        header = env_pb.Artifact(
            name=artifact_name(env, kind, artifact_id), metadata=metadata or {}
        )

        def requests() -> Iterator[env_pb.PutArtifactRequest]:
            yield env_pb.PutArtifactRequest(artifact=header)
            for piece in _pieces(content):
                yield env_pb.PutArtifactRequest(data=piece)

        return _call(lambda: self.environments.PutArtifact(requests()))

    def get_artifact(self, env: str, kind: str | int, artifact_id: str) -> env_pb.Artifact:
        return self._unary(
            self.environments.GetArtifact,
            env_pb.GetArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    def read_artifact(self, env: str, kind: str | int, artifact_id: str) -> Iterator[bytes]:
        stream = self.environments.ReadArtifact(
            env_pb.ReadArtifactRequest(name=artifact_name(env, kind, artifact_id))
        )
        try:
            for resp in stream:
                if resp.data:
                    yield resp.data
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def list_artifacts(self, env: str, kind: str | int = 0) -> Iterator[env_pb.Artifact]:
        k = KINDS[kind] if isinstance(kind, str) else kind
        token = ""
        while True:
            page = self._unary(
                self.environments.ListArtifacts,
                env_pb.ListArtifactsRequest(
                    parent=environment_name(env), kind=k, page_token=token, page_size=1000
                ),
            )
            yield from page.artifacts
            token = page.next_page_token
            if not token:
                return

    def delete_artifact(self, env: str, kind: str | int, artifact_id: str) -> None:
        self._unary(
            self.environments.DeleteArtifact,
            env_pb.DeleteArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    def import_directory(self, env: str, folder: str) -> env_pb.ImportArtifactsResponse:
        """Uploads ``folder/{kind}/{artifact}`` files in one stream (kinds as the CLI spells them)."""
        files = []
        for kind in sorted(os.listdir(folder)):
            path = os.path.join(folder, kind)
            if not os.path.isdir(path):
                continue
            if kind not in KINDS:
                raise ValueError(f"{path}: not an artifact kind ({', '.join(KINDS)})")
            for name in sorted(os.listdir(path)):
                if os.path.isfile(os.path.join(path, name)):
                    files.append((kind, name, os.path.join(path, name)))

        def requests() -> Iterator[env_pb.ImportArtifactsRequest]:
            # A small artifact's header and content travel in one message.
            for kind, name, path in files:
                header = env_pb.Artifact(name=artifact_name(env, kind, name))
                first = True
                for piece in _pieces(path):
                    yield env_pb.ImportArtifactsRequest(
                        artifact=header if first else None, data=piece
                    )
                    first = False
                if first:
                    yield env_pb.ImportArtifactsRequest(artifact=header)

        return _call(lambda: self.environments.ImportArtifacts(requests()))

    def export_directory(self, env: str, folder: str) -> int:
        """Writes every artifact to ``folder/{kind}/{artifact}``; returns the count."""
        count = 0
        current = None
        stream = self.environments.ExportArtifacts(
            env_pb.ExportArtifactsRequest(parent=environment_name(env))
        )
        try:
            for resp in stream:
                if resp.HasField("artifact"):
                    if current is not None:
                        current.close()
                    kind = KIND_NAMES[resp.artifact.kind]
                    os.makedirs(os.path.join(folder, kind), exist_ok=True)
                    current = open(
                        os.path.join(folder, kind, resp.artifact.name.rsplit("/", 1)[1]), "wb"
                    )  # noqa: SIM115
                    count += 1
                if resp.data and current is not None:
                    current.write(resp.data)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            if current is not None:
                current.close()
        return count

    # -- runtime state --------------------------------------------------------

    def issue_control_numbers(
        self, env: str, agreement_id: str, *, transaction_sets: int = 1
    ) -> env_pb.ControlNumbers:
        return self._unary(
            self.environments.IssueControlNumbers,
            env_pb.IssueControlNumbersRequest(
                agreement=artifact_name(env, "agreement", agreement_id),
                transaction_sets=transaction_sets,
            ),
        )

    def list_control_numbers(self, env: str) -> list[env_pb.ControlNumbers]:
        return list(
            self._unary(
                self.environments.ListControlNumbers,
                env_pb.ListControlNumbersRequest(parent=environment_name(env)),
            ).control_numbers
        )

    def record_as2_message(
        self, env: str, message_id: str, mic: str = ""
    ) -> env_pb.RecordAs2MessageResponse:
        return self._unary(
            self.environments.RecordAs2Message,
            env_pb.RecordAs2MessageRequest(
                parent=environment_name(env), message_id=message_id, mic=mic
            ),
        )

    def create_hybrid_connection(
        self, env: str, connection_id: str, endpoint: str
    ) -> env_pb.HybridConnection:
        return self._unary(
            self.environments.CreateHybridConnection,
            env_pb.CreateHybridConnectionRequest(
                parent=environment_name(env),
                hybrid_connection_id=connection_id,
                hybrid_connection=env_pb.HybridConnection(endpoint=endpoint),
            ),
        )

    # -- backups --------------------------------------------------------------

    def create_backup(
        self,
        env: str,
        *,
        allow_batch_loss: bool = False,
        quiesce: bool = False,
        request_id: str = "",
    ) -> Operation:
        op = self._unary(
            self.backups.CreateBackup,
            bk_pb.CreateBackupRequest(
                parent=environment_name(env),
                allow_batch_loss=allow_batch_loss,
                quiesce=quiesce,
                request_id=request_id,
            ),
        )
        return Operation(self, op)

    def get_backup(self, name: str) -> bk_pb.Backup:
        return self._unary(self.backups.GetBackup, bk_pb.GetBackupRequest(name=name))

    def list_backups(self, env: str | None = None) -> Iterator[bk_pb.Backup]:
        token = ""
        parent = environment_name(env) if env else "environments/-"
        while True:
            page = self._unary(
                self.backups.ListBackups,
                bk_pb.ListBackupsRequest(parent=parent, page_token=token, page_size=1000),
            )
            yield from page.backups
            token = page.next_page_token
            if not token:
                return

    def delete_backup(self, name: str) -> None:
        self._unary(self.backups.DeleteBackup, bk_pb.DeleteBackupRequest(name=name))

    def restore(
        self,
        backup: str,
        to: str,
        *,
        edition: int | str = 0,
        region: str = "",
        settings: env_pb.EnvironmentSettings | None = None,
        source_ftp_folders: dict[str, str] | None = None,
        validate_only: bool = False,
        request_id: str = "",
        copy_backup_policy: bool = False,
    ) -> Operation:
        ed = EDITIONS[edition] if isinstance(edition, str) else edition
        op = self._unary(
            self.backups.RestoreBackup,
            bk_pb.RestoreBackupRequest(
                backup=backup,
                environment_id=to,
                edition=ed,
                region=region,
                settings=settings,
                source_ftp_folders=source_ftp_folders or {},
                validate_only=validate_only,
                request_id=request_id,
                copy_backup_policy=copy_backup_policy,
            ),
        )
        return Operation(self, op)

    def backup_status(self, env: str | None = None) -> list[bk_pb.BackupStatus]:
        parent = environment_name(env) if env else "environments/-"
        return list(
            self._unary(
                self.backups.GetBackupStatus, bk_pb.GetBackupStatusRequest(parent=parent)
            ).statuses
        )

    def copy_backup(self, name: str, destination: str, *, request_id: str = "") -> Operation:
        op = self._unary(
            self.backups.CopyBackup,
            mt_pb.CopyBackupRequest(name=name, destination_repository=destination, request_id=request_id),
        )
        return Operation(self, op)

    # -- backup policies ------------------------------------------------------

    def get_backup_policy(self, env: str) -> pol_pb.BackupPolicy:
        """Raises BackupPolicyNotFound when the environment has none."""
        return self._unary(
            self.backups.GetBackupPolicy, pol_pb.GetBackupPolicyRequest(name=policy_name(env))
        )

    def set_backup_policy(
        self,
        env: str,
        *,
        every: float | None = None,
        cron: str = "",
        keep_last: int = 0,
        keep_daily: int = 0,
        keep_weekly: int = 0,
        keep_monthly: int = 0,
        max_age: float | None = None,
        retention: bool | None = None,
        validate_only: bool = False,
    ) -> pol_pb.BackupPolicy:
        """Backs ``env`` up every ``every`` seconds or on a ``cron`` expression (UTC).

        Retention applies when any keep_* or max_age is given (or ``retention``
        is True); otherwise every backup is kept.
        """
        policy = pol_pb.BackupPolicy(name=policy_name(env))
        if every is not None:
            policy.every.CopyFrom(seconds(every))
        if cron:
            policy.cron = cron
        given = any((keep_last, keep_daily, keep_weekly, keep_monthly, max_age is not None))
        if retention or (retention is None and given):
            r = policy.retention
            r.keep_last, r.keep_daily = keep_last, keep_daily
            r.keep_weekly, r.keep_monthly = keep_weekly, keep_monthly
            if max_age is not None:
                r.max_age.CopyFrom(seconds(max_age))
            policy.retention.SetInParent()
        return self._unary(
            self.backups.SetBackupPolicy,
            pol_pb.SetBackupPolicyRequest(policy=policy, validate_only=validate_only),
        )

    def delete_backup_policy(self, env: str, *, allow_missing: bool = False) -> None:
        self._unary(
            self.backups.DeleteBackupPolicy,
            pol_pb.DeleteBackupPolicyRequest(name=policy_name(env), allow_missing=allow_missing),
        )

    # -- repository -----------------------------------------------------------

    def verify_repository(self, *, read_data: bool = False, request_id: str = "") -> Operation:
        op = self._unary(
            self.repository.VerifyRepository,
            mt_pb.VerifyRepositoryRequest(read_data=read_data, request_id=request_id),
        )
        return Operation(self, op)

    def prune_repository(self, *, request_id: str = "") -> Operation:
        op = self._unary(self.repository.PruneRepository, mt_pb.PruneRepositoryRequest(request_id=request_id))
        return Operation(self, op)

    # -- operations -----------------------------------------------------------

    def get_operation(self, name: str) -> ops_pb.Operation:
        return self._unary(self.operations.GetOperation, ops_pb.GetOperationRequest(name=name))

    def operation(self, name: str) -> Operation:
        return Operation(self, self.get_operation(name))

    def list_operations(self, target: str = "", kind: int = 0) -> Iterator[ops_pb.Operation]:
        token = ""
        while True:
            page = self._unary(
                self.operations.ListOperations,
                ops_pb.ListOperationsRequest(
                    target=target, kind=kind, page_token=token, page_size=500
                ),
            )
            yield from page.operations
            token = page.next_page_token
            if not token:
                return


def _pieces(content: bytes | str | os.PathLike[str]) -> Iterator[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
        for i in range(0, len(data), PIECE):
            yield data[i : i + PIECE]
        return
    with open(content, "rb") as f:
        while True:
            piece = f.read(PIECE)
            if not piece:
                return
            yield piece


__all__ = ["Client", "Operation", "StowageError", "artifact_name", "environment_name"]

"""The Python client: the common paths of the Stowage API as one call each.

    from stowage.client import Client

    with Client("127.0.0.1:50051") as c:
        handle = c.create_backup("contoso")
        for event in handle.progress():
            print(event.progress.phase, event.progress.bytes_done)
        backup = handle.result().backup

``stowage.aio.AsyncClient`` has the same methods for asyncio. Failed calls raise
the typed exceptions of ``stowage.errors``. Reads and request_id-carrying writes
are retried by gRPC when the server is unavailable (``stowage.channel``); every
call has a deadline. Watching an operation survives a dropped connection or a
server restart: the watcher reconnects and resumes after the last event it saw.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc

from stowage.v1 import backup_policy_pb2 as pol_pb
from stowage.v1 import (
    backup_service_pb2_grpc,
    environments_pb2_grpc,
    operations_pb2_grpc,
    repository_service_pb2_grpc,
)
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import diffs_pb2 as df_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb

from . import messages
from .channel import options as channel_options
from .credentials import Pem, sync_channel
from .errors import StowageError, from_rpc_error
from .names import (
    COLLECTIONS,
    EDITIONS,
    KIND_NAMES,
    KINDS,
    artifact_kind,
    artifact_name,
    environment_name,
    policy_name,
)
from .operation import RECONNECT_FOR, WATCH_IDLE_TIMEOUT, Operation

DEFAULT_SERVER = "127.0.0.1:50051"
# Streams of artifact content end within this many seconds or fail; raise it
# for very large artifacts over slow links.
TRANSFER_TIMEOUT = 3600.0
Request = TypeVar("Request")
Response = TypeVar("Response")


def default_target() -> str:
    return os.environ.get("STOWAGE_SERVER") or DEFAULT_SERVER


class Client:
    """A synchronous client.

    ``timeout`` is the deadline of every unary call, in seconds;
    ``transfer_timeout`` that of a whole artifact stream; a watcher reopens a
    stream silent for ``watch_idle_timeout`` seconds and gives up after
    ``reconnect_for`` seconds without reaching the server. A ``channel`` passed
    in is used as it is: its own options, retry policy included.

    ``token`` is sent as ``authorization: Bearer <token>`` on every call. TLS is
    used when ``tls`` is true or any of ``tls_ca`` (CA bundle checking the
    server; the system's roots otherwise), ``tls_cert`` and ``tls_key`` (the
    client certificate, for mutual TLS) is given: PEM file paths or bytes.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 60.0,
        transfer_timeout: float = TRANSFER_TIMEOUT,
        watch_idle_timeout: float = WATCH_IDLE_TIMEOUT,
        reconnect_for: float = RECONNECT_FOR,
        channel: grpc.Channel | None = None,
        token: str | None = None,
        tls: bool = False,
        tls_ca: Pem | None = None,
        tls_cert: Pem | None = None,
        tls_key: Pem | None = None,
    ) -> None:
        self.target = target or default_target()
        self.timeout = timeout
        self.transfer_timeout = transfer_timeout
        self.watch_idle_timeout = watch_idle_timeout
        self.reconnect_for = reconnect_for
        self.channel = channel or sync_channel(
            self.target,
            channel_options(),
            token=token,
            tls=tls,
            tls_ca=tls_ca,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        self.environments = environments_pb2_grpc.EnvironmentServiceStub(self.channel)
        self.backups = backup_service_pb2_grpc.BackupServiceStub(self.channel)
        self.operations = operations_pb2_grpc.OperationServiceStub(self.channel)
        self.repository = repository_service_pb2_grpc.RepositoryServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unary(
        self, method: grpc.UnaryUnaryMultiCallable[Request, Response], request: Request
    ) -> Response:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _pages(
        self, fetch: Callable[[str], Any], items: Callable[[Any], Iterable[Response]]
    ) -> Iterator[Response]:
        token = ""
        while True:
            page = fetch(token)
            yield from items(page)
            token = page.next_page_token
            if not token:
                return

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
        """Creates an environment; a random request_id makes the call retry-safe."""
        return self._unary(
            self.environments.ProvisionEnvironment,
            messages.provision(env, edition, region, settings, request_id),
        )

    def get_environment(self, env: str, *, full: bool = False) -> env_pb.Environment:
        return self._unary(self.environments.GetEnvironment, messages.get_environment(env, full))

    def list_environments(self) -> Iterator[env_pb.Environment]:
        return self._pages(
            lambda token: self._unary(
                self.environments.ListEnvironments,
                env_pb.ListEnvironmentsRequest(page_token=token, page_size=messages.PAGE_SIZE),
            ),
            lambda page: page.environments,
        )

    def update_environment(
        self,
        env: str,
        *,
        settings: env_pb.EnvironmentSettings | None = None,
        setting_fields: Iterable[str] = (),
        edition: int | str | None = None,
        region: str | None = None,
    ) -> env_pb.Environment:
        return self._unary(
            self.environments.UpdateEnvironment,
            messages.update_environment(env, settings, setting_fields, edition, region),
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
        requests = messages.put_artifact(env, kind, artifact_id, content, metadata)
        try:
            return self.environments.PutArtifact(requests, timeout=self.transfer_timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def get_artifact(self, env: str, kind: str | int, artifact_id: str) -> env_pb.Artifact:
        return self._unary(
            self.environments.GetArtifact,
            env_pb.GetArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    def read_artifact(self, env: str, kind: str | int, artifact_id: str) -> Iterator[bytes]:
        stream = self.environments.ReadArtifact(
            env_pb.ReadArtifactRequest(name=artifact_name(env, kind, artifact_id)),
            timeout=self.transfer_timeout,
        )
        try:
            for resp in stream:
                if resp.data:
                    yield resp.data
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            stream.cancel()

    def list_artifacts(self, env: str, kind: str | int = 0) -> Iterator[env_pb.Artifact]:
        return self._pages(
            lambda token: self._unary(
                self.environments.ListArtifacts, messages.list_artifacts(env, kind, token)
            ),
            lambda page: page.artifacts,
        )

    def delete_artifact(self, env: str, kind: str | int, artifact_id: str) -> None:
        self._unary(
            self.environments.DeleteArtifact,
            env_pb.DeleteArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    def import_directory(self, env: str, folder: str) -> env_pb.ImportArtifactsResponse:
        """Uploads ``folder/{kind}/{artifact}`` files in one stream (kinds as the CLI spells them)."""
        requests = messages.import_directory(env, messages.directory_files(folder))
        try:
            return self.environments.ImportArtifacts(requests, timeout=self.transfer_timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def export_directory(self, env: str, folder: str) -> int:
        """Writes every artifact to ``folder/{kind}/{artifact}``; returns the count."""
        stream = self.environments.ExportArtifacts(
            env_pb.ExportArtifactsRequest(parent=environment_name(env)),
            timeout=self.transfer_timeout,
        )
        writer = ArtifactFiles(folder)
        try:
            for resp in stream:
                if resp.HasField("artifact"):
                    writer.start(resp.artifact)
                if resp.data:
                    writer.write(resp.data)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            writer.close()
            stream.cancel()
        return writer.count

    # -- runtime state --------------------------------------------------------

    def issue_control_numbers(
        self, env: str, agreement_id: str, *, transaction_sets: int = 1
    ) -> env_pb.ControlNumbers:
        return self._unary(
            self.environments.IssueControlNumbers,
            messages.issue_control_numbers(env, agreement_id, transaction_sets),
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
            messages.create_hybrid_connection(env, connection_id, endpoint),
        )

    def add_batch_message(self, env: str, batch: str, message_id: str) -> env_pb.Batch:
        return self._unary(
            self.environments.AddBatchMessage,
            env_pb.AddBatchMessageRequest(
                batch=messages.batch_name(env, batch), message_id=message_id
            ),
        )

    def release_batch(self, env: str, batch: str) -> env_pb.Batch:
        return self._unary(
            self.environments.ReleaseBatch,
            env_pb.ReleaseBatchRequest(name=messages.batch_name(env, batch)),
        )

    def list_batches(self, env: str) -> list[env_pb.Batch]:
        return list(
            self._unary(
                self.environments.ListBatches,
                env_pb.ListBatchesRequest(parent=environment_name(env)),
            ).batches
        )

    def delete_hybrid_connection(self, env: str, connection_id: str) -> None:
        self._unary(
            self.environments.DeleteHybridConnection,
            env_pb.DeleteHybridConnectionRequest(
                name=messages.hybrid_connection_name(env, connection_id)
            ),
        )

    def list_hybrid_connections(self, env: str) -> list[env_pb.HybridConnection]:
        return list(
            self._unary(
                self.environments.ListHybridConnections,
                env_pb.ListHybridConnectionsRequest(parent=environment_name(env)),
            ).hybrid_connections
        )

    def acknowledge_checklist_item(
        self, env: str, item_id: str, *, note: str = ""
    ) -> env_pb.ChecklistItem:
        """Closes an item of a restored environment's checklist by hand."""
        return self._unary(
            self.environments.AcknowledgeChecklistItem,
            env_pb.AcknowledgeChecklistItemRequest(
                name=messages.checklist_item_name(env, item_id), note=note
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
        """Starts a backup; the handle's ``progress()`` and ``result()`` follow it.

        Without a ``request_id`` a random one is sent, so that gRPC may retry
        the call without starting a second backup.
        """
        op = self._unary(
            self.backups.CreateBackup,
            messages.create_backup(env, allow_batch_loss, quiesce, request_id),
        )
        return Operation(self, op)

    def get_backup(self, name: str) -> bk_pb.Backup:
        return self._unary(self.backups.GetBackup, bk_pb.GetBackupRequest(name=name))

    def list_backups(self, env: str | None = None) -> Iterator[bk_pb.Backup]:
        return self._pages(
            lambda token: self._unary(self.backups.ListBackups, messages.list_backups(env, token)),
            lambda page: page.backups,
        )

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
        control_numbers: str | int = 0,
        control_number_margin: int = 0,
    ) -> Operation:
        """Starts a restore of ``backup`` into a new environment ``to``.

        Without a ``request_id`` a random one is sent, so that gRPC may retry
        the call without starting a second restore.
        """
        op = self._unary(
            self.backups.RestoreBackup,
            messages.restore(
                backup,
                to,
                edition,
                region,
                settings,
                source_ftp_folders,
                validate_only,
                request_id,
                copy_backup_policy,
                control_numbers,
                control_number_margin,
            ),
        )
        return Operation(self, op)

    def restore_into(
        self,
        backup: str,
        env: str,
        *,
        kinds: Iterable[str | int] = (),
        artifacts: Iterable[str] = (),
        source_ftp_folders: dict[str, str] | None = None,
        control_numbers: str | int = 0,
        control_number_margin: int = 0,
        validate_only: bool = False,
        request_id: str = "",
    ) -> Operation:
        """Restores chosen artifacts of ``backup`` into the existing SUSPENDED
        environment ``env``: every artifact of ``kinds`` ("agreement") and each
        of ``artifacts`` ("agreement/ID" or "agreements/ID")."""
        op = self._unary(
            self.backups.RestoreBackup,
            messages.restore_into(
                backup,
                env,
                kinds,
                artifacts,
                source_ftp_folders,
                control_numbers,
                control_number_margin,
                validate_only,
                request_id,
            ),
        )
        return Operation(self, op)

    def drill_backup(self, name: str, *, request_id: str = "") -> Operation:
        """Starts a restore drill: the backup restored into a sandbox, checked
        and deleted; the result says whether it passed."""
        op = self._unary(self.backups.DrillBackup, messages.drill_backup(name, request_id))
        return Operation(self, op)

    def diff_backup(
        self,
        name: str,
        *,
        other_backup: str | None = None,
        live_environment: str | None = None,
    ) -> df_pb.DiffBackupResponse:
        """What changed from ``name`` to another backup or a live environment."""
        return self._unary(
            self.backups.DiffBackup,
            messages.diff_backup(name, other_backup, live_environment),
        )

    def backup_status(self, env: str | None = None) -> list[bk_pb.BackupStatus]:
        return list(self._unary(self.backups.GetBackupStatus, messages.backup_status(env)).statuses)

    def copy_backup(self, name: str, destination: str, *, request_id: str = "") -> Operation:
        """Starts a copy of a backup to a second repository (among the server's
        allowed copy destinations)."""
        op = self._unary(
            self.backups.CopyBackup, messages.copy_backup(name, destination, request_id)
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
        drill_every: float | None = None,
    ) -> pol_pb.BackupPolicy:
        """Backs ``env`` up every ``every`` seconds or on a ``cron`` expression
        (UTC), replacing any policy it had. Retention applies when a keep_* rule
        or max_age is given (or ``retention`` is True); otherwise every backup
        is kept. ``drill_every`` (seconds) schedules restore drills of the
        newest backup."""
        return self._unary(
            self.backups.SetBackupPolicy,
            messages.set_backup_policy(
                env,
                every,
                cron,
                (keep_last, keep_daily, keep_weekly, keep_monthly),
                max_age,
                retention,
                validate_only,
                drill_every,
            ),
        )

    def delete_backup_policy(self, env: str, *, allow_missing: bool = False) -> None:
        """Stops automatic backups of ``env``; the backups taken stay."""
        self._unary(
            self.backups.DeleteBackupPolicy,
            pol_pb.DeleteBackupPolicyRequest(name=policy_name(env), allow_missing=allow_missing),
        )

    # -- repository -----------------------------------------------------------

    def verify_repository(self, *, read_data: bool = False, request_id: str = "") -> Operation:
        """Starts a verify; with ``read_data`` every stored blob is re-hashed."""
        op = self._unary(
            self.repository.VerifyRepository, messages.verify_repository(read_data, request_id)
        )
        return Operation(self, op)

    def prune_repository(self, *, request_id: str = "") -> Operation:
        """Starts a prune: deletes what no backup references."""
        op = self._unary(self.repository.PruneRepository, messages.prune_repository(request_id))
        return Operation(self, op)

    def rotate_key(self, *, request_id: str = "") -> Operation:
        """Starts a rotation of the repository key (admin): every data key is
        re-wrapped under a new master key, and the old key opens nothing."""
        op = self._unary(self.repository.RotateKey, messages.rotate_key(request_id))
        return Operation(self, op)

    # -- operations -----------------------------------------------------------

    def get_operation(self, name: str) -> ops_pb.Operation:
        return self._unary(self.operations.GetOperation, ops_pb.GetOperationRequest(name=name))

    def operation(self, name: str) -> Operation:
        """A handle on an existing operation, to watch or wait for it."""
        return Operation(self, self.get_operation(name))

    def list_operations(self, target: str = "", kind: int = 0) -> Iterator[ops_pb.Operation]:
        return self._pages(
            lambda token: self._unary(
                self.operations.ListOperations, messages.list_operations(target, kind, token)
            ),
            lambda page: page.operations,
        )


class ArtifactFiles:
    """Writes an export stream to ``folder/{kind}/{artifact}`` files, one at a time."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.count = 0
        self._current: Any = None

    def start(self, artifact: env_pb.Artifact) -> None:
        self.close()
        kind = KIND_NAMES[artifact.kind]
        os.makedirs(os.path.join(self.folder, kind), exist_ok=True)
        path = os.path.join(self.folder, kind, artifact.name.rsplit("/", 1)[1])
        self._current = open(path, "wb")  # noqa: SIM115 (closed by start() or close())
        self.count += 1

    def write(self, data: bytes) -> None:
        if self._current is not None:
            self._current.write(data)

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


__all__ = [
    "COLLECTIONS",
    "DEFAULT_SERVER",
    "EDITIONS",
    "KINDS",
    "KIND_NAMES",
    "Client",
    "Operation",
    "StowageError",
    "artifact_kind",
    "artifact_name",
    "environment_name",
]

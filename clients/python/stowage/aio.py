"""The asyncio client: ``Client``'s methods, awaited, over grpc.aio.

    from stowage.aio import AsyncClient

    async with AsyncClient("127.0.0.1:50051") as c:
        handle = await c.create_backup("contoso")
        async for event in handle.progress():
            print(event.progress.phase, event.progress.bytes_done)
        backup = (await handle.result()).backup

Requests, retries, deadlines and errors are those of the sync client; list
methods return async iterators (``async for env in c.list_environments()``).
File reads and writes run in worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
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
from .client import TRANSFER_TIMEOUT, ArtifactFiles, default_target
from .credentials import Pem, aio_channel
from .errors import from_rpc_error
from .names import artifact_name, environment_name, policy_name
from .operation import (
    FIRST_PAUSE,
    LONGEST_PAUSE,
    RECONNECT_FOR,
    TRANSIENT_CODES,
    WATCH_IDLE_TIMEOUT,
    apply_event,
    is_terminal,
    operation_error,
    unreachable,
)

Request = TypeVar("Request")
Response = TypeVar("Response")
Item = TypeVar("Item")


def _is_transient(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in TRANSIENT_CODES


class AsyncOperation:
    """A handle on a long-running operation, for asyncio: watch, wait, cancel.

    The same guarantees as ``stowage.operation.Operation``: events arrive
    exactly once, in order, across reconnections and server restarts.
    """

    def __init__(self, client: AsyncClient, op: ops_pb.Operation) -> None:
        self._client = client
        self.operation = op
        self.last_sequence = 0

    @property
    def name(self) -> str:
        return self.operation.name

    async def progress(
        self, *, idle_timeout: float | None = None, reconnect_for: float | None = None
    ) -> AsyncIterator[ops_pb.OperationEvent]:
        """Every event after the last one seen, up to the terminal one, exactly once."""
        idle = idle_timeout or self._client.watch_idle_timeout
        budget = reconnect_for or self._client.reconnect_for
        give_up = time.monotonic() + budget
        pause = FIRST_PAUSE
        while True:
            call = self._client.operations.WatchOperation(
                ops_pb.WatchOperationRequest(name=self.name, after_sequence=self.last_sequence)
            )
            try:
                while True:
                    try:
                        # Only the wait for the server is bounded, never the consumer.
                        event = await asyncio.wait_for(call.read(), idle)
                    except TimeoutError:
                        call.cancel()
                        if await self._reachable():
                            give_up = time.monotonic() + budget
                            if self._nothing_left():
                                return
                        break
                    if event is grpc.aio.EOF:
                        if await self._reachable() and self.operation.done:
                            return
                        break
                    assert isinstance(event, ops_pb.OperationEvent)
                    give_up, pause = time.monotonic() + budget, FIRST_PAUSE
                    self.last_sequence = event.sequence
                    apply_event(self.operation, event)
                    yield event
                    if is_terminal(event):
                        return
            except grpc.RpcError as e:
                if not _is_transient(e) or time.monotonic() > give_up:
                    raise from_rpc_error(e) from None
            finally:
                call.cancel()
            if time.monotonic() > give_up:
                raise unreachable(self.name, budget)
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    async def _reachable(self) -> bool:
        """Refreshes the operation; False when the server cannot be reached."""
        try:
            self.operation = await self._client.operations.GetOperation(
                ops_pb.GetOperationRequest(name=self.name), timeout=self._client.timeout
            )
        except grpc.RpcError as e:
            if _is_transient(e):
                return False
            raise from_rpc_error(e) from None
        return True

    def _nothing_left(self) -> bool:
        return self.operation.done and self.operation.last_sequence <= self.last_sequence

    async def result(self) -> ops_pb.Operation:
        """Waits for the end; returns the operation, or raises its typed error."""
        if not self.operation.done:
            async for _ in self.progress():
                pass
        if not self.operation.done:
            await self.refresh()
        if self.operation.state != ops_pb.Operation.STATE_SUCCEEDED:
            raise operation_error(self.operation)
        return self.operation

    async def refresh(self) -> ops_pb.Operation:
        """Fetches the operation's latest state."""
        self.operation = await self._client.get_operation(self.name)
        return self.operation

    async def cancel(self) -> ops_pb.Operation:
        """Asks the operation to stop; returns it as the server then reports it."""
        self.operation = await self._client._unary(
            self._client.operations.CancelOperation, ops_pb.CancelOperationRequest(name=self.name)
        )
        return self.operation


class AsyncClient:
    """An asyncio client with the methods of ``stowage.client.Client``."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 60.0,
        transfer_timeout: float = TRANSFER_TIMEOUT,
        watch_idle_timeout: float = WATCH_IDLE_TIMEOUT,
        reconnect_for: float = RECONNECT_FOR,
        channel: grpc.aio.Channel | None = None,
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
        self.channel = channel or aio_channel(
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

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _unary(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Request, Response],
        request: Request,
    ) -> Response:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    async def _pages(
        self,
        fetch: Callable[[str], Awaitable[Any]],
        items: Callable[[Any], Iterable[Item]],
    ) -> AsyncIterator[Item]:
        token = ""
        while True:
            page = await fetch(token)
            for item in items(page):
                yield item
            token = page.next_page_token
            if not token:
                return

    # -- environments ---------------------------------------------------------

    async def provision(
        self,
        env: str,
        edition: int | str,
        *,
        region: str = "",
        settings: env_pb.EnvironmentSettings | None = None,
        request_id: str = "",
    ) -> env_pb.Environment:
        """Creates an environment; a random request_id makes the call retry-safe."""
        return await self._unary(
            self.environments.ProvisionEnvironment,
            messages.provision(env, edition, region, settings, request_id),
        )

    async def get_environment(self, env: str, *, full: bool = False) -> env_pb.Environment:
        return await self._unary(
            self.environments.GetEnvironment, messages.get_environment(env, full)
        )

    def list_environments(self) -> AsyncIterator[env_pb.Environment]:
        return self._pages(
            lambda token: self._unary(
                self.environments.ListEnvironments,
                env_pb.ListEnvironmentsRequest(page_token=token, page_size=messages.PAGE_SIZE),
            ),
            lambda page: page.environments,
        )

    async def update_environment(
        self,
        env: str,
        *,
        settings: env_pb.EnvironmentSettings | None = None,
        setting_fields: Iterable[str] = (),
        edition: int | str | None = None,
        region: str | None = None,
    ) -> env_pb.Environment:
        return await self._unary(
            self.environments.UpdateEnvironment,
            messages.update_environment(env, settings, setting_fields, edition, region),
        )

    async def delete_environment(self, env: str) -> None:
        await self._unary(
            self.environments.DeleteEnvironment,
            env_pb.DeleteEnvironmentRequest(name=environment_name(env)),
        )

    async def suspend(self, env: str) -> env_pb.Environment:
        return await self._unary(
            self.environments.SuspendEnvironment,
            env_pb.SuspendEnvironmentRequest(name=environment_name(env)),
        )

    async def resume(self, env: str, *, force: bool = False) -> env_pb.Environment:
        return await self._unary(
            self.environments.ResumeEnvironment,
            env_pb.ResumeEnvironmentRequest(name=environment_name(env), force=force),
        )

    # -- artifacts ------------------------------------------------------------

    async def put_artifact(
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
            return await self.environments.PutArtifact(
                _in_thread(requests), timeout=self.transfer_timeout
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    async def get_artifact(self, env: str, kind: str | int, artifact_id: str) -> env_pb.Artifact:
        return await self._unary(
            self.environments.GetArtifact,
            env_pb.GetArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    async def read_artifact(
        self, env: str, kind: str | int, artifact_id: str
    ) -> AsyncIterator[bytes]:
        call = self.environments.ReadArtifact(
            env_pb.ReadArtifactRequest(name=artifact_name(env, kind, artifact_id)),
            timeout=self.transfer_timeout,
        )
        try:
            async for resp in call:
                if resp.data:
                    yield resp.data
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()

    def list_artifacts(self, env: str, kind: str | int = 0) -> AsyncIterator[env_pb.Artifact]:
        return self._pages(
            lambda token: self._unary(
                self.environments.ListArtifacts, messages.list_artifacts(env, kind, token)
            ),
            lambda page: page.artifacts,
        )

    async def delete_artifact(self, env: str, kind: str | int, artifact_id: str) -> None:
        await self._unary(
            self.environments.DeleteArtifact,
            env_pb.DeleteArtifactRequest(name=artifact_name(env, kind, artifact_id)),
        )

    async def import_directory(self, env: str, folder: str) -> env_pb.ImportArtifactsResponse:
        """Uploads ``folder/{kind}/{artifact}`` files in one stream (kinds as the CLI spells them)."""
        files = await asyncio.to_thread(messages.directory_files, folder)
        requests = messages.import_directory(env, files)
        try:
            return await self.environments.ImportArtifacts(
                _in_thread(requests), timeout=self.transfer_timeout
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    async def export_directory(self, env: str, folder: str) -> int:
        """Writes every artifact to ``folder/{kind}/{artifact}``; returns the count."""
        call = self.environments.ExportArtifacts(
            env_pb.ExportArtifactsRequest(parent=environment_name(env)),
            timeout=self.transfer_timeout,
        )
        writer = ArtifactFiles(folder)
        try:
            async for resp in call:
                if resp.HasField("artifact"):
                    await asyncio.to_thread(writer.start, resp.artifact)
                if resp.data:
                    await asyncio.to_thread(writer.write, resp.data)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            writer.close()
            call.cancel()
        return writer.count

    # -- runtime state --------------------------------------------------------

    async def issue_control_numbers(
        self, env: str, agreement_id: str, *, transaction_sets: int = 1
    ) -> env_pb.ControlNumbers:
        return await self._unary(
            self.environments.IssueControlNumbers,
            messages.issue_control_numbers(env, agreement_id, transaction_sets),
        )

    async def list_control_numbers(self, env: str) -> list[env_pb.ControlNumbers]:
        resp = await self._unary(
            self.environments.ListControlNumbers,
            env_pb.ListControlNumbersRequest(parent=environment_name(env)),
        )
        return list(resp.control_numbers)

    async def record_as2_message(
        self, env: str, message_id: str, mic: str = ""
    ) -> env_pb.RecordAs2MessageResponse:
        return await self._unary(
            self.environments.RecordAs2Message,
            env_pb.RecordAs2MessageRequest(
                parent=environment_name(env), message_id=message_id, mic=mic
            ),
        )

    async def create_hybrid_connection(
        self, env: str, connection_id: str, endpoint: str
    ) -> env_pb.HybridConnection:
        return await self._unary(
            self.environments.CreateHybridConnection,
            messages.create_hybrid_connection(env, connection_id, endpoint),
        )

    async def add_batch_message(self, env: str, batch: str, message_id: str) -> env_pb.Batch:
        return await self._unary(
            self.environments.AddBatchMessage,
            env_pb.AddBatchMessageRequest(
                batch=messages.batch_name(env, batch), message_id=message_id
            ),
        )

    async def release_batch(self, env: str, batch: str) -> env_pb.Batch:
        return await self._unary(
            self.environments.ReleaseBatch,
            env_pb.ReleaseBatchRequest(name=messages.batch_name(env, batch)),
        )

    async def list_batches(self, env: str) -> list[env_pb.Batch]:
        resp = await self._unary(
            self.environments.ListBatches, env_pb.ListBatchesRequest(parent=environment_name(env))
        )
        return list(resp.batches)

    async def delete_hybrid_connection(self, env: str, connection_id: str) -> None:
        await self._unary(
            self.environments.DeleteHybridConnection,
            env_pb.DeleteHybridConnectionRequest(
                name=messages.hybrid_connection_name(env, connection_id)
            ),
        )

    async def list_hybrid_connections(self, env: str) -> list[env_pb.HybridConnection]:
        resp = await self._unary(
            self.environments.ListHybridConnections,
            env_pb.ListHybridConnectionsRequest(parent=environment_name(env)),
        )
        return list(resp.hybrid_connections)

    async def acknowledge_checklist_item(
        self, env: str, item_id: str, *, note: str = ""
    ) -> env_pb.ChecklistItem:
        """Closes an item of a restored environment's checklist by hand."""
        return await self._unary(
            self.environments.AcknowledgeChecklistItem,
            env_pb.AcknowledgeChecklistItemRequest(
                name=messages.checklist_item_name(env, item_id), note=note
            ),
        )

    # -- backups --------------------------------------------------------------

    async def create_backup(
        self,
        env: str,
        *,
        allow_batch_loss: bool = False,
        quiesce: bool = False,
        request_id: str = "",
    ) -> AsyncOperation:
        """Starts a backup; without a ``request_id`` a random one makes it retry-safe."""
        op = await self._unary(
            self.backups.CreateBackup,
            messages.create_backup(env, allow_batch_loss, quiesce, request_id),
        )
        return AsyncOperation(self, op)

    async def get_backup(self, name: str) -> bk_pb.Backup:
        return await self._unary(self.backups.GetBackup, bk_pb.GetBackupRequest(name=name))

    def list_backups(self, env: str | None = None) -> AsyncIterator[bk_pb.Backup]:
        return self._pages(
            lambda token: self._unary(self.backups.ListBackups, messages.list_backups(env, token)),
            lambda page: page.backups,
        )

    async def delete_backup(self, name: str) -> None:
        await self._unary(self.backups.DeleteBackup, bk_pb.DeleteBackupRequest(name=name))

    async def restore(
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
    ) -> AsyncOperation:
        """Starts a restore; without a ``request_id`` a random one makes it retry-safe."""
        op = await self._unary(
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
        return AsyncOperation(self, op)

    async def restore_into(
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
    ) -> AsyncOperation:
        """Restores chosen artifacts of ``backup`` into the existing SUSPENDED
        environment ``env``: every artifact of ``kinds`` ("agreement") and each
        of ``artifacts`` ("agreement/ID" or "agreements/ID")."""
        op = await self._unary(
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
        return AsyncOperation(self, op)

    async def drill_backup(self, name: str, *, request_id: str = "") -> AsyncOperation:
        """Starts a restore drill: the backup restored into a sandbox, checked
        and deleted; the result says whether it passed."""
        op = await self._unary(self.backups.DrillBackup, messages.drill_backup(name, request_id))
        return AsyncOperation(self, op)

    async def diff_backup(
        self,
        name: str,
        *,
        other_backup: str | None = None,
        live_environment: str | None = None,
    ) -> df_pb.DiffBackupResponse:
        """What changed from ``name`` to another backup or a live environment."""
        return await self._unary(
            self.backups.DiffBackup,
            messages.diff_backup(name, other_backup, live_environment),
        )

    async def backup_status(self, env: str | None = None) -> list[bk_pb.BackupStatus]:
        resp = await self._unary(self.backups.GetBackupStatus, messages.backup_status(env))
        return list(resp.statuses)

    async def copy_backup(
        self, name: str, destination: str, *, request_id: str = ""
    ) -> AsyncOperation:
        """Starts a copy of a backup to a second repository (among the server's
        allowed copy destinations)."""
        op = await self._unary(
            self.backups.CopyBackup, messages.copy_backup(name, destination, request_id)
        )
        return AsyncOperation(self, op)

    # -- backup policies ------------------------------------------------------

    async def get_backup_policy(self, env: str) -> pol_pb.BackupPolicy:
        """Raises BackupPolicyNotFound when the environment has none."""
        return await self._unary(
            self.backups.GetBackupPolicy, pol_pb.GetBackupPolicyRequest(name=policy_name(env))
        )

    async def set_backup_policy(
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
        return await self._unary(
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

    async def delete_backup_policy(self, env: str, *, allow_missing: bool = False) -> None:
        """Stops automatic backups of ``env``; the backups taken stay."""
        await self._unary(
            self.backups.DeleteBackupPolicy,
            pol_pb.DeleteBackupPolicyRequest(name=policy_name(env), allow_missing=allow_missing),
        )

    # -- repository -----------------------------------------------------------

    async def verify_repository(
        self, *, read_data: bool = False, request_id: str = ""
    ) -> AsyncOperation:
        """Starts a verify; with ``read_data`` every stored blob is re-hashed."""
        op = await self._unary(
            self.repository.VerifyRepository, messages.verify_repository(read_data, request_id)
        )
        return AsyncOperation(self, op)

    async def prune_repository(self, *, request_id: str = "") -> AsyncOperation:
        """Starts a prune: deletes what no backup references."""
        op = await self._unary(
            self.repository.PruneRepository, messages.prune_repository(request_id)
        )
        return AsyncOperation(self, op)

    async def rotate_key(self, *, request_id: str = "") -> AsyncOperation:
        """Starts a rotation of the repository key (admin)."""
        op = await self._unary(self.repository.RotateKey, messages.rotate_key(request_id))
        return AsyncOperation(self, op)

    # -- operations -----------------------------------------------------------

    async def get_operation(self, name: str) -> ops_pb.Operation:
        return await self._unary(
            self.operations.GetOperation, ops_pb.GetOperationRequest(name=name)
        )

    async def operation(self, name: str) -> AsyncOperation:
        """A handle on an existing operation, to watch or wait for it."""
        return AsyncOperation(self, await self.get_operation(name))

    def list_operations(self, target: str = "", kind: int = 0) -> AsyncIterator[ops_pb.Operation]:
        return self._pages(
            lambda token: self._unary(
                self.operations.ListOperations, messages.list_operations(target, kind, token)
            ),
            lambda page: page.operations,
        )


_END = object()


async def _in_thread(items: Iterator[Item]) -> AsyncIterator[Item]:
    """Pulls a blocking iterator (file reads) in a worker thread, item by item."""
    while True:
        item = await asyncio.to_thread(next, items, _END)
        if item is _END:
            return
        yield item  # type: ignore[misc]


__all__ = ["AsyncClient", "AsyncOperation"]

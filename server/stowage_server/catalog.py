"""The backup catalog: listing, reading and deleting backups, and the status of
each environment's last backup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage.repository import RecordNotFound, RecordRef, Repository, RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .clock import timestamp
from .errors import DataLoss, backup_not_found, from_storage
from .operations import OperationStore
from .policies import PolicyEngine, next_drill_time
from .registry import Registry
from .scheduled_runs import QUEUED, REFUSED, ScheduledRun

T = TypeVar("T")
Op = ops_pb.Operation


class BackupCatalog:
    def __init__(
        self,
        repo: Repository,
        registry: Registry,
        operations: OperationStore,
        executor: Executor | None,
        policies: PolicyEngine | None = None,
    ) -> None:
        self.repo = repo
        self.registry = registry
        self.operations = operations
        self._executor = executor
        self.policies = policies
        # The latest restore drill of an environment (environment id, uid);
        # set by assembly once the drill engine exists.
        self.last_drill: Callable[[str, str], Awaitable[bk_pb.DrillAttempt | None]] | None = None
        # Records never change once written, so a read one can be kept.
        self._records: dict[RecordRef, bk_pb.Backup] = {}

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def get(self, name: str, field: str = "name") -> bk_pb.Backup:
        bname = names.parse_backup(name, field)
        return await self._read(RecordRef(bname.environment, bname.backup_id))

    async def _read(self, ref: RecordRef) -> bk_pb.Backup:
        cached = self._records.get(ref)
        if cached is not None:
            return cached
        try:
            raw = await self.repo.get_record(ref)
        except RecordNotFound:
            raise backup_not_found(
                f"environments/{ref.environment}/backups/{ref.backup_id}"
            ) from None
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        try:
            backup = bk_pb.Backup.FromString(raw)
        except DecodeError as e:
            raise DataLoss(f"backup record {ref.environment}/{ref.backup_id} is unreadable") from e
        self._records[ref] = backup
        return backup

    async def list(
        self, env_id: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[bk_pb.Backup]:
        """Newest first; ``after`` is the (backup id, environment) of the last one seen."""
        try:
            refs = await self.repo.list_records(env_id)
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        keys = sorted(((r.backup_id, r.environment) for r in refs), reverse=True)
        if after is not None:
            keys = [k for k in keys if k < tuple(after)]
        out = []
        for backup_id, env in keys[:limit]:
            try:
                out.append(await self._read(RecordRef(env, backup_id)))
            except Exception as e:  # a deleted or damaged record must not hide the others
                if getattr(e, "reason", "") != "BACKUP_NOT_FOUND":
                    raise
        return out

    async def delete(self, name: str) -> None:
        bname = names.parse_backup(name)
        ref = RecordRef(bname.environment, bname.backup_id)
        try:
            # The record first: from here on the backup is gone for every reader. Then
            # its data key, which makes the backup's secrets unrecoverable.
            await self.repo.delete_record(ref)
            await self.repo.store.delete(f"keys/{ref.environment}/{ref.backup_id}")
        except RecordNotFound:
            raise backup_not_found(str(bname)) from None
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        self._records.pop(ref, None)

    async def status(self, env_id: str | None) -> list[bk_pb.BackupStatus]:
        if env_id is not None:
            await self._run(lambda: self.registry.get(env_id))
            env_ids = [env_id]
        else:
            env_ids = await self._run(self.registry.live_names)
        out = []
        for e in env_ids:
            target = names.environment_name(e)
            last = await self._run(
                lambda t=target: self.operations.latest(
                    t,
                    Op.KIND_BACKUP,
                    (Op.STATE_RUNNING, Op.STATE_SUCCEEDED, Op.STATE_FAILED, Op.STATE_CANCELLED),
                )
            )
            good = await self._run(
                lambda t=target: self.operations.latest(t, Op.KIND_BACKUP, (Op.STATE_SUCCEEDED,))
            )
            status = bk_pb.BackupStatus(environment=target)
            if last is not None:
                status.last_backup.CopyFrom(attempt(last))
            if good is not None:
                status.last_successful_backup.CopyFrom(attempt(good))
            if self.policies is not None:
                await self._scheduled(e, status)
            if self.last_drill is not None:
                await self._drill(e, status)
            out.append(status)
        return out

    async def _drill(self, env_id: str, status: bk_pb.BackupStatus) -> None:
        assert self.last_drill is not None
        try:
            env = await self._run(lambda: self.registry.get(env_id))
        except Exception as e:  # deleted meanwhile
            if getattr(e, "reason", "") == "ENVIRONMENT_NOT_FOUND":
                return
            raise
        drill = await self.last_drill(env_id, env.uid)
        if drill is not None:
            status.last_drill.CopyFrom(drill)

    async def _scheduled(self, env_id: str, status: bk_pb.BackupStatus) -> None:
        """The policy, its next run and its last attempt. A refused scheduled
        attempt made no operation, yet it is the latest backup attempt too."""
        assert self.policies is not None
        try:
            env = await self._run(lambda: self.registry.get(env_id))
        except Exception as e:  # deleted meanwhile
            if getattr(e, "reason", "") == "ENVIRONMENT_NOT_FOUND":
                return
            raise
        state = await self.policies.state(env.uid)
        if state.policy is not None:
            status.backup_policy.CopyFrom(state.policy)
            next_drill = next_drill_time(state.policy, self.policies.clock.now())
            if next_drill is not None:
                status.backup_policy.next_drill_time.FromMilliseconds(next_drill)
        if state.next_run is not None:
            status.next_run_time.FromMilliseconds(state.next_run)
            status.backup_policy.next_run_time.FromMilliseconds(state.next_run)
        run = state.last_run
        if run is None:
            return
        op = None
        if run.operation:
            op_id = run.operation.split("/")[1]
            try:
                op = await self._run(lambda: self.operations.get(op_id))
            except Exception as e:
                if getattr(e, "reason", "") != "OPERATION_NOT_FOUND":
                    raise
        scheduled = scheduled_attempt(run, op)
        status.last_scheduled_backup.CopyFrom(scheduled)
        if scheduled.state == "REFUSED" and (
            not status.HasField("last_backup")
            or scheduled.start_time.ToNanoseconds() >= status.last_backup.start_time.ToNanoseconds()
        ):
            status.last_backup.CopyFrom(scheduled)


@dataclass
class Walked:
    """One backup as maintenance sees it: what could be read, and what could not."""

    ref: RecordRef
    backup: bk_pb.Backup | None = None
    # The manifest's other fields, and its items parsed one at a time as they
    # are walked (parsed whole, a manifest takes about five times its size).
    manifest: mf_pb.BackupManifest | None = None
    items: Sequence[mf_pb.ManifestItem] | None = None
    problem: str = ""
    problem_object: str = ""

    @property
    def name(self) -> str:
        return f"environments/{self.ref.environment}/backups/{self.ref.backup_id}"


async def walk(repo: Repository) -> AsyncIterator[Walked]:
    """Every backup record with its manifest, in name order; unreadable parts are
    reported on the item rather than raised, so one bad backup hides no other."""
    for ref in sorted(await repo.list_records(), key=lambda r: (r.environment, r.backup_id)):
        w = Walked(ref)
        record_key = f"backups/{ref.environment}/{ref.backup_id}"
        try:
            w.backup = bk_pb.Backup.FromString(await repo.get_record(ref))
        except (RepositoryError, DecodeError, RecordNotFound) as e:
            w.problem, w.problem_object = f"backup record is unreadable: {e}", record_key
            yield w
            continue
        manifest_key = f"manifests/{w.backup.manifest_sha256}"
        try:
            _, header, items = await mf.read(repo, w.backup.manifest_sha256)
            for _ in items:
                pass  # a damaged item is reported here, not met halfway through a prune
            w.manifest, w.items = header, items
        except (RepositoryError, DecodeError, ValueError) as e:
            w.problem, w.problem_object = (
                f"manifest is missing, truncated or corrupt: {e}",
                manifest_key,
            )
        yield w


def attempt(op: Op) -> bk_pb.BackupAttempt:
    a = bk_pb.BackupAttempt(
        operation=op.name,
        state=Op.State.Name(op.state).removeprefix("STATE_"),
        start_time=op.start_time if op.HasField("start_time") else op.create_time,
    )
    if op.HasField("end_time"):
        a.end_time.CopyFrom(op.end_time)
    if op.HasField("backup"):
        a.backup = op.backup.name
        a.size_bytes = op.backup.size_bytes
        a.trigger = op.backup.trigger
    if op.HasField("error"):
        a.error.CopyFrom(op.error)
    return a


def scheduled_attempt(run: ScheduledRun, op: Op | None) -> bk_pb.BackupAttempt:
    """A scheduled run as an attempt: its operation's, or, before or without
    one, QUEUED or REFUSED (with the rule's error) or FAILED (interrupted)."""
    if op is not None:
        a = attempt(op)
    else:
        state = {QUEUED: "QUEUED", REFUSED: "REFUSED"}.get(run.state, "FAILED")
        a = bk_pb.BackupAttempt(state=state)
        if run.state != QUEUED:
            a.start_time.CopyFrom(timestamp(run.claim_time))
        if run.end_time is not None:
            a.end_time.CopyFrom(timestamp(run.end_time))
        if run.error:
            a.error.ParseFromString(run.error)
    a.trigger = bk_pb.Backup.TRIGGER_SCHEDULED
    a.scheduled_time.FromMilliseconds(run.slot)
    return a

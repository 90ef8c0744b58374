"""The restore engine: check everything, verify every blob, then create the
environment in one transaction, SUSPENDED (R4 to R8, R10).

Order is the safety argument (R6): content is read from the repository and
verified against its digests into staging files that no environment can see;
only when every item has checked out does one registry transaction create the
environment with all of it. A corrupt blob, a cancel or a crash before that
leaves no environment behind.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.message import DecodeError

from stowage.v1 import (
    backups_pb2 as bk_pb,
)
from stowage.v1 import (
    common_pb2,
    error_reason_pb2,
)
from stowage.v1 import (
    environments_pb2 as env_pb,
)
from stowage.v1 import (
    manifest_pb2 as mf_pb,
)
from stowage.v1 import (
    operations_pb2 as ops_pb,
)
from stowage_storage.chunker import Chunk
from stowage_storage.crypto import DecryptionFailed, MasterKey
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.repository import (
    RecordNotFound,
    RecordRef,
    Repository,
    RepositoryError,
)
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from . import settings as settings_mod
from .clock import Clock, rfc3339
from .content import StagedContent
from .editions import EditionPolicy, edition_name, edition_word
from .errors import (
    Collected,
    DataLoss,
    FailedPrecondition,
    Violation,
    backup_not_found,
    from_storage,
)
from .operations import OperationContext, OperationManager, request_hash
from .registry import FTP_FOLDER, ControlNumberRecord, Registry, RestorePlanData

T = TypeVar("T")
W = bk_pb.RestoreWarning
# How long a restore waits for a running prune to release the repository.
LOCK_WAIT = 120.0


@dataclass
class Loaded:
    ref: RecordRef
    backup: bk_pb.Backup
    manifest: mf_pb.BackupManifest
    data_key: bytes


@dataclass
class Plan:
    loaded: Loaded
    result: bk_pb.RestoreResult
    target: str
    edition: int
    region: str
    settings: env_pb.EnvironmentSettings
    items: list[mf_pb.ManifestItem] = field(default_factory=list)
    # ErrorInfo metadata for each failed check, by check name.
    check_metadata: dict[str, dict[str, str]] = field(default_factory=dict)


class RestoreEngine:
    def __init__(
        self,
        registry: Registry,
        repo: Repository,
        operations: OperationManager,
        master: MasterKey,
        editions: EditionPolicy,
        clock: Clock,
        executor: Executor | None,
        release_period: float,
        max_artifact_size: int,
    ) -> None:
        self.registry = registry
        self.repo = repo
        self.operations = operations
        self.master = master
        self.editions = editions
        self.clock = clock
        self._executor = executor
        self.release_period = release_period
        self.max_artifact_size = max_artifact_size

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # -- request --------------------------------------------------------------

    async def start(self, req: bk_pb.RestoreBackupRequest) -> ops_pb.Operation:
        bname = names.parse_backup(req.backup, "backup")
        target = names.check_environment_id(req.environment_id, "environment_id")
        names.check_request_id(req.request_id)
        self._validate(req)
        op = self.operations.new(ops_pb.Operation.KIND_RESTORE, str(bname), req.request_id)
        req_hash = request_hash(req)
        if req.request_id:
            existing = await self._run(
                lambda: self.operations.store.find_request(op.kind, req.request_id)
            )
            if existing is not None:
                return self.operations.check_same_request(existing, req_hash)
        plan = await self.plan(bname, target, req)
        if req.validate_only:
            op, created = await self.operations.create(op, req_hash)
            return await self.operations.finish_now(op, plan.result) if created else op
        _raise_failed_checks(plan)
        op, created = await self.operations.create(op, req_hash)
        if created:
            self.operations.launch(
                op, lambda ctx: self._restore(ctx, plan), {"environment": plan.target}
            )
        return op

    def _validate(self, req: bk_pb.RestoreBackupRequest) -> None:
        errors = Collected()
        if req.edition not in common_pb2.Edition.values():
            errors.add("edition", "unknown edition")
        if len(req.region) > 64:
            errors.add("region", "at most 64 characters")
        settings_mod.validate(req.settings, "settings", errors)
        for agreement, folder in req.source_ftp_folders.items():
            if not names.is_artifact_id(agreement):
                errors.add(f"source_ftp_folders[{agreement!r}]", "not an agreement id")
            if not folder or len(folder) > 1024 or not folder.isprintable():
                errors.add(
                    f"source_ftp_folders[{agreement!r}]",
                    "a folder is 1 to 1024 printable characters",
                )
        errors.raise_if_any()

    # -- plan -----------------------------------------------------------------

    async def load(self, bname: names.BackupName) -> Loaded:
        ref = RecordRef(bname.environment, bname.backup_id)
        try:
            try:
                backup = bk_pb.Backup.FromString(await self.repo.get_record(ref))
            except RecordNotFound:
                raise backup_not_found(str(bname)) from None
            manifest = mf_pb.BackupManifest.FromString(
                await self.repo.get_manifest(backup.manifest_sha256)
            )
            wrapped = await self.repo.get_data_key(ref)
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        except DecodeError as e:
            raise DataLoss(f"the backup record or manifest of {bname} is unreadable: {e}") from e
        if manifest.format_version != mf.FORMAT_VERSION:
            raise DataLoss(f"manifest format {manifest.format_version} of {bname} is not supported")
        if why := mf.invalid(manifest):
            raise DataLoss(
                f"the manifest of {bname} is invalid: {why}", metadata={"backup": str(bname)}
            )
        try:
            data_key = mf.unwrap(self.master, wrapped, manifest.data_key_id)
        except (DecryptionFailed, ValueError, DecodeError) as e:
            raise DataLoss(
                f"the data key of {bname} does not open with this server's key: {e}"
            ) from e
        return Loaded(ref, backup, manifest, data_key)

    async def plan(
        self, bname: names.BackupName, target: str, req: bk_pb.RestoreBackupRequest
    ) -> Plan:
        loaded = await self.load(bname)
        m = loaded.manifest
        edition = req.edition or m.edition
        region = req.region or m.region
        try:
            backed_up = mf.open_settings(loaded.data_key, m.backup, m.settings)
        except DecryptionFailed as e:
            raise DataLoss(f"the secrets of {bname} do not decrypt: {e}") from e
        plan = Plan(
            loaded=loaded,
            result=bk_pb.RestoreResult(
                environment=names.environment_name(target),
                backup=str(bname),
                validate_only=req.validate_only,
                edition=edition,
            ),
            target=target,
            edition=edition,
            region=region,
            settings=settings_mod.overlay(backed_up, req.settings),
        )
        item_ids = {(i.kind, i.id) for i in m.items}
        for agreement in req.source_ftp_folders:
            if (env_pb.ARTIFACT_KIND_AGREEMENT, agreement) not in item_ids:
                Collected(
                    [
                        Violation(
                            f"source_ftp_folders[{agreement!r}]", "no such agreement in the backup"
                        )
                    ]
                ).raise_if_any()
        for item in m.items:
            copy = mf_pb.ManifestItem()
            copy.CopyFrom(item)
            if item.kind == env_pb.ARTIFACT_KIND_AGREEMENT and item.id in req.source_ftp_folders:
                copy.metadata[FTP_FOLDER] = req.source_ftp_folders[item.id]
            plan.items.append(copy)
        plan.result.artifact_count = len(m.items)
        plan.result.size_bytes = sum(i.size_bytes for i in m.items)
        await self._checks(plan)
        await self._warnings(plan)
        return plan

    async def _checks(self, plan: Plan) -> None:
        m = plan.loaded.manifest
        add = plan.result.checks.add
        add(
            check="edition-offered",
            rule="R1",
            passed=self.editions.allows(plan.edition),
            detail=f"restore is offered for {edition_word(plan.edition)}"
            if self.editions.allows(plan.edition)
            else f"restore is not offered for {edition_word(plan.edition)} environments",
            reason=0 if self.editions.allows(plan.edition) else _reason("EDITION_NOT_SUPPORTED"),
        )
        plan.check_metadata["edition-offered"] = {
            "edition": edition_name(plan.edition),
            "feature": "restore",
        }
        higher = plan.edition >= m.edition
        plan.check_metadata["edition"] = {
            "backup_edition": edition_name(m.edition),
            "target_edition": edition_name(plan.edition),
        }
        add(
            check="edition",
            rule="R5",
            passed=higher,
            detail=f"backup edition {edition_word(m.edition)}, target {edition_word(plan.edition)}"
            + ("" if higher else ": a restore cannot lower the edition"),
            reason=0 if higher else _reason("RESTORE_EDITION_TOO_LOW"),
        )
        holder, free_at = await self._run(lambda: self._name_state(plan.target))
        plan.check_metadata["name-available"] = {"environment": names.environment_name(plan.target)}
        if holder:
            detail = (
                f"a live environment is named {plan.target}; delete it or restore to a new name"
            )
        elif free_at is not None:
            detail = f"{plan.target} belonged to a deleted environment and frees up at {rfc3339(free_at)}"
            plan.check_metadata["name-available"]["available_time"] = rfc3339(free_at)
        else:
            detail = f"{plan.target} is free"
        add(
            check="name-available",
            rule="R4",
            passed=not holder and free_at is None,
            detail=detail,
            reason=0 if not holder and free_at is None else _reason("NAME_NOT_AVAILABLE"),
        )
        await self.repo.refresh()
        missing = [
            (item, d)
            for item in plan.items
            for d, _ in mf.blob_refs(item)
            if not self.repo.has_blob(d)
        ]
        add(
            check="blobs-present",
            rule="R6",
            passed=not missing,
            detail="every blob of every item is in the repository"
            if not missing
            else f"{len(missing)} blob(s) missing, first: {_label(missing[0][0])} blob {missing[0][1].hex()}",
            reason=0 if not missing else _reason("CORRUPT_DATA"),
        )

    def _name_state(self, target: str) -> tuple[bool, float | None]:
        with self.registry.db.read() as conn:
            holder = conn.execute(
                "SELECT 1 FROM environments WHERE name = ? AND deleted_time IS NULL", (target,)
            ).fetchone()
            return bool(holder), self.registry.name_available_time(
                conn, target, self.release_period
            )

    async def _warnings(self, plan: Plan) -> None:
        m = plan.loaded.manifest
        add = plan.result.warnings.add
        Excluded = bk_pb.ExcludedItem
        for ex in m.excluded:
            if ex.kind == Excluded.KIND_HYBRID_CONNECTION:
                add(
                    kind=W.KIND_HYBRID_CONNECTION,
                    subject=_in_target(ex.name, plan.target),
                    message=f"must be recreated: {ex.reason}",
                )
            elif ex.kind == Excluded.KIND_BATCH_MESSAGES:
                add(
                    kind=W.KIND_BATCH_MESSAGES,
                    subject=ex.name,
                    message=f"{ex.message_count} batch message(s) were not backed up and are lost",
                )
            elif ex.kind == Excluded.KIND_TRACKING_DATA:
                add(
                    kind=W.KIND_TRACKING_DATA,
                    message="tracking data is not part of the backup; "
                    "the restored environment points at the same tracking database",
                )
        live = await self._run(self.registry.live_control_numbers)
        for c in m.control_numbers:
            agreement = c.agreement.rsplit("/", 1)[-1]
            for env_name, counters in live.get(agreement, []):
                if (
                    counters.interchange > c.interchange
                    or counters.group > c.group
                    or counters.transaction_set > c.transaction_set
                ):
                    add(
                        kind=W.KIND_CONTROL_NUMBERS,
                        subject=f"environments/{plan.target}/agreements/{agreement}",
                        message=(
                            f"live environment {env_name} has issued interchange {counters.interchange}, "
                            f"past the backup's {c.interchange}: restored numbers may duplicate"
                        ),
                    )
        folders = await self._run(self.registry.ftp_folder_users)
        for item in plan.items:
            folder = item.metadata.get(FTP_FOLDER)
            if item.kind == env_pb.ARTIFACT_KIND_AGREEMENT and folder:
                for env_name, agreement in folders.get(folder, []):
                    add(
                        kind=W.KIND_FTP_FOLDER_CONFLICT,
                        subject=f"environments/{plan.target}/agreements/{item.id}",
                        message=(
                            f"source folder {folder} is already pulled by agreement {agreement} of "
                            f"live environment {env_name}; change it before resuming"
                        ),
                    )
        add(
            kind=W.KIND_NO_BACKUP_POLICY,
            subject=names.environment_name(plan.target),
            message="the restored environment has no automatic backups; set a backup policy",
        )

    # -- run ------------------------------------------------------------------

    async def _restore(self, ctx: OperationContext, plan: Plan) -> bk_pb.RestoreResult:
        items = plan.items
        await ctx.phase(
            "verify", items_total=len(items), bytes_total=sum(i.size_bytes for i in items)
        )
        staged: list[StagedContent] = []
        try:
            try:
                async with self.repo.locks.held(SHARED, f"restore {ctx.op.name}", LOCK_WAIT):
                    await self.repo.refresh()  # a prune may have run since the plan
                    staged = await self._stage(ctx, items)
            except (StorageError, RepositoryError, LockConflict, LockLost) as e:
                raise from_storage(e) from e
            await ctx.phase("write", items_total=1)
            m = plan.loaded.manifest
            data = RestorePlanData(
                env_id=plan.target,
                edition=plan.edition,
                region=plan.region,
                settings_plain=plan.settings,
                restored_from=plan.result.backup,
                artifacts=[
                    (
                        i.kind,
                        i.id,
                        bytes(i.sha256),
                        i.size_bytes,
                        dict(i.metadata),
                        i.update_time.ToNanoseconds() / 1e9,
                    )
                    for i in items
                ],
                contents=staged,
                control_numbers=[
                    ControlNumberRecord(
                        c.agreement.rsplit("/", 1)[-1],
                        c.interchange,
                        c.group,
                        c.transaction_set,
                        c.update_time.ToNanoseconds() / 1e9,
                    )
                    for c in m.control_numbers
                ],
                as2_messages=[
                    (a.message_id, a.mic, a.first_seen_time.ToNanoseconds() / 1e9)
                    for a in m.as2_messages
                ],
                release_period=self.release_period,
                batches=sorted(
                    {
                        e.name.rsplit("/", 1)[-1]
                        for e in m.excluded
                        if e.kind == bk_pb.ExcludedItem.KIND_BATCH_MESSAGES
                    }
                ),
            )
            # The one transaction that makes the environment exist (R6), SUSPENDED (R7).
            ctx.commit()
            await asyncio.shield(self._run(lambda: self.registry.create_restored(data)))
            staged = []
        finally:
            for s in staged:
                await asyncio.shield(self._run(lambda s=s: self.registry.content.discard(s)))
        await ctx.advance(items=1)
        for w in plan.result.warnings:
            await ctx.warn(
                f"{W.Kind.Name(w.kind)}: {w.subject + ': ' if w.subject else ''}{w.message}"
            )
        return plan.result

    async def _stage(
        self, ctx: OperationContext, items: list[mf_pb.ManifestItem]
    ) -> list[StagedContent]:
        """Reads and verifies every item's content; stages what the registry lacks."""
        unique: dict[bytes, mf_pb.ManifestItem] = {}
        for item in items:
            unique.setdefault(bytes(item.sha256), item)
        known = await self._run(lambda: self.registry.known_contents(list(unique)))
        order = list(unique.values())
        digests = [d for item in order for d, _ in mf.blob_refs(item)]
        blobs = self.repo.read_blobs(digests)
        staged: list[StagedContent] = []
        counts = {bytes(i.sha256): 0 for i in items}
        for i in items:
            counts[bytes(i.sha256)] += 1
        try:
            for item in order:
                digest = bytes(item.sha256)
                refs = mf.blob_refs(item)
                keep = digest not in known
                writer = self.registry.content.writer(self.max_artifact_size) if keep else None
                big = item.size_bytes > 1 << 20
                # Single-blob content was verified by read_blobs; chunked content
                # is verified whole here (the writer hashes what it stages).
                hasher = hashlib.sha256() if writer is None and item.chunks else None
                try:
                    for _ in refs:
                        _, data = await blobs.__anext__()
                        if writer is not None:
                            if big:
                                await self._run(lambda w=writer, d=data: w.write(d))
                            else:
                                writer.write(data)
                        elif hasher is not None:
                            if big:
                                await self._run(lambda h=hasher, d=data: h.update(d))
                            else:
                                hasher.update(data)
                        await ctx.advance(nbytes=len(data) * counts[digest], current=_label(item))
                    if writer is not None:
                        chunks = _known_chunks(item)
                        result = await self._run(lambda w=writer, c=chunks: w.finish(c))
                        staged.append(result)
                        ok = result.sha256 == digest and result.size == item.size_bytes
                    else:
                        ok = hasher is None or hasher.digest() == digest
                except BaseException:
                    if writer is not None:
                        writer.abort()
                    raise
                if not ok:
                    raise DataLoss(
                        f"{_label(item)} does not match its digest after reassembly",
                        metadata={"item": _label(item)},
                    )
                await ctx.advance(items=counts[digest])
        except RepositoryError as e:
            err = from_storage(e)
            item = _item_of(order, getattr(e, "sha256", b""))
            if item is not None:
                err.metadata["item"] = _label(item)
                err.message = f"{_label(item)}: {err.message}"
                err.args = (err.message,)
            for s in staged:
                self.registry.content.discard(s)
            raise err from e
        except BaseException:
            for s in staged:
                self.registry.content.discard(s)
            raise
        finally:
            await blobs.aclose()
        return staged


def _known_chunks(item: mf_pb.ManifestItem) -> list[Chunk] | None:
    if not item.chunks:
        return None
    out, offset = [], 0
    for c in item.chunks:
        out.append(Chunk(offset, c.size_bytes, bytes(c.sha256)))
        offset += c.size_bytes
    return out


def _item_of(items: list[mf_pb.ManifestItem], blob: bytes) -> mf_pb.ManifestItem | None:
    if not blob:
        return None
    for item in items:
        if any(d == blob for d, _ in mf.blob_refs(item)):
            return item
    return None


def _label(item: mf_pb.ManifestItem) -> str:
    return f"{names.COLLECTIONS.get(item.kind, 'artifacts')}/{item.id}"


def _in_target(name: str, target: str) -> str:
    """The same object's name in the restored environment."""
    parts = name.split("/")
    if len(parts) >= 3 and parts[0] == "environments":
        parts[1] = target
    return "/".join(parts)


def _reason(name: str) -> int:
    return error_reason_pb2.ErrorReason.Value(name)


def _raise_failed_checks(plan: Plan) -> None:
    failed = [c for c in plan.result.checks if not c.passed]
    if not failed:
        return
    violations = [
        Violation(c.check, c.detail, error_reason_pb2.ErrorReason.Name(c.reason)) for c in failed
    ]
    first = failed[0]
    reason = error_reason_pb2.ErrorReason.Name(first.reason)
    message = "restore refused: " + "; ".join(f"{c.check} ({c.rule}): {c.detail}" for c in failed)
    metadata = {
        "check": first.check,
        "rule": first.rule,
        **plan.check_metadata.get(first.check, {}),
    }
    if reason == "CORRUPT_DATA":
        raise DataLoss(message, metadata=metadata, violations=violations)
    raise FailedPrecondition(reason, message, metadata=metadata, violations=violations)

"""The restore engine: check everything, verify every blob, then create the
environment in one transaction, SUSPENDED (R4 to R8, R10).

Order is the safety argument (R6): content is read from the repository and
verified against its digests into staging files that no environment can see;
only when every item has checked out does one registry transaction create the
environment with all of it. A corrupt blob, a cancel or a crash before that
leaves no environment behind. The same transaction writes the control numbers
the request's policy gives (reconcile.py, R8) and the environment's checklist
(checklist.py). Restores into an existing environment are restore_into.py's.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import sqlite3
import struct
from array import array
from collections.abc import (
    AsyncGenerator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

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
from stowage_storage.crypto import DecryptionFailed
from stowage_storage.index import DigestSet
from stowage_storage.keyring import KeyRing
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.repository import (
    RecordNotFound,
    RecordRef,
    Repository,
    RepositoryError,
)
from stowage_storage.scratch import ScratchFile
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names, reconcile
from . import settings as settings_mod
from .checklist import Checklists, Entry, FtpConflict, restore_items
from .clock import Clock, rfc3339
from .content import INLINE_MAX, ContentWriter, StagedContent
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
from .policies import PolicyEngine, PolicyStore, Schedule
from .registry import FTP_FOLDER, ControlNumberRecord, Registry, RestorePlanData

if TYPE_CHECKING:
    from .restore_into import RestoreIntoEngine

T = TypeVar("T")
W = bk_pb.RestoreWarning
# How long a restore waits for a running prune to release the repository.
LOCK_WAIT = 120.0


@dataclass
class Loaded:
    ref: RecordRef
    backup: bk_pb.Backup
    manifest: mf_pb.BackupManifest  # every field but its items
    data_key: bytes
    items: Sequence[mf_pb.ManifestItem]  # parsed one at a time, when asked for


@dataclass
class Plan:
    loaded: Loaded
    result: bk_pb.RestoreResult
    target: str
    edition: int
    region: str
    settings: env_pb.EnvironmentSettings
    items: Sequence[mf_pb.ManifestItem] = ()
    # ErrorInfo metadata for each failed check, by check name.
    check_metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    copy_policy_requested: bool = False
    # The settings as backed up (plan.settings has the request's overrides).
    backed_up: env_pb.EnvironmentSettings = field(default_factory=env_pb.EnvironmentSettings)
    # The control numbers to write (R8) and the checklist to create with them.
    control_numbers: list[ControlNumberRecord] = field(default_factory=list)
    checklist: list[Entry] = field(default_factory=list)
    # Read before the survey: live agreements' counters by identity (R8) and
    # the source folders live agreements pull (R9).
    live: dict[reconcile.Identity, list[reconcile.LiveCounters]] = field(default_factory=dict)
    ftp_users: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # From one walk of the items (_survey): the agreements that reconciliation
    # or a folder conflict concerns (the others are neither held nor parsed
    # twice: a parsed item takes some 700 bytes), and the blobs the repository lacks.
    agreements: list[mf_pb.ManifestItem] = field(default_factory=list)
    missing_blobs: list[tuple[mf_pb.ManifestItem, bytes]] = field(default_factory=list)
    order: _Order | None = None  # the order the items are read in


class RestoreEngine:
    def __init__(
        self,
        registry: Registry,
        repo: Repository,
        operations: OperationManager,
        master: KeyRing,
        editions: EditionPolicy,
        clock: Clock,
        executor: Executor | None,
        release_period: float,
        max_artifact_size: int,
        policies: PolicyStore | None = None,
        checklists: Checklists | None = None,
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
        self.policies = policies
        self.checklists = checklists
        self.live_agreements = reconcile.LiveAgreements(registry.db)
        # Restores into an existing environment (target_existing); set by assembly.
        self.into_existing: RestoreIntoEngine | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # -- request --------------------------------------------------------------

    async def start(self, req: bk_pb.RestoreBackupRequest) -> ops_pb.Operation:
        if req.target_existing and self.into_existing is not None:
            return await self.into_existing.start(req)
        bname = names.parse_backup(req.backup, "backup")
        target = names.check_environment_id(req.environment_id, "environment_id")
        names.check_not_reserved(target)
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
        reconcile.validate(req, errors)
        if req.kinds or req.artifacts:
            errors.add("kinds" if req.kinds else "artifacts", "only with target_existing")
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
            spool = mf.ItemSpool(self.registry.content.tmp_dir, self._run)
            _, manifest, items = await mf.read(self.repo, backup.manifest_sha256, spool)
            wrapped = await self.repo.get_data_key(ref)
            if manifest.format_version not in mf.READABLE_FORMATS:
                raise DataLoss(
                    f"manifest format {manifest.format_version} of {bname} is not supported"
                )
            why = await self._run(lambda: mf.invalid(manifest, items))
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        except DecodeError as e:
            raise DataLoss(f"the backup record or manifest of {bname} is unreadable: {e}") from e
        if why:
            raise DataLoss(
                f"the manifest of {bname} is invalid: {why}", metadata={"backup": str(bname)}
            )
        try:
            data_key = mf.unwrap(self.master, wrapped, manifest.data_key_id)
        except (DecryptionFailed, ValueError, DecodeError) as e:
            raise DataLoss(
                f"the data key of {bname} does not open with this server's key: {e}"
            ) from e
        return Loaded(ref, backup, manifest, data_key, items)

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
            copy_policy_requested=req.copy_backup_policy,
            backed_up=backed_up,
        )
        plan.items = _with_ftp_folders(loaded.items, req.source_ftp_folders)
        if req.copy_backup_policy and m.HasField("backup_policy") and self.policies is not None:
            copied = PolicyEngine.for_restore(m.backup_policy, target, self.clock.now())
            slot = Schedule.of(copied).next_after(self.clock.now())
            if slot is not None:
                copied.next_run_time.FromMilliseconds(slot)
            plan.result.backup_policy.CopyFrom(copied)
        plan.result.artifact_count = len(plan.items)
        await self.repo.refresh()
        plan.live = await self._run(self.live_agreements.by_identity)
        plan.ftp_users = await self._run(self.registry.ftp_folder_users)
        # One walk of the items for every check that needs them all.
        tmp = self.registry.content.tmp_dir
        concerns = _agreement_concerns(plan)
        await self._run(lambda: _survey(plan, self.repo.has_blob, tmp, concerns))
        await self._checks(plan)
        await self._warnings(plan)
        await self._reconcile(plan, req)
        await self._checklist(plan)
        return plan

    async def _reconcile(self, plan: Plan, req: bk_pb.RestoreBackupRequest) -> None:
        """The control numbers the restored agreements get (R8)."""
        agreements = {i.id: dict(i.metadata) for i in plan.agreements}
        done = reconcile.reconcile(
            plan.loaded.manifest,
            agreements,
            plan.live,
            req.control_number_policy,
            req.control_number_margin,
            plan.target,
            self.clock.now(),
        )
        plan.control_numbers = done.records
        plan.result.control_numbers.extend(done.changes)
        plan.result.warnings.extend(done.warnings)

    async def _checklist(self, plan: Plan) -> None:
        """What the operator must do before resuming, created with the environment."""
        store = self.checklists
        if store is None:
            return
        box = self.registry.box
        backed_up = plan.backed_up.access_control_key.value
        restored = plan.settings.access_control_key.value
        key = box.fingerprint(backed_up) if backed_up else ""
        holders = await self._run(lambda: store.key_holders(key))
        plan.checklist = restore_items(
            plan.target,
            backed_up_key=key,
            restored_key=box.fingerprint(restored) if restored else "",
            key_holders=holders,
            ftp_conflicts=ftp_conflicts(plan.agreements, plan.ftp_users),
            hybrid_connections=[
                (e.name.rsplit("/", 1)[-1], e.reason)
                for e in plan.loaded.manifest.excluded
                if e.kind == bk_pb.ExcludedItem.KIND_HYBRID_CONNECTION
            ],
            policy_copied=plan.result.HasField("backup_policy"),
            now=self.clock.now(),
        )
        plan.result.checklist.extend(e.item for e in plan.checklist)
        for item in plan.result.checklist:
            item.name = f"environments/{plan.target}/checklistItems/{item.id}"

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
        missing = plan.missing_blobs
        add(
            check="blobs-present",
            rule="R6",
            passed=not missing,
            detail="every blob of every item is in the repository"
            if not missing
            else f"{len(missing)} blob(s) missing, first: {mf.item_label(missing[0][0])} blob {missing[0][1].hex()}",
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
        # Control-number warnings come from reconciliation (_reconcile).
        folders = plan.ftp_users
        for item in plan.agreements:
            folder = item.metadata.get(FTP_FOLDER)
            if folder:
                for env_name, agreement in folders.get(folder, []):
                    add(
                        kind=W.KIND_FTP_FOLDER_CONFLICT,
                        subject=f"environments/{plan.target}/agreements/{item.id}",
                        message=(
                            f"source folder {folder} is already pulled by agreement {agreement} of "
                            f"live environment {env_name}; change it before resuming"
                        ),
                    )
        if not plan.result.HasField("backup_policy"):  # R10
            add(
                kind=W.KIND_NO_BACKUP_POLICY,
                subject=names.environment_name(plan.target),
                message="the restored environment has no automatic backups; set a backup policy"
                + (
                    " (the backup recorded no policy to copy)"
                    if plan.copy_policy_requested
                    else ", or restore with copy_backup_policy"
                ),
            )

    # -- run ------------------------------------------------------------------

    async def _restore(self, ctx: OperationContext, plan: Plan) -> bk_pb.RestoreResult:
        items = plan.items
        await ctx.phase("verify", items_total=len(items), bytes_total=plan.result.size_bytes)
        staged: list[StagedContent] = []
        try:
            try:
                async with self.repo.locks.held(SHARED, f"restore {ctx.op.name}", LOCK_WAIT):
                    await self.repo.refresh()  # a prune may have run since the plan
                    staged = await self._stage(ctx, items, plan.order)
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
                artifacts=mf.artifact_rows(items),
                contents=staged,
                control_numbers=plan.control_numbers,
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
            if plan.result.HasField("backup_policy") and self.policies is not None:
                data.extra_writes.append(self._policy_writer(plan))
            if plan.checklist:
                data.extra_writes.append(Checklists.writer(plan.checklist))
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

    def _policy_writer(self, plan: Plan) -> Callable[[sqlite3.Connection, str], None]:
        """Gives the new environment the source's policy, in the transaction
        that creates it, counted from that moment (R10)."""
        store, recorded = self.policies, plan.loaded.manifest.backup_policy
        assert store is not None

        def write(conn: sqlite3.Connection, uid: str) -> None:
            store.insert(
                conn, uid, PolicyEngine.for_restore(recorded, plan.target, self.clock.now())
            )

        return write

    async def stage(
        self, ctx: OperationContext, items: Sequence[mf_pb.ManifestItem]
    ) -> list[StagedContent]:
        """Reads and verifies every item's content into staging files no
        environment sees (for restores into existing environments and drills)."""
        return await self._stage(ctx, items)

    async def _read_large(
        self,
        ctx: OperationContext,
        item: mf_pb.ManifestItem,
        blobs: _BlobCursor,
        keep: bool,
    ) -> _Sink:
        """An item of several blobs, or of one large blob, handed to a sink: a
        staging file (content the registry lacks) or only a hash."""
        sink = _Sink(
            self,
            self.registry.content.writer(self.max_artifact_size) if keep else None,
            # Single-blob content was verified by the read; chunked content
            # is verified whole (a staging writer hashes what it stages).
            verify_whole=bool(item.chunks),
        )
        label = mf.item_label(item)
        try:
            for _ in mf.blob_refs(item):
                _, data = await blobs.next()
                await sink.add(data)
                await ctx.advance(current=label)
        except BaseException:
            await sink.abort()
            raise
        return sink

    async def _finish_large(self, item: mf_pb.ManifestItem, sink: _Sink) -> StagedContent | None:
        """The sink's file completed (synced) and checked whole against the digest."""
        try:
            result = await sink.close(_known_chunks(item))
        except BaseException:
            await sink.abort()
            raise
        if not sink.matches(bytes(item.sha256), item.size_bytes):
            if result is not None:
                self.registry.content.discard(result)
            label = mf.item_label(item)
            raise DataLoss(
                f"{label} does not match its digest after reassembly", metadata={"item": label}
            )
        return result

    async def _install(self, staged: list[StagedContent]) -> None:
        batch = list(staged)
        try:
            await self._run(lambda: self.registry.install_contents(batch))
        except BaseException:
            for st in batch:
                self.registry.content.discard(st)
            raise

    async def _stage(
        self,
        ctx: OperationContext,
        items: Sequence[mf_pb.ManifestItem],
        order: _Order | None = None,
    ) -> list[StagedContent]:
        """Reads and verifies every item's content; stages what the registry lacks.

        The items are walked twice side by side, in the same order: once by the
        reads, which run ahead, and once here, a batch at a time in a worker
        thread. In memory there is nothing per small item or per content (the
        order's records are in a file), so memory does not grow with the
        environment. Content that several items share is read
        and staged for each (the install keeps one copy): rare, and cheaper
        than remembering every digest of the environment."""
        if order is None:
            tmp = self.registry.content.tmp_dir
            order = await self._run(lambda: _Order.of(items, tmp))

        def blobs_to_read() -> Iterator[tuple[bytes, bool]]:
            # Each with whether the read checks it against its digest: chunks
            # are not, as their item's sink hashes them whole (hashing each
            # chunk too would hash those bytes twice).
            for n, digest, _, small in order.walk():
                if small:
                    yield digest, True
                else:
                    item = items[n]
                    whole = not item.chunks
                    for d, _ in mf.blob_refs(item):
                        yield d, whole

        walk = order.walk()
        registry = self.registry

        def next_batch() -> tuple[list[tuple[int, bytes, int, bool]], DigestSet]:
            batch = list(itertools.islice(walk, _WALK_BATCH))
            return batch, registry.known_contents(d for _, d, _, _ in batch)

        blobs = _BlobCursor(self.repo.read_runs(blobs_to_read()))
        staged: list[StagedContent] = []
        staged_bytes = 0
        installing: asyncio.Future[None] | None = None
        # Large items whose last writes and sync run while the next items are
        # read: a file's fsync no longer stalls the whole restore.
        finishing: collections.deque[asyncio.Task[StagedContent | None]] = collections.deque()
        ahead = asyncio.ensure_future(self._run(next_batch))

        def add(result: StagedContent) -> None:
            nonlocal staged_bytes
            staged.append(result)
            # Files count too: each holds its chunk list until installed.
            staged_bytes += result.size

        async def install_if_due() -> None:
            nonlocal staged, staged_bytes, installing
            if staged_bytes >= _INSTALL_BYTES or len(staged) >= _INSTALL_COUNT:
                # Verified whole: installed meanwhile, one batch at a time, so
                # memory stays flat and reading goes on while the database writes.
                if installing is not None:
                    await installing
                installing = asyncio.ensure_future(self._install(staged))
                staged, staged_bytes = [], 0

        async def accept(result: StagedContent | None) -> None:
            if result is not None:
                add(result)
                await install_if_due()

        try:
            while True:
                batch, known = await ahead
                if not batch:
                    break
                ahead = asyncio.ensure_future(self._run(next_batch))
                i = 0
                while i < len(batch):
                    n, digest, _, small = batch[i]
                    if not small:
                        item = items[n]
                        sink = await self._read_large(ctx, item, blobs, digest not in known)
                        finishing.append(asyncio.ensure_future(self._finish_large(item, sink)))
                        if len(finishing) > _FINISHING:
                            await accept(await finishing.popleft())
                        i += 1
                        await ctx.advance(items=1, nbytes=item.size_bytes)
                        continue
                    # Small items, each one blob already checked against its digest
                    # by the read: staged as they are, with no second hash or copy,
                    # as many in a row as the current read holds, without an await each.
                    await blobs.fill()
                    run_items = run_bytes = 0
                    while i < len(batch) and blobs.ready():
                        n, _, size, small = batch[i]
                        if not small:
                            break
                        digest, data = blobs.take()
                        if len(data) != size:
                            label = mf.item_label(items[n])
                            raise DataLoss(
                                f"{label} has {len(data)} bytes, the manifest says {size}",
                                metadata={"item": label},
                            )
                        if digest not in known:
                            add(StagedContent(digest, size, data, None, None))
                        run_items += 1
                        run_bytes += size
                        i += 1
                    await install_if_due()
                    await ctx.advance(items=run_items, nbytes=run_bytes)
            while finishing:
                await accept(await finishing.popleft())
            if installing is not None:
                await installing
        except RepositoryError as e:
            err = from_storage(e)
            failed = getattr(e, "sha256", b"")
            item = await self._run(lambda: _item_of(items, failed))
            if item is not None:
                err.metadata["item"] = mf.item_label(item)
                err.message = f"{mf.item_label(item)}: {err.message}"
                err.args = (err.message,)
            await self._abandon(staged, finishing)
            raise err from e
        except BaseException:
            await self._abandon(staged, finishing)
            raise
        finally:
            # (a batch still being read in a worker thread keeps the order's
            # file open; it closes when the last reference goes)
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)
            await blobs.aclose()
            if installing is not None and not installing.done():
                # Let a batch being written finish (or fail) before reporting.
                await asyncio.gather(installing, return_exceptions=True)
        return staged

    async def _abandon(
        self,
        staged: list[StagedContent],
        finishing: collections.deque[asyncio.Task[StagedContent | None]],
    ) -> None:
        """Deletes what a failed restore staged, files still being finished included."""
        for task in finishing:
            task.cancel()
        done = await asyncio.gather(*finishing, return_exceptions=True)
        finishing.clear()
        for s in staged + [r for r in done if isinstance(r, StagedContent)]:
            self.registry.content.discard(s)


class _Sink:
    """Where one item's verified blobs go: a staging writer, for content the
    registry lacks, or only a hash, for content it holds. Large content goes to
    a worker thread 4 MiB at a time; small content never leaves the event loop
    (a thread hop per small item would cost more than the item)."""

    FLUSH = 4 * 1024 * 1024

    def __init__(
        self, engine: RestoreEngine, writer: ContentWriter | None, verify_whole: bool
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._hash = hashlib.sha256() if writer is None and verify_whole else None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        # One write in flight while the next pieces gather (the writer is not
        # thread-safe, so never two).
        self._writing: asyncio.Future[None] | None = None
        self._staged: StagedContent | None = None

    async def add(self, data: bytes) -> None:
        if self._writer is None and self._hash is None:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.FLUSH:
            await self._flush()

    async def _flush(self) -> None:
        pieces, self._pending, self._pending_bytes = self._pending, [], 0
        target = self._writer.write if self._writer is not None else self._hash.update  # type: ignore[union-attr]

        def write() -> None:
            for piece in pieces:
                target(piece)

        await self._drain()
        self._writing = asyncio.ensure_future(self._engine._run(write))

    async def _drain(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def close(self, chunks: list[Chunk] | None) -> StagedContent | None:
        if (
            self._writing is None  # first: no thread is touching the writer
            and self._writer is not None
            and self._writer.in_memory
            and self._pending_bytes < self.FLUSH
        ):
            for piece in self._pending:
                self._writer.write(piece)
            self._pending = []
            if self._writer.in_memory:
                self._staged = self._writer.finish(chunks)
                return self._staged
        if self._pending:
            await self._flush()
        await self._drain()
        if self._writer is not None:
            writer = self._writer
            self._staged = await self._engine._run(lambda: writer.finish(chunks))
        return self._staged

    def matches(self, digest: bytes, size: int) -> bool:
        if self._staged is not None:
            return self._staged.sha256 == digest and self._staged.size == size
        return self._hash is None or self._hash.digest() == digest

    async def abort(self) -> None:
        """Deletes the staging file, once no write to it is in flight."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
            self._writing = None
        if self._writer is not None and self._staged is None:
            self._writer.abort()


_INSTALL_BYTES = 8 * 1024 * 1024
_INSTALL_COUNT = 2000
# Items a restore takes from its walk at a time (parsed, with which the registry has).
_WALK_BATCH = 4096
# Large items finishing (last write, sync, check) while later items are read.
_FINISHING = 2


class _BlobCursor:
    """Blobs of ``Repository.read_runs`` one at a time: an await only when the
    current read is used up."""

    def __init__(self, runs: AsyncGenerator[list[tuple[bytes, bytes]], None]) -> None:
        self._runs = runs
        self._blobs: collections.deque[tuple[bytes, bytes]] = collections.deque()

    def ready(self) -> bool:
        return bool(self._blobs)

    def take(self) -> tuple[bytes, bytes]:
        return self._blobs.popleft()

    async def fill(self) -> None:
        """Waits for the next read if the current one is used up."""
        if not self._blobs:
            self._blobs.extend(await self._runs.__anext__())

    async def next(self) -> tuple[bytes, bytes]:
        await self.fill()
        return self._blobs.popleft()

    async def aclose(self) -> None:
        self._blobs.clear()
        await self._runs.aclose()


def _is_small(item: mf_pb.ManifestItem) -> bool:
    return not item.chunks and item.size_bytes <= INLINE_MAX


# An item in a restore's order: its digest, size and whether it is small.
_RECORD = struct.Struct("<32sQ?")
_RECORDS_AT_ONCE = (1 << 20) // _RECORD.size


class _Order:
    """The order a restore reads its items in: small and large items merged in
    proportion to their bytes. Small ones end in database transactions, large
    ones in file writes, and interleaved the two proceed side by side instead
    of one after the other.

    Each item's digest, size and kind are kept in a scratch file, a 41-byte
    record at its position: the restore walks them twice (its reads run ahead
    of its staging) without parsing an item again or holding anything per
    small item."""

    def __init__(self, directory: str) -> None:
        self.small_bytes = 0
        self.large_bytes = 0
        self.larges = array("q")  # positions of the large items
        self._file = ScratchFile(directory)
        self._pending = bytearray()

    @classmethod
    def of(cls, items: Iterable[mf_pb.ManifestItem], directory: str) -> _Order:
        """One walk of the items. Blocking."""
        order = cls(directory)
        for n, item in enumerate(items):
            order.add(n, item)
        order.finish()
        return order

    def add(self, n: int, item: mf_pb.ManifestItem) -> None:
        """Counts in item ``n``; items are added in order. Blocking."""
        small = _is_small(item)
        if small:
            self.small_bytes += item.size_bytes
        else:
            self.large_bytes += item.size_bytes
            self.larges.append(n)
        self._pending += _RECORD.pack(item.sha256, item.size_bytes, small)
        if len(self._pending) >= _RECORDS_AT_ONCE * _RECORD.size:
            self.finish()

    def finish(self) -> None:
        """After the last ``add``, before any ``walk``. Blocking."""
        self._file.append(self._pending)
        self._pending.clear()

    def close(self) -> None:
        self._file.close()

    def _smalls(self) -> Iterator[tuple[int, bytes, int, bool]]:
        at, n = 0, 0
        while at < self._file.size:
            window = self._file.read(at, _RECORDS_AT_ONCE * _RECORD.size)
            at += len(window)
            for digest, size, small in _RECORD.iter_unpack(window):
                if small:
                    yield n, digest, size, True
                n += 1

    def _large(self, g: int) -> tuple[int, bytes, int, bool]:
        n = self.larges[g]
        digest, size, _ = _RECORD.unpack(self._file.read(n * _RECORD.size, _RECORD.size))
        return n, digest, size, False

    def walk(self) -> Iterator[tuple[int, bytes, int, bool]]:
        """(position, digest, size, small) of each item, in this order; the
        same every time. Blocking."""
        smalls = self._smalls()
        total_small = self.small_bytes or 1
        total_large = self.large_bytes or 1
        done_small = done_large = 0
        small = next(smalls, None)
        g = 0
        while small is not None or g < len(self.larges):
            if g == len(self.larges) or (
                small is not None and done_small / total_small <= done_large / total_large
            ):
                assert small is not None
                done_small += small[2]
                yield small
                small = next(smalls, None)
            else:
                large = self._large(g)
                done_large += large[2]
                yield large
                g += 1


def _known_chunks(item: mf_pb.ManifestItem) -> list[Chunk] | None:
    if not item.chunks:
        return None
    out, offset = [], 0
    for c in item.chunks:
        out.append(Chunk(offset, c.size_bytes, bytes(c.sha256)))
        offset += c.size_bytes
    return out


def _item_of(items: Sequence[mf_pb.ManifestItem], blob: bytes) -> mf_pb.ManifestItem | None:
    if not blob:
        return None
    for item in items:
        if any(d == blob for d, _ in mf.blob_refs(item)):
            return item
    return None


def _agreement_concerns(plan: Plan) -> Callable[[mf_pb.ManifestItem], bool]:
    """Whether reconciliation (R8) or a folder conflict (R9) concerns an
    agreement: it has backed-up control numbers, a live agreement with its
    identity has issued numbers, or a live agreement pulls its source folder.
    Reconciliation passes over any other agreement."""
    numbered = {c.agreement.rsplit("/", 1)[-1] for c in plan.loaded.manifest.control_numbers}
    live, users = plan.live, plan.ftp_users

    def concerns(item: mf_pb.ManifestItem) -> bool:
        metadata = item.metadata
        folder = metadata.get(FTP_FOLDER)
        return (
            item.id in numbered
            or reconcile.identity(item.id, metadata) in live
            or bool(folder and folder in users)
        )

    return concerns


def _survey(
    plan: Plan,
    has_blob: Callable[[bytes], bool],
    directory: str,
    concerns: Callable[[mf_pb.ManifestItem], bool],
) -> None:
    """What the checks and the reads need of every item, in one walk: the
    plan's size, the agreements that ``concerns``, the blobs the repository
    lacks and the order of the reads. Blocking, for a worker thread (each item
    is parsed as it comes)."""
    agreement = env_pb.ARTIFACT_KIND_AGREEMENT
    order = plan.order = _Order(directory)
    for n, item in enumerate(plan.items):
        plan.result.size_bytes += item.size_bytes
        order.add(n, item)
        if item.kind == agreement and concerns(item):
            plan.agreements.append(item)
        for d, _ in mf.blob_refs(item):
            if not has_blob(d):
                plan.missing_blobs.append((item, d))
    order.finish()


class _WithFtpFolders(Sequence[mf_pb.ManifestItem]):
    """A manifest's items with some agreements' source folders replaced."""

    def __init__(
        self, items: Sequence[mf_pb.ManifestItem], changed: dict[int, mf_pb.ManifestItem]
    ) -> None:
        self._items = items
        self._changed = changed

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> mf_pb.ManifestItem:  # type: ignore[override]
        changed = self._changed.get(i)
        return self._items[i] if changed is None else changed

    def __iter__(self) -> Iterator[mf_pb.ManifestItem]:
        for n, item in enumerate(self._items):
            yield self._changed.get(n, item)


def _with_ftp_folders(
    items: Sequence[mf_pb.ManifestItem], folders: Mapping[str, str]
) -> Sequence[mf_pb.ManifestItem]:
    """The items to restore: the manifest's, with the request's source folders
    given to its agreements (R9). Refuses a folder for an agreement the backup
    lacks."""
    if not folders:
        return items
    changed: dict[int, mf_pb.ManifestItem] = {}
    for n, item in enumerate(items):
        if item.kind == env_pb.ARTIFACT_KIND_AGREEMENT and item.id in folders:
            item.metadata[FTP_FOLDER] = folders[item.id]  # a parse of its own, not shared
            changed[n] = item
    found = {item.id for item in changed.values()}
    Collected(
        [
            Violation(f"source_ftp_folders[{agreement!r}]", "no such agreement in the backup")
            for agreement in folders
            if agreement not in found
        ]
    ).raise_if_any()
    return _WithFtpFolders(items, changed)


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


def ftp_conflicts(
    items: Iterable[mf_pb.ManifestItem], users: dict[str, list[tuple[str, str]]]
) -> list[FtpConflict]:
    """The agreements among ``items`` whose source folder a live environment
    already pulls (``users``: folder -> [(environment, agreement)]), R9."""
    out = []
    for item in items:
        folder = item.metadata.get(FTP_FOLDER)
        if item.kind == env_pb.ARTIFACT_KIND_AGREEMENT and folder and users.get(folder):
            pulled_by = [f"{agreement} of {env}" for env, agreement in users[folder]]
            out.append(FtpConflict(item.id, folder, pulled_by))
    return out

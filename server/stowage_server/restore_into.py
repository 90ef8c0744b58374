"""Restore into an existing environment: chosen artifacts of a backup written
back into a SUSPENDED environment (one agreement deleted by mistake, a
transform overwritten), with the checks of a full restore.

The environment must be SUSPENDED (R7: nothing runs while its artifacts
change), of the backup's edition or a higher one (R1, R5); every blob is read
and verified before anything changes, and one registry transaction writes the
chosen artifacts (R6). Nothing else changes: settings, edition, region and the
other artifacts stay. A restored agreement gets its control numbers under the
request's policy (R8), never lower than the environment's own, and an FTP
folder conflict (R9) adds a blocking item to the environment's checklist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.repository import RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names, reconcile
from .checklist import Checklists, restore_items
from .content import StagedContent
from .editions import edition_name, edition_word
from .errors import Collected, InvalidArgument, from_storage
from .operations import OperationContext, request_hash
from .registry import FTP_FOLDER, SUSPENDED, ControlNumberRecord, EnvRecord, RestoreIntoData
from .restore import (
    LOCK_WAIT,
    Plan,
    RestoreEngine,
    _raise_failed_checks,
    _reason,
    ftp_conflicts,
)

W = bk_pb.RestoreWarning
Counters = tuple[int, int, int]


@dataclass
class IntoPlan:
    plan: Plan
    env: EnvRecord


class RestoreIntoEngine:
    def __init__(self, restores: RestoreEngine) -> None:
        self.restores = restores
        self.registry = restores.registry
        self.operations = restores.operations

    async def start(self, req: bk_pb.RestoreBackupRequest) -> ops_pb.Operation:
        bname = names.parse_backup(req.backup, "backup")
        env_id = names.check_environment_id(req.environment_id, "environment_id")
        names.check_not_reserved(env_id)
        names.check_request_id(req.request_id)
        _validate(req)
        op = self.operations.new(ops_pb.Operation.KIND_RESTORE, str(bname), req.request_id)
        req_hash = request_hash(req)
        if req.request_id:
            existing = await self.restores._run(
                lambda: self.operations.store.find_request(op.kind, req.request_id)
            )
            if existing is not None:
                return self.operations.check_same_request(existing, req_hash)
        into = await self.plan(bname, env_id, req)
        if req.validate_only:
            op, created = await self.operations.create(op, req_hash)
            return await self.operations.finish_now(op, into.plan.result) if created else op
        _raise_failed_checks(into.plan)
        op, created = await self.operations.create(op, req_hash)
        if created:
            self.operations.launch(
                op, lambda ctx: self._restore(ctx, into), {"environment": env_id}
            )
        return op

    async def plan(
        self, bname: names.BackupName, env_id: str, req: bk_pb.RestoreBackupRequest
    ) -> IntoPlan:
        run = self.restores._run
        env = await run(lambda: self.registry.get(env_id))
        loaded = await self.restores.load(bname)
        items = _chosen(loaded.items, set(req.kinds), list(req.artifacts))
        chosen_agreements = {i.id for i in items if i.kind == env_pb.ARTIFACT_KIND_AGREEMENT}
        for agreement in req.source_ftp_folders:
            if agreement not in chosen_agreements:
                raise InvalidArgument(
                    f"source_ftp_folders[{agreement!r}]", "not an agreement this restore writes"
                )
        for item in items:
            if item.kind == env_pb.ARTIFACT_KIND_AGREEMENT and item.id in req.source_ftp_folders:
                item.metadata[FTP_FOLDER] = req.source_ftp_folders[item.id]
        plan = Plan(
            loaded=loaded,
            result=bk_pb.RestoreResult(
                environment=names.environment_name(env_id),
                backup=str(bname),
                validate_only=req.validate_only,
                edition=env.edition,
                target_existing=True,
                artifact_count=len(items),
                size_bytes=sum(i.size_bytes for i in items),
                restored_artifacts=[mf.item_label(i) for i in items],
            ),
            target=env_id,
            edition=env.edition,
            region=env.region,
            settings=env_pb.EnvironmentSettings(),
            items=items,
        )
        await self._checks(plan, env)
        await self._safety(plan, env, req)
        return IntoPlan(plan, env)

    async def _checks(self, plan: Plan, env: EnvRecord) -> None:
        m, add = plan.loaded.manifest, plan.result.checks.add
        editions = self.restores.editions
        offered = editions.allows(env.edition)
        plan.check_metadata["edition-offered"] = {
            "edition": edition_name(env.edition),
            "feature": "restore",
        }
        add(
            check="edition-offered",
            rule="R1",
            passed=offered,
            detail=f"restore is {'' if offered else 'not '}offered for {edition_word(env.edition)}",
            reason=0 if offered else _reason("EDITION_NOT_SUPPORTED"),
        )
        higher = env.edition >= m.edition
        plan.check_metadata["edition"] = {
            "backup_edition": edition_name(m.edition),
            "target_edition": edition_name(env.edition),
        }
        add(
            check="edition",
            rule="R5",
            passed=higher,
            detail=f"backup edition {edition_word(m.edition)}, {env.name} is "
            f"{edition_word(env.edition)}"
            + ("" if higher else ": a restore cannot lower the edition"),
            reason=0 if higher else _reason("RESTORE_EDITION_TOO_LOW"),
        )
        suspended = env.state == SUSPENDED
        state = env_pb.Environment.State.Name(env.state)
        plan.check_metadata["target-suspended"] = {
            "state": state,
            "environment": names.environment_name(env.name),
        }
        add(
            check="target-suspended",
            rule="R7",
            passed=suspended,
            detail=f"{env.name} is {state}"
            + ("" if suspended else "; suspend it before restoring into it"),
            reason=0 if suspended else _reason("INVALID_STATE"),
        )
        repo = self.restores.repo
        await repo.refresh()
        missing = [
            (item, d) for item in plan.items for d, _ in mf.blob_refs(item) if not repo.has_blob(d)
        ]
        add(
            check="blobs-present",
            rule="R6",
            passed=not missing,
            detail="every blob of every chosen item is in the repository"
            if not missing
            else f"{len(missing)} blob(s) missing, first: {mf.item_label(missing[0][0])} blob "
            f"{missing[0][1].hex()}",
            reason=0 if not missing else _reason("CORRUPT_DATA"),
        )

    async def _safety(self, plan: Plan, env: EnvRecord, req: bk_pb.RestoreBackupRequest) -> None:
        """FTP conflicts (R9) and control numbers (R8) of the chosen agreements."""
        run, restores = self.restores._run, self.restores
        users = await run(lambda: self.registry.ftp_folder_users(exclude_env=env.name))
        conflicts = ftp_conflicts(plan.items, users)
        for c in conflicts:
            plan.result.warnings.add(
                kind=W.KIND_FTP_FOLDER_CONFLICT,
                subject=names.artifact_name(env.name, env_pb.ARTIFACT_KIND_AGREEMENT, c.agreement),
                message=f"source folder {c.folder} is already pulled by {'; '.join(c.pulled_by)}; "
                "change it before resuming",
            )
        live = await run(lambda: restores.live_agreements.by_identity(exclude_env=env.name))
        own = {
            c.agreement: (c.interchange, c.group, c.transaction_set)
            for c in await run(lambda: self.registry.list_control_numbers(env.name))
        }
        agreements = {
            i.id: dict(i.metadata) for i in plan.items if i.kind == env_pb.ARTIFACT_KIND_AGREEMENT
        }
        done = reconcile.reconcile(
            plan.loaded.manifest,
            agreements,
            live,
            req.control_number_policy,
            req.control_number_margin,
            env.name,
            restores.clock.now(),
        )
        plan.control_numbers = [_floor(r, own) for r in done.records]
        for change in done.changes:
            mine = own.get(change.agreement.rsplit("/", 1)[-1])
            after = change.after
            if mine and any(o > a for o, a in zip(mine, _counters(after), strict=True)):
                after.interchange, after.group, after.transaction_set = _higher(
                    mine, _counters(after)
                )
                change.reason += "; kept the environment's own counters where they were higher"
        plan.result.control_numbers.extend(done.changes)
        plan.result.warnings.extend(done.warnings)
        if conflicts and restores.checklists is not None:
            plan.checklist = restore_items(
                env.name,
                backed_up_key="",
                restored_key="",
                key_holders=[],
                ftp_conflicts=conflicts,
                hybrid_connections=[],
                policy_copied=False,
                now=restores.clock.now(),
            )
            # Only the conflicts: the rest of the checklist belongs to a whole restore.
            plan.checklist = [e for e in plan.checklist if e.item.kind == e.item.KIND_FTP_FOLDER]
            plan.result.checklist.extend(e.item for e in plan.checklist)
            for item in plan.result.checklist:
                item.name = f"environments/{env.name}/checklistItems/{item.id}"

    async def _restore(self, ctx: OperationContext, into: IntoPlan) -> bk_pb.RestoreResult:
        plan, repo, run = into.plan, self.restores.repo, self.restores._run
        items = plan.items
        await ctx.phase(
            "verify", items_total=len(items), bytes_total=sum(i.size_bytes for i in items)
        )
        staged: list[StagedContent] = []
        try:
            try:
                async with repo.locks.held(SHARED, f"restore {ctx.op.name}", LOCK_WAIT):
                    await repo.refresh()
                    staged = await self.restores.stage(ctx, items)
            except (StorageError, RepositoryError, LockConflict, LockLost) as e:
                raise from_storage(e) from e
            await ctx.phase("write", items_total=1)
            data = RestoreIntoData(
                env_id=into.env.name,
                env_uid=into.env.uid,
                artifacts=mf.artifact_rows(items),
                contents=staged,
                control_numbers=plan.control_numbers,
            )
            if plan.checklist:
                data.extra_writes.append(Checklists.writer(plan.checklist))
            ctx.commit()  # one transaction writes every chosen artifact (R6)
            await asyncio.shield(run(lambda: self.registry.restore_into(data)))
            staged = []
        finally:
            for s in staged:
                await asyncio.shield(run(lambda s=s: self.registry.content.discard(s)))
        await ctx.advance(items=1)
        for w in plan.result.warnings:
            await ctx.warn(
                f"{W.Kind.Name(w.kind)}: {w.subject + ': ' if w.subject else ''}{w.message}"
            )
        return plan.result


def _validate(req: bk_pb.RestoreBackupRequest) -> None:
    errors = Collected()
    if req.edition:
        errors.add("edition", "not with target_existing: the environment keeps its edition")
    if req.region:
        errors.add("region", "not with target_existing: the environment keeps its region")
    if req.HasField("settings") and req.settings.ByteSize():
        errors.add("settings", "not with target_existing: the environment keeps its settings")
    if req.copy_backup_policy:
        errors.add("copy_backup_policy", "not with target_existing")
    if not req.kinds and not req.artifacts:
        errors.add("kinds", "name the kinds or artifacts to restore (kinds, artifacts)")
    for i, kind in enumerate(req.kinds):
        if kind not in names.COLLECTIONS:
            errors.add(f"kinds[{i}]", "unknown artifact kind")
    for i, label in enumerate(req.artifacts):
        collection, _, artifact_id = label.partition("/")
        if collection not in names.KINDS_BY_COLLECTION or not names.is_artifact_id(artifact_id):
            errors.add(f"artifacts[{i}]", "must be {collection}/{artifact}, as agreements/A1")
    for agreement, folder in req.source_ftp_folders.items():
        if not folder or len(folder) > 1024 or not folder.isprintable():
            errors.add(
                f"source_ftp_folders[{agreement!r}]", "a folder is 1 to 1024 printable characters"
            )
    reconcile.validate(req, errors)
    errors.raise_if_any()


def _chosen(
    items: Sequence[mf_pb.ManifestItem], kinds: set[int], labels: list[str]
) -> list[mf_pb.ManifestItem]:
    by_label = {mf.item_label(i): i for i in items}
    unknown = [label for label in labels if label not in by_label]
    if unknown:
        raise InvalidArgument("artifacts", f"not in the backup: {', '.join(unknown)}")
    wanted = set(labels)
    out = []
    for item in items:
        if item.kind in kinds or mf.item_label(item) in wanted:
            copy = mf_pb.ManifestItem()
            copy.CopyFrom(item)
            out.append(copy)
    if not out:
        raise InvalidArgument("kinds", "the backup holds no artifact of these kinds")
    return out


def _counters(c: env_pb.ControlNumbers) -> Counters:
    return c.interchange, c.group, c.transaction_set


def _higher(a: Counters, b: Counters) -> Counters:
    return max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2])


def _floor(record: ControlNumberRecord, own: dict[str, Counters]) -> ControlNumberRecord:
    mine = own.get(record.agreement)
    if mine is None:
        return record
    higher = _higher(mine, (record.interchange, record.group, record.transaction_set))
    return ControlNumberRecord(record.agreement, *higher, record.update_time)

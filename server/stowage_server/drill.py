"""Restore drills: nobody knows a backup restores until it has to, so a drill
restores it now, into a sandbox, and checks the result.

A drill reads and verifies every blob as a restore does, creates a sandbox
environment (`drill-` and the first 12 hex digits of the operation id) in one
transaction, then reads everything back from the sandbox and compares it with
the manifest: each artifact's digest, size and metadata and its content hashed
again, every setting (secrets by value, inside the server), the edition and
region, the control numbers and the AS2 records. The sandbox is deleted when
the drill ends, however it ends, without a trace (no release period holds its
name). One left behind by a server that stopped mid-drill is deleted at the
next start.

A drill whose backup does not restore exactly succeeds as an operation with
``passed`` false and every problem named (a corrupt blob names its item); the
operation fails only when the drill could not run (storage unavailable, a
repository lock, a wrong key).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import drills_pb2 as dr_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import manifest_pb2 as mf_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage.crypto import DecryptionFailed
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.repository import RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .catalog import attempt as backup_attempt
from .clock import timestamp
from .content import StagedContent
from .errors import DataLoss, from_storage
from .operations import OperationContext, request_hash
from .registry import ContentInfo, ControlNumberRecord, RestorePlanData, Snapshot
from .restore import LOCK_WAIT, Loaded, RestoreEngine
from .scheduled_runs import REFUSED, ScheduledRuns
from .settings import PLAIN_FIELDS, SECRET_FIELDS

log = logging.getLogger("stowage.drill")
T = TypeVar("T")
Op = ops_pb.Operation
MAX_PROBLEMS = 1000
READ_PIECE = 1 << 20


def drill_key(env_uid: str) -> str:
    """The scheduled-runs ledger key of an environment's drills (its backups use the uid)."""
    return f"drill:{env_uid}"


class DrillEngine:
    def __init__(self, restores: RestoreEngine, runs: ScheduledRuns | None = None) -> None:
        self.restores = restores
        self.registry = restores.registry
        self.operations = restores.operations
        self.clock = restores.clock
        self.runs = runs

    async def _run(self, fn: Callable[[], T]) -> T:
        return await self.restores._run(fn)

    async def start(
        self, req: dr_pb.DrillBackupRequest, *, scheduled: bool = False
    ) -> ops_pb.Operation:
        bname = names.parse_backup(req.backup, "backup")
        names.check_request_id(req.request_id)
        op = self.operations.new(Op.KIND_DRILL, str(bname), req.request_id)
        req_hash = request_hash(req)
        if req.request_id:
            existing = await self._run(
                lambda: self.operations.store.find_request(op.kind, req.request_id)
            )
            if existing is not None:
                return self.operations.check_same_request(existing, req_hash)
        loaded = await self.restores.load(bname)
        op, created = await self.operations.create(op, req_hash)
        if created:
            self.operations.launch(
                op,
                lambda ctx: self._drill(ctx, loaded, scheduled),
                {"environment": bname.environment},
            )
        return op

    async def _drill(
        self, ctx: OperationContext, loaded: Loaded, scheduled: bool
    ) -> dr_pb.DrillResult:
        started = self.clock.now()
        m = loaded.manifest
        sandbox = names.sandbox_id(ctx.op_id)
        result = dr_pb.DrillResult(
            backup=m.backup, sandbox=names.environment_name(sandbox), scheduled=scheduled
        )
        problems: list[dr_pb.DrillProblem] = []
        staged: list[StagedContent] = []
        created: asyncio.Future[object] | None = None
        try:
            try:
                settings = mf.open_settings(loaded.data_key, m.backup, m.settings)
            except DecryptionFailed as e:
                raise DataLoss(f"the secrets of {m.backup} do not decrypt: {e}") from e
            items = list(loaded.items)
            await ctx.phase(
                "verify", items_total=len(items), bytes_total=sum(i.size_bytes for i in items)
            )
            repo = self.restores.repo
            try:
                async with repo.locks.held(SHARED, f"drill {ctx.op.name}", LOCK_WAIT):
                    await repo.refresh()
                    problems += _missing_blobs(items, repo.has_blob)
                    if not problems:
                        try:
                            staged = await self.restores.stage(ctx, items)
                        except DataLoss as e:
                            item = e.metadata.get("item") or e.metadata.get("object", "")
                            problems.append(dr_pb.DrillProblem(item=item, description=e.message))
            except (StorageError, RepositoryError, LockConflict, LockLost) as e:
                raise from_storage(e) from e
            if not problems:
                await ctx.phase("write", items_total=1)
                data = _sandbox_data(sandbox, m, items, settings, staged)
                created = asyncio.ensure_future(
                    self._run(lambda: self.registry.create_restored(data))
                )
                await asyncio.shield(created)
                staged = []
                await ctx.advance(items=1)
                problems += await self._check(ctx, sandbox, m, items, settings, result)
            await ctx.phase("cleanup")
        finally:
            for s in staged:
                await asyncio.shield(self._run(lambda s=s: self.registry.content.discard(s)))
            await asyncio.shield(self._cleanup(sandbox, created))
        result.sandbox_deleted = True
        result.passed = not problems
        result.problems.extend(problems[:MAX_PROBLEMS])
        result.duration.CopyFrom(_duration(self.clock.now() - started))
        for p in problems[:20]:
            await ctx.warn(f"{p.item}: {p.description}")
        return result

    async def _cleanup(self, sandbox: str, created: asyncio.Future[object] | None) -> None:
        if created is not None:
            await asyncio.wait([created])  # a cancel must not outrun the creating transaction
        await self._run(lambda: self.registry.purge_sandbox(sandbox))

    async def _check(
        self,
        ctx: OperationContext,
        sandbox: str,
        m: mf_pb.BackupManifest,
        items: list[mf_pb.ManifestItem],
        settings: env_pb.EnvironmentSettings,
        result: dr_pb.DrillResult,
    ) -> list[dr_pb.DrillProblem]:
        """The sandbox read back and compared with the manifest."""
        await ctx.phase(
            "check", items_total=len(items), bytes_total=sum(i.size_bytes for i in items)
        )
        snap = await self._run(lambda: self.registry.snapshot(sandbox, all_contents=True))
        problems = _compare_environment(snap, m)
        problems += _compare_settings(snap.settings, settings)
        result.settings_checked = len(PLAIN_FIELDS) + len(SECRET_FIELDS) + 2  # with edition, region
        actual = {(a.kind, a.artifact_id): a for a in snap.artifacts}
        expected = {(i.kind, i.id) for i in items}
        hashed: dict[bytes, tuple[bytes, int]] = {}
        for item in items:
            label = mf.item_label(item)
            a = actual.get((item.kind, item.id))
            if a is None:
                problems.append(dr_pb.DrillProblem(item=label, description="missing after restore"))
                continue
            if a.sha256 != bytes(item.sha256) or a.size != item.size_bytes:
                problems.append(
                    dr_pb.DrillProblem(
                        item=label,
                        description=f"restored as {a.sha256.hex()[:12]} ({a.size} bytes), "
                        f"backed up as {bytes(item.sha256).hex()[:12]} ({item.size_bytes} bytes)",
                    )
                )
            if json.loads(a.metadata_json) != dict(item.metadata):
                problems.append(
                    dr_pb.DrillProblem(item=label, description="metadata differs from the backup")
                )
            info = snap.contents.get(a.sha256)
            if info is None:
                problems.append(dr_pb.DrillProblem(item=label, description="content is missing"))
                continue
            if a.sha256 not in hashed:
                hashed[a.sha256] = await self._run(lambda i=info: self._hash(i))
            digest, size = hashed[a.sha256]
            if digest != bytes(item.sha256) or size != item.size_bytes:
                problems.append(
                    dr_pb.DrillProblem(
                        item=label,
                        description=f"content read back hashes to {digest.hex()[:12]} "
                        f"({size} bytes), not the backed-up {bytes(item.sha256).hex()[:12]}",
                    )
                )
            result.artifacts_checked += 1
            result.bytes_checked += size
            await ctx.advance(items=1, nbytes=size, current=label)
        for kind, artifact_id in sorted(set(actual) - expected):
            label = names.artifact_label(kind, artifact_id)
            problems.append(dr_pb.DrillProblem(item=label, description="not in the backup"))
        return problems

    def _hash(self, info: ContentInfo) -> tuple[bytes, int]:
        h, size, offset = hashlib.sha256(), 0, 0
        while offset < info.size:
            piece = self.registry.read_content(info, offset, READ_PIECE)
            if not piece:
                break
            h.update(piece)
            size += len(piece)
            offset += len(piece)
        return h.digest(), size

    # -- leftovers and status --------------------------------------------------

    async def clean_leftovers(self) -> int:
        """Deletes sandboxes whose drill no longer runs (a server stopped mid-drill)."""
        removed = 0
        for sandbox in await self._run(self.registry.sandboxes):
            prefix = sandbox.removeprefix("drill-")
            if not await self._run(lambda p=prefix: self._drill_running(p)):
                if await self._run(lambda s=sandbox: self.registry.purge_sandbox(s)):
                    log.info("deleted %s, left behind by an interrupted drill", sandbox)
                    removed += 1
        return removed

    def _drill_running(self, op_prefix: str) -> bool:
        with self.registry.db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM operations WHERE kind = ? AND id GLOB ? AND state IN (?, ?)",
                (Op.KIND_DRILL, op_prefix + "*", Op.STATE_PENDING, Op.STATE_RUNNING),
            ).fetchone()
        return row is not None

    async def last(self, env_id: str, env_uid: str) -> bk_pb.DrillAttempt | None:
        """The latest drill of the environment's backups, or a refused scheduled one."""
        prefix = f"environments/{env_id}/backups/"
        op = await self._run(lambda: self._latest_drill(prefix))
        out = drill_attempt(op) if op is not None else None
        runs = self.runs
        if runs is None:
            return out
        run = await self._run(lambda: runs.latest(drill_key(env_uid)))
        if (
            run is not None
            and run.state == REFUSED
            and (out is None or run.claim_time >= out.start_time.ToNanoseconds() / 1e9)
        ):
            out = bk_pb.DrillAttempt(state="REFUSED", start_time=timestamp(run.claim_time))
            if run.end_time is not None:
                out.end_time.CopyFrom(timestamp(run.end_time))
            if run.error:
                out.error.ParseFromString(run.error)
        return out

    def _latest_drill(self, prefix: str) -> Op | None:
        # '0' follows '/': the range is every target under the prefix, on the index.
        with self.registry.db.read() as conn:
            row = conn.execute(
                "SELECT body FROM operations WHERE kind = ? AND target >= ? AND target < ? "
                "ORDER BY create_time DESC, id DESC LIMIT 1",
                (Op.KIND_DRILL, prefix, prefix[:-1] + "0"),
            ).fetchone()
        return Op.FromString(row[0]) if row else None


def drill_attempt(op: Op) -> bk_pb.DrillAttempt:
    base = backup_attempt(op)
    out = bk_pb.DrillAttempt(
        operation=op.name, state=base.state, backup=op.target, start_time=base.start_time
    )
    if base.HasField("end_time"):
        out.end_time.CopyFrom(base.end_time)
    if op.HasField("drill"):
        out.result.CopyFrom(op.drill)
        out.passed = op.drill.passed
    if op.HasField("error"):
        out.error.CopyFrom(op.error)
    return out


def _missing_blobs(
    items: list[mf_pb.ManifestItem], has_blob: Callable[[bytes], bool]
) -> list[dr_pb.DrillProblem]:
    out = []
    for item in items:
        missing = [d for d, _ in mf.blob_refs(item) if not has_blob(d)]
        if missing:
            out.append(
                dr_pb.DrillProblem(
                    item=mf.item_label(item),
                    description=f"{len(missing)} blob(s) missing from the repository, first "
                    f"{missing[0].hex()}",
                )
            )
    return out


def _sandbox_data(
    sandbox: str,
    m: mf_pb.BackupManifest,
    items: list[mf_pb.ManifestItem],
    settings: env_pb.EnvironmentSettings,
    staged: list[StagedContent],
) -> RestorePlanData:
    """The backup exactly as it is, into the sandbox: no override, no policy."""
    return RestorePlanData(
        env_id=sandbox,
        edition=m.edition,
        region=m.region,
        settings_plain=settings,
        restored_from=m.backup,
        artifacts=mf.artifact_rows(items),
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
            (a.message_id, a.mic, a.first_seen_time.ToNanoseconds() / 1e9) for a in m.as2_messages
        ],
        release_period=0.0,
    )


def _compare_environment(snap: Snapshot, m: mf_pb.BackupManifest) -> list[dr_pb.DrillProblem]:
    out = []
    if snap.env.edition != m.edition:
        out.append(dr_pb.DrillProblem(item="edition", description="differs from the backup"))
    if snap.env.region != m.region:
        out.append(dr_pb.DrillProblem(item="region", description="differs from the backup"))
    want = {
        c.agreement.rsplit("/", 1)[-1]: (c.interchange, c.group, c.transaction_set)
        for c in m.control_numbers
    }
    got = {c.agreement: (c.interchange, c.group, c.transaction_set) for c in snap.control_numbers}
    for agreement in sorted(set(want) | set(got)):
        if want.get(agreement) != got.get(agreement):
            out.append(
                dr_pb.DrillProblem(
                    item=f"controlNumbers/{agreement}",
                    description=f"restored {got.get(agreement)}, backed up {want.get(agreement)}",
                )
            )
    want_as2 = {a.message_id: a.mic for a in m.as2_messages}
    got_as2 = {message_id: mic for message_id, mic, _ in snap.as2_messages}
    for message_id in sorted(set(want_as2) | set(got_as2)):
        if want_as2.get(message_id) != got_as2.get(message_id):
            out.append(
                dr_pb.DrillProblem(
                    item=f"as2Messages/{message_id}",
                    description="missing after restore"
                    if message_id not in got_as2
                    else "MIC differs from the backup"
                    if message_id in want_as2
                    else "not in the backup",
                )
            )
    return out


def _compare_settings(
    restored: env_pb.EnvironmentSettings, backed_up: env_pb.EnvironmentSettings
) -> list[dr_pb.DrillProblem]:
    out = []
    for name in PLAIN_FIELDS:
        if getattr(restored, name) != getattr(backed_up, name):
            out.append(
                dr_pb.DrillProblem(
                    item=f"settings.{name}",
                    description=f"restored {getattr(restored, name)!r}, "
                    f"backed up {getattr(backed_up, name)!r}",
                )
            )
    for name in SECRET_FIELDS:
        # Compared by value here; only the verdict leaves the server.
        if getattr(restored, name).value != getattr(backed_up, name).value:
            out.append(
                dr_pb.DrillProblem(item=f"settings.{name}", description="secret value differs")
            )
    return out


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(max(0, round(seconds * 1e9)))
    return d

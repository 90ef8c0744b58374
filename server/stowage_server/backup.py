"""The backup engine: snapshot an environment, store what the repository lacks,
then make the backup visible.

Write order is the safety argument (R3): blobs and the index that names them
first, then the wrapped data key, then the manifest, and the backup record
last, with create-if-absent. Until the record exists nothing is listable, so a
crash or cancel at any earlier point leaves only unreferenced data for prune.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from stowage.v1 import (
    backups_pb2 as bk_pb,
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
from stowage_storage.crypto import MasterKey, new_data_key
from stowage_storage.locks import SHARED, Lock, LockConflict, LockLost
from stowage_storage.repository import RecordRef, Repository, RepositoryError, WriteSession
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .clock import Clock, timestamp
from .editions import EditionPolicy
from .errors import FailedPrecondition, Violation, from_storage
from .operations import OperationContext, OperationManager, request_hash
from .registry import ArtifactRecord, ContentInfo, Registry, Snapshot

T = TypeVar("T")
# Blobs read and stored concurrently; bounded so memory stays flat.
_WINDOW = 8
# How long a backup waits for a running prune to release the repository.
LOCK_WAIT = 120.0
# Small artifacts whose inline content is fetched per database query.
_INLINE_BATCH = 256


def new_backup_id(at: float) -> str:
    """Sorts by time: the second, then its fraction in 4096ths, then 3 random hex digits."""
    fraction = int((at % 1) * 4096)
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(at))}-{fraction:03x}{secrets.token_hex(2)[:3]}"


def trigger_word(trigger: int) -> str:
    """'manual' or 'scheduled', for logs and metrics."""
    return bk_pb.Backup.Trigger.Name(trigger).removeprefix("TRIGGER_").lower()


def batch_loss_violations(batches: list[tuple[str, int]], env_id: str) -> list[Violation]:
    return [
        Violation(
            f"environments/{env_id}/batches/{b}",
            f"{n} active message(s) would be lost",
            "ACTIVE_BATCH_MESSAGES",
        )
        for b, n in batches
    ]


def refuse_batch_loss(batches: list[tuple[str, int]], env_id: str) -> FailedPrecondition:
    listing = ", ".join(f"{b} ({n})" for b, n in batches)
    return FailedPrecondition(
        "ACTIVE_BATCH_MESSAGES",
        f"batches hold active messages that a backup would lose: {listing}; "
        "release them, or back up with allow_batch_loss",
        metadata={"batches": listing, "environment": names.environment_name(env_id)},
        violations=batch_loss_violations(batches, env_id),
    )


class BackupEngine:
    def __init__(
        self,
        registry: Registry,
        repo: Repository,
        operations: OperationManager,
        master: MasterKey,
        editions: EditionPolicy,
        clock: Clock,
        executor: Executor | None,
    ) -> None:
        self.registry = registry
        self.repo = repo
        self.operations = operations
        self.master = master
        self.editions = editions
        self.clock = clock
        self._executor = executor

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(
        self, req: bk_pb.CreateBackupRequest, trigger: int = bk_pb.Backup.TRIGGER_MANUAL
    ) -> ops_pb.Operation:
        """Checks the request and starts the backup; returns its operation at once."""
        env_id = names.parse_environment(req.parent, "parent")
        names.check_request_id(req.request_id)
        op = self.operations.new(ops_pb.Operation.KIND_BACKUP, req.parent, req.request_id)
        req_hash = request_hash(req)
        if req.request_id:
            # A retry returns the first operation, whatever happened since.
            existing = await self._run(
                lambda: self.operations.store.find_request(op.kind, req.request_id)
            )
            if existing is not None:
                return self.operations.check_same_request(existing, req_hash)
        env = await self._run(lambda: self.registry.get(env_id))
        self.editions.require(env.edition, "backup", env_id)  # R1
        if not req.allow_batch_loss:
            active = await self._run(lambda: self.registry.active_batches(env_id))
            if active:
                raise refuse_batch_loss(active, env_id)
        op, created = await self.operations.create(op, req_hash)  # R11: one at a time
        if created:
            self.operations.launch(
                op,
                lambda ctx: self._backup(ctx, env_id, req, trigger),
                {"environment": env_id, "trigger": trigger_word(trigger)},
            )
        return op

    async def _backup(
        self, ctx: OperationContext, env_id: str, req: bk_pb.CreateBackupRequest, trigger: int
    ) -> bk_pb.Backup:
        started = self.clock.now()
        await ctx.phase("snapshot")
        env = await self._run(lambda: self.registry.get(env_id))
        if req.quiesce:
            await self._run(lambda: self.registry.set_quiesce(env.uid, ctx.op_id))
        try:
            snap = await self._run(lambda: self.registry.snapshot(env_id))
            lost = [(b, len(m)) for b, m in snap.batches.items() if m]
            if lost and not req.allow_batch_loss:
                raise refuse_batch_loss(lost, env_id)
            try:
                async with self.repo.locks.held(SHARED, f"backup {ctx.op.name}", LOCK_WAIT) as lock:
                    return await self._store(ctx, snap, trigger, started, lock)
            except (StorageError, RepositoryError, LockConflict, LockLost) as e:
                raise from_storage(e) from e
        finally:
            if req.quiesce:
                await asyncio.shield(self._run(lambda: self.registry.set_quiesce(env.uid, "")))

    async def _store(
        self, ctx: OperationContext, snap: Snapshot, trigger: int, started: float, lock: Lock
    ) -> bk_pb.Backup:
        env = snap.env
        backup_id = new_backup_id(snap.time)
        ref = RecordRef(env.name, backup_id)
        backup_name = str(names.BackupName(env.name, backup_id))
        await self.repo.refresh()

        chunks = await self._chunk_lists(snap)
        total_bytes = sum(a.size for a in snap.artifacts)
        await ctx.phase("upload", items_total=len(snap.artifacts), bytes_total=total_bytes)
        session = self.repo.session()
        try:
            await self._upload(ctx, snap, chunks, session)
            await session.commit()  # packs, then the index naming them
        except BaseException:
            await session.abort()
            raise

        await ctx.phase("commit")
        manifest = self._manifest(snap, backup_name, chunks)
        key_id, data_key = new_data_key()
        manifest.data_key_id = key_id
        manifest.settings.CopyFrom(
            mf.seal_settings(data_key, backup_name, self.registry.settings_plain(env))
        )
        await self.repo.put_data_key(ref, mf.wrap(self.master, key_id, data_key))
        manifest_bytes = manifest.SerializeToString(deterministic=True)
        manifest_digest = await self.repo.put_manifest(manifest_bytes)
        backup = bk_pb.Backup(
            name=backup_name,
            environment_uid=env.uid,
            edition=env.edition,
            region=env.region,
            product_version=manifest.settings.product_version,
            create_time=timestamp(snap.time),
            trigger=trigger,
            artifact_count=len(snap.artifacts),
            size_bytes=sum(a.size for a in snap.artifacts),
            added_bytes=session.stored_bytes,
            manifest_sha256=manifest_digest,
            excluded=manifest.excluded,
            warnings=manifest.warnings,
            operation=ctx.op.name,
        )
        backup.complete_time.CopyFrom(timestamp(self.clock.now()))
        # The record makes the backup visible: written last, never replaced, and
        # only while the lock that keeps prune away is surely still ours.
        lock.check()
        ctx.commit()
        await self.repo.put_record(ref, backup.SerializeToString(deterministic=True))
        for w in manifest.warnings:
            await ctx.warn(w)
        return backup

    async def _chunk_lists(self, snap: Snapshot) -> dict[bytes, list[tuple[bytes, int]]]:
        """The blobs of each content. Chunk lists come from the registry, computed
        when the content was written; only content chunked with other parameters
        than the repository's is read and cut again."""
        repo_chunker = f"fastcdc-{self.repo.chunker.average}-{self.repo.chunker.threshold}"
        out: dict[bytes, list[tuple[bytes, int]]] = {}
        for digest, info in snap.contents.items():
            if info.chunker == repo_chunker or info.size <= self.repo.chunker.threshold:
                if info.chunks:
                    out[digest] = [(c.sha256, c.length) for c in info.chunks]
                else:
                    out[digest] = [(digest, info.size)]
            else:
                path = self.registry.content.path(digest)
                cut = await self._run(lambda p=path: self.repo.chunker.split_file(p))
                out[digest] = (
                    [(c.sha256, c.length) for c in cut] if len(cut) > 1 else [(digest, info.size)]
                )
        return out

    async def _upload(
        self,
        ctx: OperationContext,
        snap: Snapshot,
        chunks: dict[bytes, list[tuple[bytes, int]]],
        session: WriteSession,
    ) -> None:
        await _Upload(self, ctx, snap, chunks, session).run()
        await ctx.flush(force=True)

    def _manifest(
        self, snap: Snapshot, backup_name: str, chunks: dict[bytes, list[tuple[bytes, int]]]
    ) -> mf_pb.BackupManifest:
        env = snap.env
        m = mf_pb.BackupManifest(
            format_version=mf.FORMAT_VERSION,
            backup=backup_name,
            environment_uid=env.uid,
            edition=env.edition,
            region=env.region,
            snapshot_time=timestamp(snap.time),
        )
        for a in snap.artifacts:
            item = m.items.add(
                kind=a.kind,
                id=a.artifact_id,
                sha256=a.sha256,
                size_bytes=a.size,
                metadata=a.metadata,
                update_time=timestamp(a.update_time),
            )
            blobs = chunks[a.sha256]
            if len(blobs) > 1:
                item.chunks.extend(mf_pb.BlobRef(sha256=d, size_bytes=n) for d, n in blobs)
        for c in snap.control_numbers:
            m.control_numbers.add(
                agreement=names.artifact_name(
                    env.name, env_pb.ARTIFACT_KIND_AGREEMENT, c.agreement
                ),
                interchange=c.interchange,
                group=c.group,
                transaction_set=c.transaction_set,
                update_time=timestamp(c.update_time),
            )
        for message_id, mic, seen in snap.as2_messages:
            m.as2_messages.add(message_id=message_id, mic=mic, first_seen_time=timestamp(seen))
        Excluded = bk_pb.ExcludedItem
        for hc_id, endpoint in snap.hybrid_connections:
            m.excluded.add(
                kind=Excluded.KIND_HYBRID_CONNECTION,
                name=f"environments/{env.name}/hybridConnections/{hc_id}",
                reason=f"hybrid connections are never backed up; recreate {hc_id} ({endpoint}) after a restore",
            )
        for batch, messages in snap.batches.items():
            if messages:
                m.excluded.add(
                    kind=Excluded.KIND_BATCH_MESSAGES,
                    name=f"environments/{env.name}/batches/{batch}",
                    message_count=len(messages),
                    reason="lost: " + ", ".join(messages),
                )
                m.warnings.append(f"batch {batch}: {len(messages)} active message(s) not backed up")
        m.excluded.add(
            kind=Excluded.KIND_TRACKING_DATA,
            reason="tracking data is not part of a backup; only the tracking database connection string is",
        )
        return m


class _Upload:
    """Stores the blobs of a snapshot that the repository lacks, a bounded window
    of blobs at a time, so both cores hash and compress while memory stays flat.
    Progress counts bytes as they are stored, and an artifact once all its blobs are."""

    def __init__(
        self,
        engine: BackupEngine,
        ctx: OperationContext,
        snap: Snapshot,
        chunks: dict[bytes, list[tuple[bytes, int]]],
        session: WriteSession,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.snap = snap
        self.chunks = chunks
        self.session = session
        self.window = asyncio.Semaphore(_WINDOW)
        self.tasks: set[asyncio.Task[None]] = set()
        self.scheduled: set[bytes] = set()
        self.failure: BaseException | None = None

    async def run(self) -> None:
        artifacts = self.snap.artifacts
        try:
            for start in range(0, len(artifacts), _INLINE_BATCH):
                batch = artifacts[start : start + _INLINE_BATCH]
                inline = await self._inline(batch)
                for art in batch:
                    await self._artifact(art, inline)
            await asyncio.gather(*self.tasks)
            # A task that failed before the gather has left self.tasks already.
            if self.failure is not None:
                raise self.failure
        finally:
            for t in self.tasks:
                t.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _inline(self, batch: list[ArtifactRecord]) -> dict[bytes, bytes]:
        """Small contents of a batch in one query, only those still to store."""
        wanted = [
            a.sha256
            for a in batch
            if self.snap.contents[a.sha256].is_inline
            and a.sha256 not in self.scheduled
            and self.session.needs(a.sha256)
        ]
        if not wanted:
            return {}
        return await self.engine._run(lambda: self.engine.registry.inline_contents(wanted))

    async def _artifact(self, art: ArtifactRecord, inline: dict[bytes, bytes]) -> None:
        info = self.snap.contents[art.sha256]
        label = _item_label(art)
        # One hold for the scheduling itself, one per blob in flight; whoever
        # drops the last counts the artifact done.
        holds = [1]
        stored_already = 0
        offset = 0
        for digest, length in self.chunks[art.sha256]:
            blob_offset = offset
            offset += length
            if digest in self.scheduled or not self.session.needs(digest):
                stored_already += length
                continue
            self.scheduled.add(digest)
            await self.window.acquire()
            if self.failure is not None:
                self.window.release()
                raise self.failure
            holds[0] += 1
            if info.is_inline:
                load = _ready(inline[art.sha256])
            else:
                load = self._file_range(info, blob_offset, length)
            task = asyncio.ensure_future(self._store(digest, length, load, holds, label))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        holds[0] -= 1
        await self.ctx.advance(items=0 if holds[0] else 1, nbytes=stored_already, current=label)

    def _file_range(
        self, info: ContentInfo, offset: int, length: int
    ) -> Callable[[], Awaitable[bytes]]:
        content = self.engine.registry.content
        return lambda: self.engine._run(lambda: content.read_range(info.sha256, offset, length))

    async def _store(
        self,
        digest: bytes,
        length: int,
        load: Callable[[], Awaitable[bytes]],
        holds: list[int],
        label: str,
    ) -> None:
        try:
            await self.session.add(digest, await load())
        except BaseException as e:
            self.failure = self.failure or e
            raise
        finally:
            self.window.release()
        holds[0] -= 1
        await self.ctx.advance(items=0 if holds[0] else 1, nbytes=length, current=label)


def _ready(data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def load() -> bytes:
        return data

    return load


def _item_label(a: ArtifactRecord) -> str:
    return f"{names.COLLECTIONS[a.kind]}/{a.artifact_id}"

"""The backup engine: snapshot an environment, store what the repository lacks,
then make the backup visible.

Write order is the safety argument (R3): blobs and the index that names them
first, then the wrapped data key, then the manifest, and the backup record
last, with create-if-absent. Until the record exists nothing is listable, so a
crash or cancel at any earlier point leaves only unreferenced data for prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
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
from stowage_storage.chunker import Chunk
from stowage_storage.codec import BUNDLE_TARGET
from stowage_storage.crypto import new_data_key
from stowage_storage.keyring import KeyRing
from stowage_storage.locks import SHARED, Lock, LockConflict, LockLost
from stowage_storage.repository import RecordRef, Repository, RepositoryError, WriteSession
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .clock import Clock, timestamp
from .content import INLINE_MAX
from .editions import EditionPolicy
from .errors import FailedPrecondition, Violation, from_storage
from .operations import OperationContext, OperationManager, request_hash
from .policies import PolicyStore
from .registry import Registry
from .snapshot import HeldSnapshot, content_blobs

T = TypeVar("T")
# Batches of blobs read and encoded at once; bounded so memory stays flat.
_PARALLEL = 3
_BATCH_BYTES = 4 * 1024 * 1024
_BLOCKS_PER_STEP = 64  # manifest item blocks made per worker-thread call
# A compression dictionary is trained once there are this many small artifacts
# to store, on this many of them (a tenth of a second; trained once per repository).
_DICTIONARY_MIN_ARTIFACTS = 1000
_DICTIONARY_SAMPLES = 300
# Packs written between index objects: a long backup's list of the blobs it
# has stored stays short (16 packs: about 128 MiB stored).
_INDEX_EVERY = 16
# How long a backup waits for a running prune to release the repository.
LOCK_WAIT = 120.0


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
        master: KeyRing,
        editions: EditionPolicy,
        clock: Clock,
        executor: Executor | None,
        policies: PolicyStore | None = None,
    ) -> None:
        self.registry = registry
        self.repo = repo
        self.operations = operations
        self.master = master
        self.editions = editions
        self.clock = clock
        self._executor = executor
        self._repo_chunker = f"fastcdc-{repo.chunker.average}-{repo.chunker.threshold}"
        self.policies = policies

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(
        self,
        req: bk_pb.CreateBackupRequest,
        trigger: int = bk_pb.Backup.TRIGGER_MANUAL,
        *,
        scheduled_time: float | None = None,
    ) -> ops_pb.Operation:
        """Checks the request and starts the backup; returns its operation at once.
        A scheduled backup names the policy's run time it is for."""
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
        env = await self._run(lambda: self.registry.record(env_id))
        self.editions.require(env.edition, "backup", env_id)  # R1
        if not req.allow_batch_loss:
            active = await self._run(lambda: self.registry.active_batches(env_id))
            if active:
                raise refuse_batch_loss(active, env_id)
        op, created = await self.operations.create(op, req_hash)  # R11: one at a time
        if created:
            self.operations.launch(
                op,
                lambda ctx: self._backup(ctx, env_id, req, trigger, scheduled_time),
                {"environment": env_id, "trigger": trigger_word(trigger)},
            )
        return op

    async def _backup(
        self,
        ctx: OperationContext,
        env_id: str,
        req: bk_pb.CreateBackupRequest,
        trigger: int,
        scheduled_time: float | None,
    ) -> bk_pb.Backup:
        started = self.clock.now()
        await ctx.phase("snapshot")
        env = await self._run(lambda: self.registry.record(env_id))
        if req.quiesce:
            await self._run(lambda: self.registry.set_quiesce(env.uid, ctx.op_id))
        try:
            snap = await self._run(lambda: self.registry.hold_snapshot(env_id))
            try:
                lost = [(b, len(m)) for b, m in snap.batches.items() if m]
                if lost and not req.allow_batch_loss:
                    raise refuse_batch_loss(lost, env_id)
                async with self.repo.locks.held(SHARED, f"backup {ctx.op.name}", LOCK_WAIT) as lock:
                    return await self._store(ctx, snap, trigger, started, lock, scheduled_time)
            except (StorageError, RepositoryError, LockConflict, LockLost) as e:
                raise from_storage(e) from e
            finally:
                await asyncio.shield(self._run(snap.close))
        finally:
            if req.quiesce:
                await asyncio.shield(self._run(lambda: self.registry.set_quiesce(env.uid, "")))

    async def _store(
        self,
        ctx: OperationContext,
        snap: HeldSnapshot,
        trigger: int,
        started: float,
        lock: Lock,
        scheduled_time: float | None = None,
    ) -> bk_pb.Backup:
        env = snap.env
        backup_id = new_backup_id(snap.time)
        ref = RecordRef(env.name, backup_id)
        backup_name = str(names.BackupName(env.name, backup_id))
        await self.repo.refresh()

        recut = await self._recut(snap)
        await ctx.phase("upload", items_total=snap.artifact_count, bytes_total=snap.total_bytes)
        session = self.repo.session(index_every=_INDEX_EVERY)
        try:
            await self._upload(ctx, snap, recut, session)
            item_blocks = await self._store_items(snap, recut, session)
            await session.commit()  # packs, then the index naming them
        except BaseException:
            await session.abort()
            raise

        await ctx.phase("commit")
        manifest = self._manifest_header(snap, backup_name)
        policies = self.policies
        if policies is not None:
            # Recorded so that a restore can give it to the new environment (R10).
            policy = await self._run(lambda: policies.get(env.uid))
            if policy is not None:
                manifest.backup_policy.CopyFrom(policy)
                manifest.backup_policy.ClearField("update_time")
                manifest.backup_policy.ClearField("next_run_time")
        key_id, data_key = new_data_key()
        manifest.data_key_id = key_id
        manifest.settings.CopyFrom(mf.seal_settings(data_key, backup_name, snap.settings))
        await self.repo.put_data_key(ref, mf.wrap(self.master, key_id, data_key))
        manifest.item_blocks.extend(item_blocks)
        manifest_digest = await self.repo.put_manifest(
            manifest.SerializeToString(deterministic=True)
        )
        backup = bk_pb.Backup(
            name=backup_name,
            environment_uid=env.uid,
            edition=env.edition,
            region=env.region,
            product_version=manifest.settings.product_version,
            create_time=timestamp(snap.time),
            trigger=trigger,
            artifact_count=snap.artifact_count,
            size_bytes=snap.total_bytes,
            added_bytes=session.stored_bytes,
            manifest_sha256=manifest_digest,
            excluded=manifest.excluded,
            warnings=manifest.warnings,
            operation=ctx.op.name,
        )
        if scheduled_time is not None:
            backup.scheduled_time.FromMilliseconds(round(scheduled_time * 1000))
        backup.complete_time.CopyFrom(timestamp(self.clock.now()))
        # The record makes the backup visible: written last, never replaced, and
        # only while the lock that keeps prune away is surely still ours.
        lock.check()
        ctx.commit()
        await self.repo.put_record(ref, backup.SerializeToString(deterministic=True))
        for w in manifest.warnings:
            await ctx.warn(w)
        return backup

    async def _recut(self, snap: HeldSnapshot) -> dict[bytes, list[tuple[bytes, int]]]:
        """The blobs of content chunked with other parameters than the
        repository's, read and cut again; all other content's blobs are known
        from the registry, computed when the content was written."""
        stale = await self._run(
            lambda: snap.stale_contents(self._repo_chunker, self.repo.chunker.threshold)
        )
        out: dict[bytes, list[tuple[bytes, int]]] = {}
        for digest, size in stale:
            path = self.registry.content.path(digest)
            cut = await self._run(lambda p=path: self.repo.chunker.split_file(p))
            out[digest] = [(c.sha256, c.length) for c in cut] if len(cut) > 1 else [(digest, size)]
        return out

    async def _upload(
        self,
        ctx: OperationContext,
        snap: HeldSnapshot,
        recut: dict[bytes, list[tuple[bytes, int]]],
        session: WriteSession,
    ) -> None:
        await _Upload(self, ctx, snap, recut, session).run()
        await ctx.flush(force=True)

    async def _store_items(
        self,
        snap: HeldSnapshot,
        recut: dict[bytes, list[tuple[bytes, int]]],
        session: WriteSession,
    ) -> list[mf_pb.BlobRef]:
        """The manifest's items, stored as blocks in this backup's packs (so
        before the manifest that names them); the blocks in order. Items are
        streamed from the snapshot, a few blocks per worker-thread call, and only
        blocks the repository lacks are encoded and stored."""
        blocks = mf.item_blocks(self._items(snap, recut))
        refs: list[mf_pb.BlobRef] = []
        # Blocks go to packs of their own, as restic keeps trees apart from
        # data: a manifest reads in one run, and a lost data pack leaves every
        # item readable, so verify and a failed restore still name the items.
        ended = False
        while batch := await self._run(lambda: list(itertools.islice(blocks, _BLOCKS_PER_STEP))):
            todo = []
            for digest, block in batch:
                refs.append(mf_pb.BlobRef(sha256=digest, size_bytes=len(block)))
                if session.claim(digest):
                    todo.append((digest, block))
            if todo:
                if not ended:
                    await session.end_pack()
                    ended = True
                stored = await self._run(lambda t=todo: [session.encode(d, b) for d, b in t])
                for (digest, block), encoded in zip(todo, stored, strict=True):
                    await session.append(digest, encoded, len(block))
        return refs

    def _items(
        self, snap: HeldSnapshot, recut: dict[bytes, list[tuple[bytes, int]]]
    ) -> Iterator[bytes]:
        """Every artifact's encoded ManifestItem, streamed from the snapshot: as
        stored when it was written, or encoded now for older artifacts and
        re-cut content. Blocking: runs in a worker thread."""
        for (
            item,
            sha256,
            size,
            kind,
            artifact_id,
            metadata_json,
            update_time,
            chunks,
        ) in snap.items():
            cut = recut.get(sha256) if recut else None
            if item and cut is None:
                yield item
                continue
            # (an artifact's chunk list is fetched only when its item is empty)
            blobs = cut if cut is not None else list(content_blobs((sha256, size, chunks)))
            yield mf.encode_item(
                kind,
                artifact_id,
                sha256,
                size,
                json.loads(metadata_json),
                [Chunk(0, n, d) for d, n in blobs],
                update_time,
            )

    def _manifest_header(self, snap: HeldSnapshot, backup_name: str) -> mf_pb.BackupManifest:
        """The manifest without its items (they are appended already encoded)."""
        env = snap.env
        m = mf_pb.BackupManifest(
            format_version=mf.FORMAT_VERSION,
            backup=backup_name,
            environment_uid=env.uid,
            edition=env.edition,
            region=env.region,
            snapshot_time=timestamp(snap.time),
        )
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
    """Stores the blobs of a snapshot that the repository lacks.

    The snapshot's artifacts are walked a page at a time, each blob claimed
    by the first artifact holding it. Work goes to the thread pool in batches,
    never a blob at a time: the small contents of up to _BATCH_BYTES fetched
    in one query, or a contiguous run of one file's chunks read in one call,
    then hashed (checked against the digest computed when the artifact was
    written) and compressed there. At most _PARALLEL batches are in flight,
    so both cores work while memory stays flat. Progress counts bytes as they
    are stored, and an artifact once all its blobs are.
    """

    def __init__(
        self,
        engine: BackupEngine,
        ctx: OperationContext,
        snap: HeldSnapshot,
        recut: dict[bytes, list[tuple[bytes, int]]],
        session: WriteSession,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.snap = snap
        self.recut = recut
        self.session = session
        self.slots = asyncio.Semaphore(_PARALLEL)
        self.tasks: set[asyncio.Task[None]] = set()
        self.failure: BaseException | None = None

    async def _train_dictionary(self) -> None:
        """The first backup with many small artifacts trains the repository's
        compression dictionary on a sample of them: small artifacts compress
        about 40% smaller with it than alone (each is too short for zstd)."""
        if self.engine.repo.codec.has_dictionary:
            return
        snap, session = self.snap, self.session

        def sample() -> tuple[int, list[bytes]]:
            # A uniform sample of the small content to store, in one pass.
            chosen: list[bytes] = []
            seen = 0
            pick = random.Random(0)
            for page in snap.contents():
                for sha256, size, _ in page:
                    if size > INLINE_MAX or not session.needs(sha256):
                        continue
                    seen += 1
                    if len(chosen) < _DICTIONARY_SAMPLES:
                        chosen.append(sha256)
                    elif (j := pick.randrange(seen)) < _DICTIONARY_SAMPLES:
                        chosen[j] = sha256
            return seen, list(dict.fromkeys(chosen))

        seen, chosen = await self.engine._run(sample)
        if seen < _DICTIONARY_MIN_ARTIFACTS:
            return
        data = await self.engine._run(lambda: self.engine.registry.inline_contents(chosen))
        await self.engine.repo.add_dictionary(list(data.values()))

    async def run(self) -> None:
        await self._train_dictionary()
        claim = self.session.claim
        recut = self.recut
        inline: list[tuple[bytes, list[int], int]] = []
        inline_bytes = 0
        pages = self.snap.contents()
        try:
            while page := await self.engine._run(lambda: next(pages, None)):
                stored_already = [0, 0]  # items, bytes
                for row in page:
                    sha256, size, chunks = row
                    todo: list[tuple[bytes, int, int]] = []
                    if size <= INLINE_MAX and not recut:
                        # Small content is inline and one blob: the common case, kept short.
                        if claim(sha256):
                            todo.append((sha256, 0, size))
                    else:
                        offset = 0
                        for digest, length in recut.get(sha256) or content_blobs(row):
                            if claim(digest):  # the first artifact holding it stores it
                                todo.append((digest, offset, length))
                            offset += length
                    if not todo:
                        stored_already[0] += 1
                        stored_already[1] += size
                        continue
                    holds = [len(todo)]
                    if size <= INLINE_MAX:
                        inline.append((sha256, holds, size))
                        inline_bytes += size
                        if inline_bytes >= _BATCH_BYTES:
                            await self._launch(self._inline_job(inline))
                            inline, inline_bytes = [], 0
                        continue
                    for run in _runs(todo):
                        await self._launch(self._file_job(sha256, run, holds))
                # What is stored already counts at once.
                await self.ctx.advance(items=stored_already[0], nbytes=stored_already[1])
            if inline:
                await self._launch(self._inline_job(inline))
            await asyncio.gather(*self.tasks)
            # A task that failed before the gather has left self.tasks already.
            if self.failure is not None:
                raise self.failure
        finally:
            # (still stepping in a worker thread after a cancel: left to the snapshot's close)
            with contextlib.suppress(ValueError):
                pages.close()
            for t in self.tasks:
                t.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _launch(self, job: _Job) -> None:
        await self.slots.acquire()
        if self.failure is not None:
            self.slots.release()
            raise self.failure
        task = asyncio.ensure_future(self._do(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _do(self, job: _Job) -> None:
        try:
            encoded = await self.engine._run(job.work)
            for members, stored in encoded:
                await self.session.append_bundle(members, stored)
        except BaseException as e:
            self.failure = self.failure or e
            raise
        finally:
            self.slots.release()
        items = 0
        for holds in job.holds:
            holds[0] -= 1
            items += holds[0] == 0
        await self.ctx.advance(items=items, nbytes=job.raw_bytes, current=job.label)

    def _inline_job(self, batch: list[tuple[bytes, list[int], int]]) -> _Job:
        registry = self.engine.registry
        session = self.session
        digests = [d for d, _, _ in batch]

        def work() -> list[_Stored]:
            data = registry.inline_contents(digests)
            out: list[_Stored] = []
            # Neighbours are artifacts of one kind in name order: bundled, they
            # compress together (see Codec.encode_bundle).
            for group in _bundles(digests, data):
                if len(group) == 1:
                    d = group[0]
                    out.append(([(d, len(data[d]))], session.encode(d, data[d], small=True)))
                else:
                    stored = session.encode_bundle([(d, data[d]) for d in group])
                    out.append(([(d, len(data[d])) for d in group], stored))
            return out

        return _Job(
            work,
            [h for _, h, _ in batch],
            sum(n for _, _, n in batch),
            f"{len(digests)} small artifact(s)",
        )

    def _file_job(self, sha256: bytes, run: list[tuple[bytes, int, int]], holds: list[int]) -> _Job:
        content = self.engine.registry.content
        session = self.session
        start = run[0][1]
        end = run[-1][1] + run[-1][2]

        def work() -> list[_Stored]:
            data = memoryview(content.read_range(sha256, start, end - start))
            return [
                ([(d, n)], session.encode(d, data[off - start : off - start + n]))
                for d, off, n in run
            ]

        return _Job(work, [holds] * len(run), end - start, sha256.hex()[:12])


# What a job stores: the blobs, (digest, raw length), of one stored object
# (several when it is a bundle), and that object.
_Stored = tuple[list[tuple[bytes, int]], bytes]


@dataclass
class _Job:
    """A batch of blobs to read, check and encode in one worker-thread call."""

    work: Callable[[], list[_Stored]]
    holds: list[list[int]]  # one entry per blob: the countdown of the artifact it belongs to
    raw_bytes: int
    label: str


def _bundles(digests: list[bytes], data: dict[bytes, bytes]) -> Iterator[list[bytes]]:
    """The digests in order, in groups of about BUNDLE_TARGET bytes."""
    group: list[bytes] = []
    size = 0
    for d in digests:
        group.append(d)
        size += len(data[d])
        if size >= BUNDLE_TARGET:
            yield group
            group, size = [], 0
    if group:
        yield group


def _runs(needed: list[tuple[bytes, int, int]]) -> list[list[tuple[bytes, int, int]]]:
    """Contiguous chunks of one file grouped up to _BATCH_BYTES, one read each."""
    runs: list[list[tuple[bytes, int, int]]] = []
    for digest, offset, length in needed:
        if runs:
            last = runs[-1]
            end = last[-1][1] + last[-1][2]
            if end == offset and end + length - last[0][1] <= _BATCH_BYTES:
                last.append((digest, offset, length))
                continue
        runs.append([(digest, offset, length)])
    return runs

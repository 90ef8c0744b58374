"""The prune engine: reclaim what no backup references.

It holds the repository's exclusive lock, so no backup, restore or copy runs
meanwhile; it refuses to run when any backup cannot be read, because deleting
on partial knowledge could delete what that backup needs.
"""

from __future__ import annotations

from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage import maintenance
from stowage_storage.locks import EXCLUSIVE, LockConflict, LockLost
from stowage_storage.repository import Repository, RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .catalog import walk
from .errors import DataLoss, from_storage
from .operations import OperationContext, OperationManager, request_hash


class PruneEngine:
    def __init__(self, repo: Repository, operations: OperationManager) -> None:
        self.repo = repo
        self.operations = operations

    async def start(self, req: mt_pb.PruneRepositoryRequest) -> ops_pb.Operation:
        names.check_request_id(req.request_id)
        op = self.operations.new(ops_pb.Operation.KIND_PRUNE, "repository", req.request_id)
        op, created = await self.operations.create(op, request_hash(req))
        if created:
            self.operations.launch(op, self._prune)
        return op

    async def _prune(self, ctx: OperationContext) -> mt_pb.PruneResult:
        try:
            async with self.repo.locks.held(EXCLUSIVE, f"prune {ctx.op.name}") as lock:
                result = await self._under_lock(ctx)
                lock.check()
                return result
        except (StorageError, RepositoryError, LockConflict, LockLost) as e:
            raise from_storage(e) from e

    async def _under_lock(self, ctx: OperationContext) -> mt_pb.PruneResult:
        await ctx.phase("references")
        live_blobs: set[bytes] = set()
        live_documents: set[str] = set()
        async for w in walk(self.repo):
            if w.manifest is None or w.items is None or w.backup is None:
                raise DataLoss(
                    f"prune refused: {w.name}: {w.problem}; run a verify and delete or repair that backup first",
                    metadata={"backup": w.name, "object": w.problem_object},
                )
            live_documents.add(f"manifests/{w.backup.manifest_sha256}")
            live_documents.add(f"keys/{w.ref.environment}/{w.ref.backup_id}")
            live_blobs.update(d for _, d, _ in mf.named_blobs(w.manifest, w.items))
            await ctx.advance(items=1, current=w.name)
        await ctx.phase("packs", items_total=len(self.repo.index.packs))

        async def progress(items: int, nbytes: int, current: str) -> None:
            await ctx.advance(items=items, nbytes=nbytes, current=current)

        stats = await maintenance.prune(self.repo, live_blobs, live_documents, progress)
        locks_removed = await self.repo.locks.remove_lapsed()
        return mt_pb.PruneResult(
            packs_deleted=stats.packs_deleted,
            packs_repacked=stats.packs_repacked,
            blobs_removed=stats.blobs_removed,
            bytes_freed=max(0, stats.bytes_freed),
            manifests_deleted=stats.documents_deleted,
            index_objects_replaced=stats.index_objects_replaced,
            locks_removed=locks_removed,
        )

"""The verify engine: is every backup restorable from what the repository holds?

The storage layer checks packs and the index (and with read_data, every blob);
this engine walks every backup's record, manifest and data key and names, for
each problem, the backup and item it hurts.
"""

from __future__ import annotations

from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage import maintenance
from stowage_storage.crypto import DecryptionFailed
from stowage_storage.keyring import KeyRing
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.pack import pack_key
from stowage_storage.repository import Repository, RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .catalog import walk
from .errors import from_storage
from .operations import OperationContext, OperationManager, request_hash

MAX_PROBLEMS = 1000
LOCK_WAIT = 120.0


class VerifyEngine:
    def __init__(self, repo: Repository, operations: OperationManager, master: KeyRing) -> None:
        self.repo = repo
        self.operations = operations
        self.master = master

    async def start(self, req: mt_pb.VerifyRepositoryRequest) -> ops_pb.Operation:
        names.check_request_id(req.request_id)
        op = self.operations.new(ops_pb.Operation.KIND_VERIFY, "repository", req.request_id)
        op, created = await self.operations.create(op, request_hash(req))
        if created:
            self.operations.launch(op, lambda ctx: self._verify(ctx, req.read_data))
        return op

    async def _verify(self, ctx: OperationContext, read_data: bool) -> mt_pb.VerifyResult:
        try:
            async with self.repo.locks.held(SHARED, f"verify {ctx.op.name}", LOCK_WAIT):
                return await self._check(ctx, read_data)
        except (StorageError, RepositoryError, LockConflict, LockLost) as e:
            raise from_storage(e) from e

    async def _check(self, ctx: OperationContext, read_data: bool) -> mt_pb.VerifyResult:
        await ctx.phase("packs", items_total=len(self.repo.index.packs))

        async def progress(items: int, nbytes: int, current: str) -> None:
            await ctx.advance(items=items, nbytes=nbytes, current=current)

        report = await maintenance.check(self.repo, read_data, progress)
        result = mt_pb.VerifyResult(
            packs_checked=report.packs_checked,
            blobs_checked=report.blobs_checked,
            bytes_read=report.bytes_read,
        )
        problems = [
            mt_pb.VerifyProblem(object=p.object, blob=p.blob.hex(), description=p.description)
            for p in report.problems
        ]
        await ctx.phase("backups")
        async for w in walk(self.repo):
            result.backups_checked += 1
            await ctx.advance(items=1, current=w.name)
            if w.manifest is None or w.items is None:
                problems.append(
                    mt_pb.VerifyProblem(
                        backup=w.name, object=w.problem_object, description=w.problem
                    )
                )
                continue
            if why := mf.invalid(w.manifest, w.items):
                problems.append(
                    mt_pb.VerifyProblem(
                        backup=w.name,
                        object=f"manifests/{w.backup.manifest_sha256}" if w.backup else "",
                        description=f"manifest is invalid: {why}",
                    )
                )
                continue
            try:
                mf.unwrap(self.master, await self.repo.get_data_key(w.ref), w.manifest.data_key_id)
            except (RepositoryError, DecryptionFailed, ValueError) as e:
                problems.append(
                    mt_pb.VerifyProblem(
                        backup=w.name,
                        object=f"keys/{w.ref.environment}/{w.ref.backup_id}",
                        description=f"data key is missing or does not open: {e}",
                    )
                )
            for item, digest, _ in mf.named_blobs(w.manifest, w.items):
                problem = self._blob_problem(digest, report)
                if problem is not None:
                    obj, description = problem
                    problems.append(
                        mt_pb.VerifyProblem(
                            backup=w.name,
                            item=mf.item_label(item) if item else "",
                            object=obj,
                            blob=digest.hex(),
                            description=description
                            if item
                            else f"a block of the manifest's items: {description}",
                        )
                    )
        result.ok = not problems
        result.problems.extend(problems[:MAX_PROBLEMS])
        for p in problems[:20]:
            await ctx.warn(" ".join(x for x in (p.backup, p.item, p.object, p.description) if x))
        return result

    def _blob_problem(
        self, digest: bytes, report: maintenance.CheckReport
    ) -> tuple[str, str] | None:
        loc = self.repo.index.get(digest)
        if loc is None:
            return "", "blob is in no pack"
        key = pack_key(loc.pack)
        if loc.pack in report.missing_packs:
            return key, "the pack holding this blob is missing"
        bad = report.bad_blobs.get(digest)
        if bad is not None:
            return key, bad.description
        return None

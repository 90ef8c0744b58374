"""The copy engine: one backup into a second repository (for example from local
disk to Azure Blob Storage), sending only the blobs the destination lacks.

The destination gets the same write order as a backup: blobs and index, data
key, manifest, and the record last, so a copy cut short is invisible there.
Every blob is verified against its digest as it is read from the source.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from urllib.parse import urlparse

from google.protobuf.message import DecodeError

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage.keyring import KeyRing
from stowage_storage.locks import SHARED, LockConflict, LockLost
from stowage_storage.open import UnsupportedRepository, open_store
from stowage_storage.repository import (
    RecordExists,
    RecordNotFound,
    RecordRef,
    Repository,
    RepositoryError,
)
from stowage_storage.retry import RetryPolicy
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .errors import (
    AlreadyExists,
    DataLoss,
    FailedPrecondition,
    InvalidArgument,
    backup_not_found,
    from_storage,
)
from .operations import OperationContext, OperationManager, request_hash

LOCK_WAIT = 120.0


def normalize_destination(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme == "file" else url
        return "file://" + os.path.realpath(os.path.expanduser(path))
    return url.rstrip("/")


def _within(target: str, allowed: str) -> bool:
    if allowed == "abfs://":
        return target.startswith(allowed)
    return target == allowed or target.startswith(allowed.rstrip("/") + "/")


class CopyEngine:
    def __init__(
        self,
        repo: Repository,
        operations: OperationManager,
        master: KeyRing,
        executor: Executor | None,
        allowed: list[str],
        source_url: str,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry
        self.repo = repo
        self.operations = operations
        self.master = master
        self._executor = executor
        self.allowed = [
            normalize_destination(a) if not a.startswith("abfs://") else a for a in allowed
        ]
        self.source = normalize_destination(source_url)

    def _check_destination(self, url: str) -> str:
        if not url:
            raise InvalidArgument("destination_repository", "required")
        if not url.isprintable():
            # A NUL made the path functions raise ValueError (INTERNAL).
            raise InvalidArgument("destination_repository", "must be printable characters")
        target = normalize_destination(url)
        if target == self.source:
            raise InvalidArgument("destination_repository", "is this server's own repository")
        if not any(_within(target, a) for a in self.allowed):
            raise FailedPrecondition(
                "INVALID_STATE",
                f"{url} is not an allowed copy destination; the server's --copy-destinations "
                f"allows: {', '.join(self.allowed) or 'none'}",
                metadata={"destination_repository": url},
            )
        return url

    async def start(self, req: mt_pb.CopyBackupRequest) -> ops_pb.Operation:
        bname = names.parse_backup(req.name)
        names.check_request_id(req.request_id)
        destination = self._check_destination(req.destination_repository)
        ref = RecordRef(bname.environment, bname.backup_id)
        try:
            await self.repo.get_record(ref)
        except RecordNotFound:
            raise backup_not_found(str(bname)) from None
        except (StorageError, RepositoryError) as e:
            raise from_storage(e) from e
        op = self.operations.new(ops_pb.Operation.KIND_COPY, str(bname), req.request_id)
        op, created = await self.operations.create(op, request_hash(req))
        if created:
            self.operations.launch(op, lambda ctx: self._copy(ctx, ref, str(bname), destination))
        return op

    async def _copy(
        self, ctx: OperationContext, ref: RecordRef, backup: str, url: str
    ) -> mt_pb.CopyResult:
        await ctx.phase("open")
        try:
            try:
                store = await open_store(url, self._executor, self.retry)
            except UnsupportedRepository as e:
                raise InvalidArgument("destination_repository", str(e)) from e
            try:
                dest = await Repository.open(
                    store,
                    self.master,
                    executor=self._executor,
                    encrypt_all=self.repo.codec.encrypts,
                    scratch_dir=self.repo.scratch_dir,
                )
                async with (
                    self.repo.locks.held(SHARED, f"copy {ctx.op.name}", LOCK_WAIT),
                    dest.locks.held(SHARED, f"copy {ctx.op.name}", LOCK_WAIT) as dest_lock,
                ):
                    return await self._send(ctx, ref, backup, url, dest, dest_lock)
            finally:
                await store.close()
        except (StorageError, RepositoryError, LockConflict, LockLost) as e:
            raise from_storage(e) from e

    async def _send(
        self, ctx, ref: RecordRef, backup: str, url: str, dest: Repository, dest_lock
    ) -> mt_pb.CopyResult:  # type: ignore[no-untyped-def]
        record = await self.repo.get_record(ref)
        try:
            parsed = bk_pb.Backup.FromString(record)
            manifest_bytes, manifest, items = await mf.read(self.repo, parsed.manifest_sha256)
        except DecodeError as e:
            raise DataLoss(f"{backup} is unreadable: {e}") from e
        wrapped = await self.repo.get_data_key(ref)
        await self.repo.refresh()
        await dest.refresh()
        sizes = {digest: size for _, digest, size in mf.named_blobs(manifest, items)}
        missing = [d for d in sizes if not dest.has_blob(d)]
        # In the order the source stores them: packs read front to back, and
        # the members of a bundle side by side, to be bundled again below.
        missing.sort(key=self.repo.index.position)
        result = mt_pb.CopyResult(
            backup=backup, destination_repository=url, blobs_present=len(sizes) - len(missing)
        )
        await ctx.phase(
            "copy", items_total=len(missing), bytes_total=sum(sizes[d] for d in missing)
        )
        session = dest.session()
        try:
            # Blobs bundled here are bundled there too.
            async for group in self.repo.read_stored(missing):
                await session.add_bundle(group)
                nbytes = sum(len(data) for _, data in group)
                result.blobs_copied += len(group)
                result.bytes_copied += nbytes
                await ctx.advance(items=len(group), nbytes=nbytes)
            await session.commit()
        except BaseException:
            await session.abort()
            raise
        await ctx.phase("commit")
        await dest.put_data_key(ref, wrapped)
        await dest.put_manifest(manifest_bytes)
        dest_lock.check()
        try:
            # The record makes the copy visible there: last, create-if-absent.
            await dest.put_record(ref, record)
        except RecordExists:
            if await dest.get_record(ref) != record:
                raise AlreadyExists(
                    "OBJECT_EXISTS",
                    f"{url} already holds a different {backup}",
                    {"backup": backup, "destination_repository": url},
                ) from None
        return result

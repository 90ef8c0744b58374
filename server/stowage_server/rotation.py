"""The key rotation engine: a new master key for the repository and the registry.

Steps, under the repository's exclusive lock (no backup may wrap a data key
under the old key meanwhile), each safe to repeat:

1. the new key is written to ``stowage.key.next`` (or the one a rotation cut
   short left there is taken) and becomes the server's current key: from here
   on everything new is wrapped and sealed with it;
2. ``config`` records the new key beside the old one (both open the repository);
3. every ``keys/{environment}/{backup}`` wrapped by another key is opened and
   wrapped again by the new one, one atomic object write each;
4. the registry's secrets are sealed again, in one SQLite transaction;
5. ``config`` keeps the new key only: the old key no longer opens it;
6. the key file takes the new key (the old one is kept as ``stowage.key.old``
   for backups copied to other repositories).

A crash or failure anywhere leaves each data key wrapped by the old or the new
key, both on disk and both loaded at the next start, so every backup stays
restorable; running the rotation again picks up the same new key and finishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage.v1 import repository_pb2
from stowage_storage import repokeys
from stowage_storage.crypto import DecryptionFailed
from stowage_storage.keyring import KeyRing
from stowage_storage.locks import EXCLUSIVE, LockConflict, LockLost
from stowage_storage.repository import Repository, RepositoryError
from stowage_storage.store import StorageError

from . import manifest as mf
from . import names
from .errors import DataLoss, FailedPrecondition, from_storage
from .keyfile import KeyFiles
from .operations import OperationContext, OperationManager, request_hash
from .registry import Registry

T = TypeVar("T")
LOCK_WAIT = 120.0


class RotationEngine:
    def __init__(
        self,
        repo: Repository,
        registry: Registry,
        operations: OperationManager,
        keys: KeyRing,
        files: KeyFiles | None,
        executor: Executor | None,
    ) -> None:
        self.repo = repo
        self.registry = registry
        self.operations = operations
        self.keys = keys
        self.files = files
        self._executor = executor

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self, req: mt_pb.RotateKeyRequest) -> ops_pb.Operation:
        names.check_request_id(req.request_id)
        if self.files is None:
            raise FailedPrecondition(
                "INVALID_STATE",
                "the master key was given by STOWAGE_KEY (or --key), which the server cannot "
                "replace: put the key in a key file (--key-file), restart with it, and rotate",
            )
        op = self.operations.new(ops_pb.Operation.KIND_ROTATE_KEY, "repository", req.request_id)
        op, created = await self.operations.create(op, request_hash(req))
        if created:
            self.operations.launch(op, self._rotate)
        return op

    async def _rotate(self, ctx: OperationContext) -> mt_pb.RotateKeyResult:
        try:
            async with self.repo.locks.held(
                EXCLUSIVE, f"rotate-key {ctx.op.name}", LOCK_WAIT
            ) as lock:
                return await self._under_lock(ctx, lock)
        except (StorageError, RepositoryError, LockConflict, LockLost) as e:
            raise from_storage(e) from e

    async def _under_lock(self, ctx: OperationContext, lock) -> mt_pb.RotateKeyResult:  # type: ignore[no-untyped-def]
        assert self.files is not None
        files = self.files
        await ctx.phase("key")
        new = await self._run(files.pending_or_new)
        self.keys.adopt(new)
        result = mt_pb.RotateKeyResult(key_id=new.key_id)
        content_key = self.repo.codec.content_key
        # The config is rewritten from what this server holds: read it again
        # first (under the exclusive lock nothing else changes it meanwhile).
        await self.repo.reload_config()
        self.repo.config = await repokeys.begin_rotation(
            self.repo.store, self.repo.config, new, content_key
        )
        result.content_key_rewrapped = content_key is not None

        listed = await self.repo.store.list("keys/")
        await ctx.phase("rewrap", items_total=len(listed))
        for info in listed:
            raw = await self.repo.read_document(info.key)
            wrapped = repository_pb2.WrappedKey.FromString(raw)
            if wrapped.master_key_id == new.key_id:
                result.data_keys_current += 1
            else:
                try:
                    data_key = mf.unwrap(self.keys, raw, wrapped.key_id)
                except (DecryptionFailed, ValueError) as e:
                    raise DataLoss(
                        f"{info.key} does not open with the server's keys ({e}); delete that "
                        "backup or restore its key, then run the rotation again; "
                        "both keys stay in use meanwhile",
                        metadata={"object": info.key},
                    ) from e
                await self.repo.write_document(
                    info.key, mf.wrap(self.keys, wrapped.key_id, data_key)
                )
                result.data_keys_rewrapped += 1
            await ctx.advance(items=1, current=info.key)
        lock.check()

        await ctx.phase("registry")
        try:
            result.secrets_resealed = await self._run(self.registry.reseal)
        except DecryptionFailed as e:
            raise DataLoss(f"a registry secret does not open with the server's keys: {e}") from e

        # Past this point the old key stops opening the repository: finish, even
        # if asked to cancel, so the key file and the repository agree.
        await ctx.phase("commit")
        lock.check()
        ctx.commit()
        self.repo.config = await repokeys.finish_rotation(self.repo.store, self.repo.config, new)
        await self._run(files.promote)
        # Nothing stored needs the old key now. This process still holds it, to
        # open sealed values read before the rotation (the snapshot of a backup
        # that waited for the rotation's lock); a restart drops it.
        return result

"""BlobService on the server: blobs straight into the registry's content store.

A client uploads a large assembly once (FindMissingBlobs first, so nothing the
server holds is sent again), then names it by digest in PutArtifact. Uploaded
content that no artifact references is kept for the upload grace period, then
swept like any other unreferenced content.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import TypeVar

from stowage_storage.blob_service import PIECE, BlobMismatch, BlobTooLarge
from stowage_storage.store import ObjectNotFound

from .content import ContentTooLarge, ContentWriter
from .registry import Registry

T = TypeVar("T")


class RegistryBlobs:
    def __init__(self, registry: Registry, executor: Executor | None, max_size: int) -> None:
        self.registry = registry
        self._executor = executor
        self.max_size = max_size

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def missing(self, digests: list[bytes]) -> list[bytes]:
        known = await self._run(lambda: self.registry.known_contents(digests))
        return [d for d in digests if d not in known]

    async def upload(self) -> _Upload:
        return _Upload(self, self.registry.content.writer(self.max_size))

    async def read(self, sha256: bytes, offset: int, limit: int) -> AsyncIterator[bytes]:
        try:
            info = await self._run(lambda: self.registry.content_info(sha256))
        except Exception as e:
            raise ObjectNotFound(f"no blob {sha256.hex()}", sha256.hex()) from e
        end = info.size if not limit else min(info.size, offset + limit)
        while offset < end:
            n = min(PIECE, end - offset)
            piece = await self._run(lambda o=offset, n=n: self.registry.read_content(info, o, n))
            if not piece:
                return
            offset += len(piece)
            yield piece


class _Upload:
    def __init__(self, blobs: RegistryBlobs, writer: ContentWriter) -> None:
        self._blobs = blobs
        self._writer = writer

    async def write(self, data: bytes) -> None:
        try:
            await self._blobs._run(lambda: self._writer.write(data))
        except ContentTooLarge as e:
            raise BlobTooLarge(str(e)) from e

    async def commit(self, sha256: bytes, size: int) -> bool:
        staged = await self._blobs._run(self._writer.finish)
        if staged.sha256 != sha256:
            self._blobs.registry.content.discard(staged)
            raise BlobMismatch("sha256: the content does not match the digest")
        return await self._blobs._run(lambda: self._blobs.registry.add_content(staged))

    async def abort(self) -> None:
        await self._blobs._run(self._writer.abort)

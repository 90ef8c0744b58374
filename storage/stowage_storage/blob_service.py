"""BlobService: content-addressed blobs, and (in the sidecar) named objects.

The blob calls work over any BlobBackend; the object calls over an
ObjectStore. The server serves blobs only (out of its registry, for uploads
ahead of PutArtifact); the storage sidecar serves both, so a server can keep a
repository through it without holding storage credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import tempfile
from collections.abc import AsyncIterator
from typing import Protocol

import grpc
from google.protobuf import any_pb2, empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from stowage.v1 import blobs_pb2 as pb
from stowage.v1 import blobs_pb2_grpc

from .store import (
    ObjectExists,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageRejected,
    StorageUnavailable,
)

log = logging.getLogger("stowage.blobs")
PIECE = 1 << 20
MAX_FIND = 10_000
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
Ctx = grpc.aio.ServicerContext


class BlobTooLarge(Exception):
    pass


class BlobMismatch(Exception):
    pass


class BlobUpload(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def commit(self, sha256: bytes, size: int) -> bool:
        """Verifies and publishes; returns True when the blob was already there."""
        ...

    async def abort(self) -> None: ...


class BlobBackend(Protocol):
    async def missing(self, digests: list[bytes]) -> list[bytes]: ...

    async def upload(self) -> BlobUpload: ...

    def read(self, sha256: bytes, offset: int, limit: int) -> AsyncIterator[bytes]: ...


def _status(code: int, reason: str, message: str) -> grpc.Status:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="stowage"))
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=[info]))


def storage_status(e: Exception) -> grpc.Status:
    """The gRPC status for a storage failure; the sidecar client maps it back."""
    if isinstance(e, ObjectNotFound):
        return _status(code_pb2.NOT_FOUND, "OBJECT_NOT_FOUND", str(e))
    if isinstance(e, ObjectExists):
        return _status(code_pb2.ALREADY_EXISTS, "OBJECT_EXISTS", str(e))
    if isinstance(e, StorageUnavailable):
        return _status(code_pb2.UNAVAILABLE, "STORAGE_UNAVAILABLE", str(e))
    if isinstance(e, StorageRejected):
        return _status(code_pb2.FAILED_PRECONDITION, "STORAGE_REJECTED", str(e))
    if isinstance(e, ValueError | BlobMismatch):
        return _status(code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT", str(e))
    if isinstance(e, BlobTooLarge):
        return _status(code_pb2.RESOURCE_EXHAUSTED, "LIMIT_EXCEEDED", str(e))
    return _status(code_pb2.UNAVAILABLE, "STORAGE_UNAVAILABLE", f"storage error: {e}")


def _digest(text: str, field: str = "sha256") -> bytes:
    if not _SHA256.match(text):
        raise ValueError(f"{field}: 64 lowercase hex digits")
    return bytes.fromhex(text)


class BlobServicer(blobs_pb2_grpc.BlobServiceServicer):
    def __init__(self, blobs: BlobBackend, objects: ObjectStore | None = None) -> None:
        self.blobs = blobs
        self.objects = objects

    async def _fail(self, context: Ctx, e: Exception) -> None:
        if not isinstance(e, StorageError | ValueError | BlobMismatch | BlobTooLarge):
            log.exception("blob service failure")
        await context.abort_with_status(storage_status(e))

    def _objects(self) -> ObjectStore:
        if self.objects is None:
            raise StorageRejected("named objects are served by the storage sidecar only")
        return self.objects

    async def FindMissingBlobs(
        self, request: pb.FindMissingBlobsRequest, context: Ctx
    ) -> pb.FindMissingBlobsResponse:
        try:
            if len(request.sha256) > MAX_FIND:
                raise ValueError(f"sha256: at most {MAX_FIND} digests per call")
            digests = [_digest(d) for d in request.sha256]
            missing = await self.blobs.missing(digests)
            return pb.FindMissingBlobsResponse(missing_sha256=[d.hex() for d in missing])
        except Exception as e:
            await self._fail(context, e)
            raise

    async def WriteBlob(
        self, request_iterator: AsyncIterator[pb.WriteBlobRequest], context: Ctx
    ) -> pb.WriteBlobResponse:
        upload: BlobUpload | None = None
        try:
            digest = b""
            declared = 0
            size = 0
            async for req in request_iterator:
                if upload is None:
                    digest = _digest(req.sha256)
                    declared = req.size_bytes
                    upload = await self.blobs.upload()
                elif req.sha256 and req.sha256 != digest.hex():
                    raise ValueError("sha256: only the first message names the blob")
                if req.data:
                    size += len(req.data)
                    await upload.write(req.data)
            if upload is None:
                raise ValueError("sha256: the stream carried no blob")
            if declared and declared != size:
                raise BlobMismatch(f"size_bytes: declared {declared}, received {size}")
            present = await upload.commit(digest, size)
            upload = None
            return pb.WriteBlobResponse(
                sha256=digest.hex(), size_bytes=size, already_present=present
            )
        except Exception as e:
            if upload is not None:
                await upload.abort()
            await self._fail(context, e)
            raise

    async def ReadBlob(
        self, request: pb.ReadBlobRequest, context: Ctx
    ) -> AsyncIterator[pb.ReadBlobResponse]:
        try:
            if request.offset < 0 or request.limit < 0:
                raise ValueError("offset and limit must not be negative")
            async for piece in self.blobs.read(
                _digest(request.sha256), request.offset, request.limit
            ):
                yield pb.ReadBlobResponse(data=piece)
        except Exception as e:
            await self._fail(context, e)
            raise

    async def WriteObject(
        self, request_iterator: AsyncIterator[pb.WriteObjectRequest], context: Ctx
    ) -> pb.ObjectInfo:
        try:
            store = self._objects()
            first = await anext(request_iterator, None)
            if first is None or not first.key:
                raise ValueError("key: required in the first message")

            async def pieces() -> AsyncIterator[bytes]:
                if first.data:
                    yield first.data
                async for req in request_iterator:
                    if req.data:
                        yield req.data

            size = await store.write_stream(first.key, pieces(), exclusive=first.exclusive)
            return pb.ObjectInfo(key=first.key, size_bytes=size)
        except Exception as e:
            await self._fail(context, e)
            raise

    async def ReadObject(
        self, request: pb.ReadObjectRequest, context: Ctx
    ) -> AsyncIterator[pb.ReadObjectResponse]:
        try:
            store = self._objects()
            if request.offset < 0 or request.limit < 0:
                raise ValueError("offset and limit must not be negative")
            size = (await store.stat(request.key)).size
            end = size if not request.limit else min(size, request.offset + request.limit)
            position = request.offset
            sent = False
            while position < end or not sent:
                n = min(PIECE, end - position)
                data = await store.read(request.key, position, n) if n > 0 else b""
                yield pb.ReadObjectResponse(data=data)
                sent = True
                position += len(data)
                if not data:
                    break
        except Exception as e:
            await self._fail(context, e)
            raise

    async def StatObject(self, request: pb.StatObjectRequest, context: Ctx) -> pb.ObjectInfo:
        try:
            info = await self._objects().stat(request.key)
            return pb.ObjectInfo(key=info.key, size_bytes=info.size)
        except Exception as e:
            await self._fail(context, e)
            raise

    async def ListObjects(
        self, request: pb.ListObjectsRequest, context: Ctx
    ) -> pb.ListObjectsResponse:
        try:
            size = request.page_size or 1000
            if not 0 < size <= 10_000:
                raise ValueError("page_size: 1 to 10000")
            found = [
                o for o in await self._objects().list(request.prefix) if o.key > request.page_token
            ]
            page = found[:size]
            resp = pb.ListObjectsResponse(
                objects=[pb.ObjectInfo(key=o.key, size_bytes=o.size) for o in page]
            )
            if len(found) > size:
                resp.next_page_token = page[-1].key
            return resp
        except Exception as e:
            await self._fail(context, e)
            raise

    async def DeleteObject(self, request: pb.DeleteObjectRequest, context: Ctx) -> empty_pb2.Empty:
        try:
            await self._objects().delete(request.key)
            return empty_pb2.Empty()
        except Exception as e:
            await self._fail(context, e)
            raise


def blob_key(sha256: bytes) -> str:
    h = sha256.hex()
    return f"blobs/sha256/{h[:2]}/{h}"


class StoreBlobs:
    """Blobs kept whole in an object store, as ``blobs/sha256/{xx}/{hex}``.

    An upload is staged in a local temporary file (memory stays flat whatever
    the size), hashed as it arrives, and published only if the digest matches.
    """

    def __init__(self, store: ObjectStore, max_size: int = 8 << 30) -> None:
        self.store = store
        self.max_size = max_size

    async def missing(self, digests: list[bytes]) -> list[bytes]:
        out = []
        for d in digests:
            try:
                await self.store.stat(blob_key(d))
            except ObjectNotFound:
                out.append(d)
        return out

    async def upload(self) -> BlobUpload:
        return _StagedUpload(self)

    async def read(self, sha256: bytes, offset: int, limit: int) -> AsyncIterator[bytes]:
        key = blob_key(sha256)
        size = (await self.store.stat(key)).size
        end = size if not limit else min(size, offset + limit)
        while offset < end:
            piece = await self.store.read(key, offset, min(PIECE, end - offset))
            if not piece:
                return
            offset += len(piece)
            yield piece


class _StagedUpload:
    def __init__(self, blobs: StoreBlobs) -> None:
        self._blobs = blobs
        self._file = tempfile.TemporaryFile(prefix="stowage-blob-")  # noqa: SIM115 - closed in commit/abort
        self._hash = hashlib.sha256()
        self._size = 0

    async def write(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._blobs.max_size:
            raise BlobTooLarge(f"blob exceeds {self._blobs.max_size} bytes")
        self._hash.update(data)
        await asyncio.to_thread(self._file.write, data)

    async def commit(self, sha256: bytes, size: int) -> bool:
        try:
            if self._hash.digest() != sha256:
                raise BlobMismatch("sha256: the content does not match the digest")
            self._file.seek(0)

            async def pieces() -> AsyncIterator[bytes]:
                while piece := await asyncio.to_thread(self._file.read, PIECE):
                    yield piece

            try:
                await self._blobs.store.write_stream(blob_key(sha256), pieces(), exclusive=True)
            except ObjectExists:
                return True
            return False
        finally:
            self._file.close()

    async def abort(self) -> None:
        self._file.close()

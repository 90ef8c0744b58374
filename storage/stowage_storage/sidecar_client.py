"""The object store as a client of the storage sidecar (BlobService over gRPC,
usually on a Unix socket): the server keeps its repository without holding any
storage credential. Statuses map back to the store's exceptions one for one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator

import grpc

from stowage.v1 import blobs_pb2 as pb
from stowage.v1 import blobs_pb2_grpc

from .store import (
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageRejected,
    StorageUnavailable,
    check_key,
)

PIECE = 1 << 20
MAX_MESSAGE = 8 * 1024 * 1024


def _error(e: grpc.RpcError, key: str) -> StorageError:
    code = e.code() if isinstance(e, grpc.aio.AioRpcError | grpc.Call) else grpc.StatusCode.UNKNOWN
    message = e.details() if isinstance(e, grpc.aio.AioRpcError | grpc.Call) else str(e)
    if code == grpc.StatusCode.NOT_FOUND:
        return ObjectNotFound(message or f"no object {key}", key)
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return ObjectExists(message or f"object {key} already exists", key)
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        return StorageUnavailable(f"storage sidecar: {message}", key)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return StorageRejected(f"storage sidecar refused {key}: {message}", key)
    return StorageRejected(f"storage sidecar: {code.name}: {message}", key)


def sidecar_target(url: str) -> str:
    """grpc+unix:/run/stowage.sock -> unix:/run/stowage.sock; grpc://host:port -> host:port."""
    if url.startswith("grpc+unix:"):
        return "unix:" + url[len("grpc+unix:") :].removeprefix("//")
    if url.startswith("grpc://"):
        return url[len("grpc://") :].rstrip("/")
    raise ValueError(f"not a sidecar address: {url}")


class SidecarStore(ObjectStore):
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            sidecar_target(url),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ],
        )
        self._stub = blobs_pb2_grpc.BlobServiceStub(self._channel)

    def describe(self) -> str:
        return self.url

    async def open(self) -> None:
        """Proves the sidecar answers (and its storage with it)."""
        try:
            await self._stub.ListObjects(
                pb.ListObjectsRequest(prefix="config", page_size=1), timeout=self.timeout
            )
        except grpc.RpcError as e:
            raise _error(e, "config") from e

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        async def pieces() -> AsyncIterator[bytes]:
            yield data

        await self.write_stream(key, pieces(), exclusive=exclusive)

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        check_key(key)

        failure: list[BaseException] = []

        async def requests() -> AsyncIterator[pb.WriteObjectRequest]:
            yield pb.WriteObjectRequest(key=key, exclusive=exclusive)
            try:
                async for piece in pieces:
                    for i in range(0, len(piece), PIECE):
                        yield pb.WriteObjectRequest(data=piece[i : i + PIECE])
            except BaseException as e:
                failure.append(e)
                raise

        try:
            info = await self._stub.WriteObject(requests(), timeout=self.timeout * 10)
        except (grpc.RpcError, asyncio.CancelledError) as e:
            if failure:
                # The caller's own stream failed: that error, not the call's.
                raise failure[0] from None
            if isinstance(e, asyncio.CancelledError):
                raise
            raise _error(e, key) from e
        return info.size_bytes

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        check_key(key)
        if length == 0:
            await self.stat(key)
            return b""
        request = pb.ReadObjectRequest(key=key, offset=offset, limit=max(length, 0))
        parts = []
        try:
            async for resp in self._stub.ReadObject(request, timeout=self.timeout * 10):
                parts.append(resp.data)
        except grpc.RpcError as e:
            raise _error(e, key) from e
        return b"".join(parts)

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        try:
            info = await self._stub.StatObject(pb.StatObjectRequest(key=key), timeout=self.timeout)
        except grpc.RpcError as e:
            raise _error(e, key) from e
        return ObjectInfo(info.key, info.size_bytes)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        out: list[ObjectInfo] = []
        token = ""
        while True:
            try:
                page = await self._stub.ListObjects(
                    pb.ListObjectsRequest(prefix=prefix, page_size=10_000, page_token=token),
                    timeout=self.timeout,
                )
            except grpc.RpcError as e:
                raise _error(e, prefix) from e
            out += [ObjectInfo(o.key, o.size_bytes) for o in page.objects]
            token = page.next_page_token
            if not token:
                return out

    async def delete(self, key: str) -> None:
        check_key(key)
        try:
            await self._stub.DeleteObject(pb.DeleteObjectRequest(key=key), timeout=self.timeout)
        except grpc.RpcError as e:
            raise _error(e, key) from e

    async def close(self) -> None:
        await self._channel.close()

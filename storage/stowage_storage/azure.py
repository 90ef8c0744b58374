"""The object store on Azure Blob Storage, through fsspec's adlfs.

``abfs://CONTAINER/PREFIX``; credentials as the Azure SDKs read them:
``AZURE_STORAGE_CONNECTION_STRING``, or ``AZURE_STORAGE_ACCOUNT_NAME`` with
``AZURE_STORAGE_ACCOUNT_KEY`` or ``AZURE_STORAGE_SAS_TOKEN``.

Create-if-absent is the service's conditional upload (``If-None-Match: *``),
atomic by construction. A blob appears whole when its upload commits. The SDK's
own retries are turned off (they wait tens of seconds per call): the
RetryingStore around every store owns the one retry policy.
"""

from __future__ import annotations

import base64
import os
import uuid
import weakref
from collections.abc import AsyncIterable
from typing import Any

from adlfs import AzureBlobFileSystem
from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock
from azure.storage.blob.aio import BlobServiceClient

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

# Bounded per call, so that an unreachable service fails a call in seconds.
_TIMEOUTS = {"connection_timeout": 10, "read_timeout": 60}


def _service_client() -> BlobServiceClient:
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    options: dict[str, Any] = {"retry_total": 0, **_TIMEOUTS}
    if conn:
        return BlobServiceClient.from_connection_string(conn, **options)
    account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if not account:
        raise StorageRejected(
            "no Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, or "
            "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN"
        )
    credential = os.environ.get("AZURE_STORAGE_ACCOUNT_KEY") or os.environ.get(
        "AZURE_STORAGE_SAS_TOKEN"
    )
    if not credential:
        raise StorageRejected(
            "AZURE_STORAGE_ACCOUNT_NAME is set without AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN"
        )
    return BlobServiceClient(
        f"https://{account}.blob.core.windows.net", credential=credential, **options
    )


def _error(e: Exception, key: str) -> StorageError:
    if isinstance(e, ClientAuthenticationError):
        return StorageRejected(
            f"Azure refused the credentials for {key}: check the account key or SAS token", key
        )
    if isinstance(e, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return StorageUnavailable(
            f"Azure Blob Storage unreachable ({type(e).__name__}) on {key}", key
        )
    if isinstance(e, HttpResponseError):
        status = e.status_code or 0
        if status in (401, 403):
            return StorageRejected(
                f"Azure refused access to {key} (HTTP {status}): check the credentials", key
            )
        if status in (408, 429) or status >= 500:
            return StorageUnavailable(
                f"Azure Blob Storage busy or failing (HTTP {status}) on {key}", key
            )
        return StorageRejected(
            f"Azure Blob Storage rejected a request on {key} (HTTP {status})", key
        )
    if isinstance(e, OSError):
        return StorageUnavailable(f"Azure Blob Storage I/O error on {key}: {e}", key)
    return StorageError(f"Azure Blob Storage error on {key}: {e}", key)


class AzureStore(ObjectStore):
    def __init__(self, container: str, prefix: str = "") -> None:
        self.container = container
        self.prefix = prefix.strip("/")
        self._fs = AzureBlobFileSystem(
            asynchronous=True, skip_instance_cache=True, use_listings_cache=False
        )
        self._fs.service_client = _service_client()

    def describe(self) -> str:
        return f"abfs://{self.container}/{self.prefix}".rstrip("/")

    def _blob(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> str:
        return f"{self.container}/{self._blob(key)}"

    def _key(self, path: str) -> str:
        base = "/".join(p for p in (self.container, self.prefix) if p) + "/"
        return path[len(base) :] if path.startswith(base) else path

    async def open(self) -> None:
        """Creates the container when missing, and proves the credentials work."""
        container = self._fs.service_client.get_container_client(self.container)
        try:
            await container.create_container()
        except ResourceExistsError:
            pass
        except Exception as e:
            raise _error(e, self.describe()) from e
        try:
            await container.get_container_properties()
        except Exception as e:
            raise _error(e, self.describe()) from e

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        path = self._path(key)
        try:
            await self._fs._pipe_file(path, data, overwrite=not exclusive, max_concurrency=4)
        except FileExistsError as e:
            raise ObjectExists(f"object {key} already exists", key) from e
        except ResourceExistsError as e:
            raise ObjectExists(f"object {key} already exists", key) from e
        except Exception as e:
            raise _error(e, key) from e

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        """Stages each piece as a block and commits the list: the blob appears
        whole at the commit, which carries If-None-Match when exclusive."""
        first: bytes | None = None
        iterator = aiter(pieces)
        async for piece in iterator:  # the caller's errors pass through unchanged
            first = piece
            break
        second = await anext(iterator, None) if first is not None else None
        if second is None:
            # One piece: a single conditional upload, one round trip.
            await self.write(key, first or b"", exclusive=exclusive)
            return len(first or b"")
        blob = self._fs.service_client.get_blob_client(self.container, self._blob(key))
        # Block ids unique to this upload: racing writers of one blob share its
        # list of uncommitted blocks, and equal ids would mix their data.
        upload = uuid.uuid4().hex
        blocks: list[BlobBlock] = []
        size = 0

        async def stage(piece: bytes) -> None:
            nonlocal size
            block_id = base64.b64encode(f"{upload}-{len(blocks):08d}".encode()).decode()
            try:
                await blob.stage_block(block_id, piece)
            except Exception as e:
                raise _error(e, key) from e
            blocks.append(BlobBlock(block_id=block_id))
            size += len(piece)

        await stage(first or b"")
        await stage(second)
        async for piece in iterator:
            await stage(piece)
        condition = {"match_condition": MatchConditions.IfMissing} if exclusive else {}
        try:
            await blob.commit_block_list(blocks, **condition)
        except ResourceExistsError as e:
            raise ObjectExists(f"object {key} already exists", key) from e
        except HttpResponseError as e:
            if exclusive and e.status_code in (409, 412):
                raise ObjectExists(f"object {key} already exists", key) from e
            raise _error(e, key) from e
        except Exception as e:
            raise _error(e, key) from e
        return size

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        path = self._path(key)
        end = None if length < 0 else offset + length
        if length == 0:
            await self.stat(key)
            return b""
        try:
            return bytes(await self._fs._cat_file(path, start=offset or None, end=end))
        except (FileNotFoundError, ResourceNotFoundError) as e:
            raise ObjectNotFound(f"no object {key}", key) from e
        except HttpResponseError as e:
            if e.status_code == 416:  # a range starting at or past the end
                await self.stat(key)
                return b""
            raise _error(e, key) from e
        except Exception as e:
            raise _error(e, key) from e

    async def stat(self, key: str) -> ObjectInfo:
        blob = self._fs.service_client.get_blob_client(self.container, self._blob(key))
        try:
            props = await blob.get_blob_properties()
        except ResourceNotFoundError as e:
            raise ObjectNotFound(f"no object {key}", key) from e
        except Exception as e:
            raise _error(e, key) from e
        return ObjectInfo(key, int(props.size))

    async def list(self, prefix: str) -> list[ObjectInfo]:
        folder = prefix.rpartition("/")[0]
        base = "/".join(p for p in (self.container, self.prefix, folder) if p)
        try:
            found = await self._fs._find(base, detail=True)
        except FileNotFoundError:
            return []
        except Exception as e:
            raise _error(e, prefix) from e
        out = []
        for path, info in found.items():
            key = self._key(path)
            if key.startswith(prefix) and info.get("type") != "directory":
                out.append(ObjectInfo(key, int(info["size"])))
        out.sort(key=lambda o: o.key)
        return out

    async def delete(self, key: str) -> None:
        try:
            await self._fs._rm_file(self._path(key))
        except (FileNotFoundError, ResourceNotFoundError):
            pass
        except Exception as e:
            raise _error(e, key) from e

    async def close(self) -> None:
        await self._fs.service_client.close()
        # adlfs also closes the client from a finalizer that runs the event loop
        # it was built on; once that loop is gone the finalizer only fails noisily.
        registry = getattr(weakref.finalize, "_registry", {})
        for finalizer, info in list(registry.items()):
            if info.weakref() is self._fs:
                finalizer.detach()

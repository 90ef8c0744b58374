"""Opens the object store a repository URL names.

    PATH or file://PATH       local disk
    abfs://CONTAINER/PREFIX   Azure Blob Storage (credentials from AZURE_STORAGE_*)
    grpc+unix:PATH            the storage sidecar on a Unix socket
    grpc://HOST:PORT          the storage sidecar on a (loopback) port

Every store is wrapped in the retry policy; opening proves the store answers,
so bad credentials fail at start rather than at the first backup.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor
from urllib.parse import urlparse

from .local import LocalStore
from .retry import RetryingStore, RetryPolicy
from .store import ObjectStore


class UnsupportedRepository(ValueError):
    pass


def _local_path(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


async def open_store(
    url: str, executor: Executor | None = None, retry: RetryPolicy | None = None
) -> ObjectStore:
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme == "file" else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise UnsupportedRepository(f"file URLs name a local path, not host {parsed.netloc!r}")
        return RetryingStore(LocalStore(_local_path(path), executor), retry)
    if parsed.scheme in ("abfs", "az"):
        from .azure import AzureStore  # the Azure SDK loads only when asked for

        if not parsed.netloc:
            raise UnsupportedRepository(f"{url}: name a container, as in abfs://backups/stowage")
        azure = AzureStore(parsed.netloc, parsed.path)
        await azure.open()
        return RetryingStore(azure, retry)
    if parsed.scheme in ("grpc+unix", "grpc"):
        from .sidecar_client import SidecarStore

        sidecar = SidecarStore(url)
        await sidecar.open()
        return RetryingStore(sidecar, retry)
    raise UnsupportedRepository(
        f"repository scheme {parsed.scheme!r} is not supported; "
        "use a path, file://, abfs://, grpc+unix: or grpc://"
    )

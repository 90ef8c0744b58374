"""The object store: the one narrow seam between the repository and any storage.

Every implementation (local disk, Azure Blob, the storage sidecar, the test
wrappers) keeps these guarantees, and one conformance suite checks them all:

- Atomic writes: a reader sees the previous object, no object, or the whole new
  object; never a partial one, even when the writer crashes.
- Create-if-absent: ``write(key, data, exclusive=True)`` creates the object only
  if no object has the key, atomically (never exists-then-write), and raises
  ``ObjectExists`` otherwise. Sixteen racing writers: exactly one wins.
- Read-after-write: once ``write`` returns, ``read``, ``stat`` and ``list`` from
  any client see the object; once ``delete`` returns, they do not.
- ``read`` and ``stat`` raise ``ObjectNotFound`` for a missing key; any other
  failure raises another ``StorageError``, so a network error never reads as
  "missing".
- Ranged reads return exactly the requested bytes, fewer only at the end.
- ``list(prefix)`` returns every object whose key starts with ``prefix``, sorted
  by key. ``delete`` of a missing key is not an error.

Keys are relative, '/'-separated, of lowercase letters, digits, '.', '_' and '-';
no segment is empty, '.' or '..'.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass


class StorageError(Exception):
    """A storage call failed. ``transient`` errors were retried and may pass later."""

    transient = False

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class ObjectNotFound(StorageError):
    pass


class ObjectExists(StorageError):
    pass


class StorageUnavailable(StorageError):
    """The storage did not answer, or answered with a transient error, after retries."""

    transient = True


class StorageRejected(StorageError):
    """A permanent refusal: bad credentials, no permission, invalid request."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


_KEY = re.compile(r"^[a-z0-9_.\-]+(/[a-z0-9_.\-]+)*\Z")


def check_key(key: str) -> str:
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}")
    return key


class ObjectStore(ABC):
    """Objects by key; see the module docstring for the guarantees."""

    @abstractmethod
    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None: ...

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        """Writes an object from pieces, with write()'s guarantees; returns its
        size. Stores that can stream override this; the default joins them."""
        data = b"".join([p async for p in pieces])
        await self.write(key, data, exclusive=exclusive)
        return len(data)

    @abstractmethod
    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes: ...

    def blocking_reader(self) -> Callable[[str, int, int], bytes] | None:
        """``read`` as a blocking call for a worker thread, from stores whose
        reads are system calls that never fail transiently (nothing to retry);
        None from the others. A caller that decodes what it reads can then read
        and decode in one worker call."""
        return None

    @abstractmethod
    async def stat(self, key: str) -> ObjectInfo: ...

    @abstractmethod
    async def list(self, prefix: str) -> list[ObjectInfo]: ...

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def describe(self) -> str:
        """A short, secret-free description for logs and errors."""
        return type(self).__name__

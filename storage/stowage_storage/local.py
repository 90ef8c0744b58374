"""The object store on local disk, through fsspec's ``file://`` filesystem.

fsspec lists and deletes. Reads are ``pread`` calls: fsspec's open, seek and
read cost more than the read itself for a restore's hundreds of ranged reads of
packs. Writes go through a temporary file in the
target's folder, fsync, then ``link`` (create-if-absent: the kernel refuses an
existing name atomically) or ``replace`` (overwrite), and an fsync of the folder,
because fsspec's local writes are neither atomic nor durable.
"""

from __future__ import annotations

import asyncio
import errno
import os
import uuid
from collections.abc import AsyncIterable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from fsspec.implementations.local import LocalFileSystem

from .store import (
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageRejected,
    check_key,
)

T = TypeVar("T")
_TMP_PREFIX = ".tmp-"


class LocalStore(ObjectStore):
    def __init__(self, root: str, executor: Executor | None = None) -> None:
        self._root = os.path.abspath(root)
        os.makedirs(self._root, exist_ok=True)
        self._fs = LocalFileSystem()
        self._executor = executor

    def describe(self) -> str:
        return f"file://{self._root}"

    @property
    def root(self) -> str:
        return self._root

    def path(self, key: str) -> str:
        return os.path.join(self._root, *check_key(key).split("/"))

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        path = self.path(key)
        await self._run(lambda: _atomic_write(path, data, exclusive, key))

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        path = self.path(key)
        folder = os.path.dirname(path)
        tmp = os.path.join(folder, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
        await self._run(lambda: os.makedirs(folder, exist_ok=True))
        fd = await self._run(lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        size = 0
        try:
            try:
                async for piece in pieces:
                    await self._run(lambda p=piece: _write_all(fd, p))
                    size += len(piece)
                await self._run(lambda: os.fsync(fd))
            finally:
                os.close(fd)
            await self._run(lambda: _publish(tmp, path, exclusive, key))
            return size
        except StorageError:
            raise
        except OSError as e:
            raise _storage_error(e, key) from e
        finally:
            await self._run(lambda: _unlink_quietly(tmp))

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        return await self._run(lambda: self._read_now(key, offset, length))

    def blocking_reader(self) -> Callable[[str, int, int], bytes]:
        return self._read_now

    def _read_now(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        """``read`` in the calling thread: one open and ``pread``s, with no
        layer between (a restore makes hundreds of ranged reads)."""
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if length < 0:
                    length = max(0, os.fstat(fd).st_size - offset)
                return _pread_all(fd, length, offset)
            finally:
                os.close(fd)
        except (FileNotFoundError, IsADirectoryError) as e:
            raise ObjectNotFound(f"no object {key}", key) from e
        except OSError as e:
            raise _storage_error(e, key) from e

    async def stat(self, key: str) -> ObjectInfo:
        path = self.path(key)

        def stat() -> ObjectInfo:
            try:
                st = os.stat(path)
            except FileNotFoundError as e:
                raise ObjectNotFound(f"no object {key}", key) from e
            except OSError as e:
                raise _storage_error(e, key) from e
            if not os.path.isfile(path):
                raise ObjectNotFound(f"no object {key}", key)
            return ObjectInfo(key, st.st_size)

        return await self._run(stat)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        folder, _, _ = prefix.rpartition("/")
        base = os.path.join(self._root, *folder.split("/")) if folder else self._root

        def find() -> list[ObjectInfo]:
            try:
                found = self._fs.find(base, detail=True)
            except FileNotFoundError:
                return []
            except OSError as e:
                raise _storage_error(e, prefix) from e
            out = []
            for path, info in found.items():
                rel = os.path.relpath(path, self._root).replace(os.sep, "/")
                name = rel.rsplit("/", 1)[-1]
                if name.startswith(_TMP_PREFIX) or not rel.startswith(prefix):
                    continue
                out.append(ObjectInfo(rel, int(info["size"])))
            out.sort(key=lambda o: o.key)
            return out

        return await self._run(find)

    async def delete(self, key: str) -> None:
        path = self.path(key)

        def delete() -> None:
            try:
                self._fs.rm_file(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise _storage_error(e, key) from e

        await self._run(delete)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _publish(tmp: str, path: str, exclusive: bool, key: str) -> None:
    """Makes a complete, synced temporary file visible under its final name."""
    if exclusive:
        try:
            os.link(tmp, path)
        except FileExistsError as e:
            raise ObjectExists(f"object {key} already exists", key) from e
    else:
        os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _atomic_write(path: str, data: bytes, exclusive: bool, key: str) -> None:
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f"{_TMP_PREFIX}{uuid.uuid4().hex}")
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        _publish(tmp, path, exclusive, key)
    except StorageError:
        raise
    except OSError as e:
        raise _storage_error(e, key) from e
    finally:
        _unlink_quietly(tmp)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pread_all(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes from ``offset``; fewer only at the end of the file."""
    parts: list[bytes] = []
    got = 0
    while got < length:
        more = os.pread(fd, length - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _storage_error(e: OSError, key: str) -> StorageError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageRejected(f"storage full writing {key}: {e.strerror}", key)
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StorageRejected(f"storage refused {key}: {e.strerror}", key)
    return StorageError(f"storage error on {key}: {e.strerror}", key)

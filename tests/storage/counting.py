"""An ObjectStore wrapper that counts calls, for tests that bound them."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable

from stowage_storage.store import ObjectInfo, ObjectStore


class CountingStore(ObjectStore):
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.written: list[str] = []

    def describe(self) -> str:
        return self.inner.describe()

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        self.calls["write"] += 1
        self.written.append(key)
        await self.inner.write(key, data, exclusive=exclusive)

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        self.calls["write"] += 1
        self.written.append(key)
        return await self.inner.write_stream(key, pieces, exclusive=exclusive)

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        self.calls["read"] += 1
        return await self.inner.read(key, offset, length)

    async def stat(self, key: str) -> ObjectInfo:
        self.calls["stat"] += 1
        return await self.inner.stat(key)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        self.calls["list"] += 1
        return await self.inner.list(prefix)

    async def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        await self.inner.delete(key)

    async def close(self) -> None:
        await self.inner.close()

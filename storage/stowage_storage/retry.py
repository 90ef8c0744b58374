"""Bounded retries of transient storage failures, with backoff and jitter.

Only ``StorageUnavailable`` is retried (timeouts, throttling, 5xx, refused
connections); everything else (not found, exists, bad credentials, full disk)
fails at once. A create-if-absent whose first attempt may have landed before
its answer was lost is settled by reading the object back.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TypeVar

from .store import ObjectExists, ObjectInfo, ObjectStore, StorageUnavailable

log = logging.getLogger("stowage.storage")
T = TypeVar("T")


class RetryPolicy:
    def __init__(
        self, attempts: int = 6, base: float = 0.2, cap: float = 4.0, budget: float = 30.0
    ) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self.budget = budget

    def delay(self, attempt: int) -> float:
        # "Full jitter": spreads the retries of many writers apart.
        return random.uniform(0, min(self.cap, self.base * 2**attempt))


class RetryingStore(ObjectStore):
    def __init__(self, inner: ObjectStore, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()

    def describe(self) -> str:
        return self.inner.describe()

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return await call()
            except StorageUnavailable as e:
                attempt += 1
                elapsed = time.monotonic() - started
                if attempt >= self.policy.attempts or elapsed >= self.policy.budget:
                    raise StorageUnavailable(
                        f"{e} (gave up after {attempt} attempts in {elapsed:.1f}s)", e.key
                    ) from e
                delay = self.policy.delay(attempt)
                log.warning("storage %s failed (%s); retry %d in %.2fs", what, e, attempt, delay)
                await asyncio.sleep(delay)

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        uncertain = False

        async def attempt() -> None:
            nonlocal uncertain
            try:
                await self.inner.write(key, data, exclusive=exclusive)
            except StorageUnavailable:
                uncertain = True
                raise
            except ObjectExists:
                # Our own earlier attempt may have created it before failing.
                if uncertain and await self.inner.read(key) == data:
                    return
                raise

        await self._retry(f"write {key}", attempt)

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        # A stream cannot be replayed: its caller retries the whole upload.
        return await self.inner.write_stream(key, pieces, exclusive=exclusive)

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        return await self._retry(f"read {key}", lambda: self.inner.read(key, offset, length))

    def blocking_reader(self) -> Callable[[str, int, int], bytes] | None:
        return self.inner.blocking_reader()  # such reads have nothing to retry

    async def stat(self, key: str) -> ObjectInfo:
        return await self._retry(f"stat {key}", lambda: self.inner.stat(key))

    async def list(self, prefix: str) -> list[ObjectInfo]:
        return await self._retry(f"list {prefix}", lambda: self.inner.list(prefix))

    async def delete(self, key: str) -> None:
        await self._retry(f"delete {key}", lambda: self.inner.delete(key))

    async def close(self) -> None:
        await self.inner.close()

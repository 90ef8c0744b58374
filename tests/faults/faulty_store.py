"""An ObjectStore wrapper that misbehaves on purpose, as a faulty backend might.

Rules say which calls misbehave (operation, key prefix, the nth matching call,
how many times) and how:

- ``unavailable``: raises StorageUnavailable (a timeout, a 503): the retry
  policy retries it when the wrapper sits below it;
- ``error``: raises a plain StorageError (an unexplained failure);
- ``rejected``: raises StorageRejected (no permission, a full disk);
- ``short``: a write stores only the first part of the object and reports
  success. The LocalStore never does this; a faulty backend or a proxy that
  drops the end of a body could. The repository must notice on read or verify;
- ``slow``: the call waits ``delay`` seconds, then goes through;
- ``lost_reply``: a write lands, then StorageUnavailable is raised, as when
  the answer is lost on the way back: the retry finds its own object.

``below_retries`` installs the wrapper under a store's retry layer (the way
``assemble(wrap_store=...)`` hands over a RetryingStore), so that transient
faults are retried exactly as real ones would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from stowage_storage.retry import RetryingStore
from stowage_storage.store import (
    ObjectInfo,
    ObjectStore,
    StorageError,
    StorageRejected,
    StorageUnavailable,
)

ACTIONS = ("unavailable", "error", "rejected", "short", "slow", "lost_reply")


@dataclass
class Rule:
    op: str  # write, read, stat, list, delete
    action: str
    prefix: str = ""
    nth: int = 1  # the first matching call that misbehaves (1-based)
    times: int = 1  # how many matching calls misbehave from there; 0: every one
    delay: float = 0.0  # for "slow"
    keep: float = 0.5  # for "short": the fraction of the object that is stored
    seen: int = 0
    fired: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")

    def matches(self, op: str, key: str) -> bool:
        if op != self.op or not key.startswith(self.prefix):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        return self.times == 0 or len(self.fired) < self.times


class FaultyStore(ObjectStore):
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.rules: list[Rule] = []

    def describe(self) -> str:
        return self.inner.describe()

    def add(self, rule: Rule) -> Rule:
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules = []

    @property
    def fired(self) -> int:
        return sum(len(r.fired) for r in self.rules)

    async def _misbehave(self, op: str, key: str) -> Rule | None:
        """Raises or waits as the first matching rule says; returns a "short"
        rule for the caller to apply."""
        for rule in self.rules:
            if not rule.matches(op, key):
                continue
            rule.fired.append(key)
            if rule.action == "slow":
                await asyncio.sleep(rule.delay)
                return None
            if rule.action in ("short", "lost_reply"):
                return rule
            message = f"injected fault: {op} {key}"
            if rule.action == "unavailable":
                raise StorageUnavailable(message, key)
            if rule.action == "rejected":
                raise StorageRejected(message, key)
            raise StorageError(message, key)
        return None

    async def write(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        rule = await self._misbehave("write", key)
        if rule is None:
            await self.inner.write(key, data, exclusive=exclusive)
        else:
            await self._write_faulty(rule, key, data, exclusive)

    async def write_stream(
        self, key: str, pieces: AsyncIterable[bytes], *, exclusive: bool = False
    ) -> int:
        rule = await self._misbehave("write", key)
        if rule is None:
            return await self.inner.write_stream(key, pieces, exclusive=exclusive)
        data = b"".join([p async for p in pieces])
        await self._write_faulty(rule, key, data, exclusive)
        return len(data)

    async def _write_faulty(self, rule: Rule, key: str, data: bytes, exclusive: bool) -> None:
        if rule.action == "short":
            data = data[: int(len(data) * rule.keep)]
        await self.inner.write(key, data, exclusive=exclusive)
        if rule.action == "lost_reply":
            raise StorageUnavailable(f"injected fault: reply to write {key} lost", key)

    async def read(self, key: str, offset: int = 0, length: int = -1) -> bytes:
        await self._misbehave("read", key)
        return await self.inner.read(key, offset, length)

    async def stat(self, key: str) -> ObjectInfo:
        await self._misbehave("stat", key)
        return await self.inner.stat(key)

    async def list(self, prefix: str) -> list[ObjectInfo]:
        await self._misbehave("list", prefix)
        return await self.inner.list(prefix)

    async def delete(self, key: str) -> None:
        await self._misbehave("delete", key)
        await self.inner.delete(key)

    async def close(self) -> None:
        await self.inner.close()


class Installer:
    """A ``wrap_store`` callable that remembers the FaultyStore it installed."""

    def __init__(self) -> None:
        self.store: FaultyStore | None = None

    def __call__(self, store: ObjectStore) -> ObjectStore:
        self.store = below_retries(store)
        return store


def below_retries(store: ObjectStore) -> FaultyStore:
    """Puts a FaultyStore under the retry layer of ``store`` (in place) and
    returns it; ``store`` must be a RetryingStore."""
    if not isinstance(store, RetryingStore):
        raise TypeError(f"expected the retry layer, got {type(store).__name__}")
    faulty = FaultyStore(store.inner)
    store.inner = faulty
    return faulty

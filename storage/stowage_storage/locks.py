"""Repository locks: shared for backups, restores, copies and verifies; exclusive
for prune.

Each holder writes its own object ``locks/{id}`` (create-if-absent) carrying its
mode and an expiry, then lists every lock: an exclusive holder must find no
other live lock, a shared holder no live exclusive one; otherwise it removes its
own lock and backs off. Because a write is visible to every later list, two
conflicting holders cannot both miss each other. Holders refresh their expiry
while they work; a lock left by a crashed process lapses after its time to live.
This needs nothing from the store beyond its documented guarantees, so it works
the same on local disk, Azure Blob Storage and through the sidecar.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from stowage.v1 import repository_pb2

from .store import ObjectNotFound, ObjectStore

log = logging.getLogger("stowage.locks")
LockRecord = repository_pb2.LockRecord
SHARED = LockRecord.MODE_SHARED
EXCLUSIVE = LockRecord.MODE_EXCLUSIVE
DEFAULT_TTL = 300.0


class LockConflict(Exception):
    """The repository is locked by someone whose lock this one cannot share."""

    def __init__(self, message: str, holders: list[str]) -> None:
        super().__init__(message)
        self.holders = holders


class LockLost(Exception):
    """This holder could not refresh its lock in time; another may have taken over."""


@dataclass(frozen=True)
class Holder:
    key: str
    mode: int
    owner: str
    expires: float


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


class Lock:
    def __init__(self, locks: Locks, key: str, mode: int, owner: str) -> None:
        self._locks = locks
        self.key = key
        self.mode = mode
        self.owner = owner
        self.valid_until = locks.clock() + locks.ttl
        self._refresher: asyncio.Task[None] | None = None

    def _start_refreshing(self) -> None:
        self._refresher = asyncio.ensure_future(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._locks.ttl / 3)
            try:
                await self.refresh()
            except Exception as e:  # the next round retries; check() guards commits
                log.warning("could not refresh lock %s: %s", self.key, e)

    async def refresh(self) -> None:
        expires = self._locks.clock() + self._locks.ttl
        await self._locks.store.write(self.key, self._locks._record(self.mode, self.owner, expires))
        self.valid_until = expires

    def check(self) -> None:
        """Raises LockLost unless the lock is surely still held (keep a margin)."""
        if self._locks.clock() > self.valid_until - self._locks.ttl / 6:
            raise LockLost(f"lock {self.key} could not be refreshed in time")

    async def release(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self._locks.store.delete(self.key)


class Locks:
    def __init__(
        self,
        store: ObjectStore,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.clock = clock

    def _record(self, mode: int, owner: str, expires: float) -> bytes:
        return LockRecord(
            mode=mode, owner=owner, expire_time=_timestamp(expires)
        ).SerializeToString()

    async def holders(self) -> list[Holder]:
        """Every lock object that still parses; lapsed ones included."""
        out = []
        for info in await self.store.list("locks/"):
            try:
                rec = LockRecord.FromString(await self.store.read(info.key))
            except ObjectNotFound:
                continue  # released meanwhile
            except DecodeError:
                log.warning("ignoring unreadable lock %s", info.key)
                continue
            out.append(Holder(info.key, rec.mode, rec.owner, rec.expire_time.ToNanoseconds() / 1e9))
        return out

    async def acquire(self, mode: int, purpose: str, wait: float = 0.0) -> Lock:
        """Takes a lock, retrying for up to ``wait`` seconds while another holds one."""
        owner = f"{socket.gethostname()} pid {os.getpid()}: {purpose}"
        deadline = time.monotonic() + wait
        delay = 0.2
        while True:
            try:
                return await self._try(mode, owner)
            except LockConflict:
                if time.monotonic() + delay > deadline:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _try(self, mode: int, owner: str) -> Lock:
        lock = Lock(self, f"locks/{uuid.uuid4().hex}", mode, owner)
        await self.store.write(
            lock.key, self._record(mode, owner, lock.valid_until), exclusive=True
        )
        now = self.clock()
        blocking = [
            h
            for h in await self.holders()
            if h.key != lock.key and h.expires > now and (mode == EXCLUSIVE or h.mode == EXCLUSIVE)
        ]
        if blocking:
            await self.store.delete(lock.key)
            names = [h.owner for h in blocking]
            kind = "exclusively" if any(h.mode == EXCLUSIVE for h in blocking) else "shared"
            raise LockConflict(f"the repository is locked ({kind}) by: {'; '.join(names)}", names)
        lock._start_refreshing()
        return lock

    async def remove_lapsed(self) -> int:
        """Deletes locks whose holders stopped refreshing them (crashed processes)."""
        now = self.clock()
        lapsed = [h for h in await self.holders() if h.expires <= now]
        for h in lapsed:
            await self.store.delete(h.key)
        return len(lapsed)

    async def remove_for_operations(self, operations: Collection[str]) -> int:
        """Deletes the locks taken for these operations (``operations/{id}``),
        which the caller knows ended without releasing them: their process died.
        Otherwise such a lock would keep prune (or, after a prune, everyone) out
        until it lapses."""
        suffixes = tuple(f" {name}" for name in operations)
        if not suffixes:
            return 0
        mine = [h for h in await self.holders() if h.owner.endswith(suffixes)]
        for h in mine:
            await self.store.delete(h.key)
        return len(mine)

    @contextlib.asynccontextmanager
    async def held(self, mode: int, purpose: str, wait: float = 0.0) -> AsyncIterator[Lock]:
        lock = await self.acquire(mode, purpose, wait)
        try:
            yield lock
        finally:
            await asyncio.shield(lock.release())

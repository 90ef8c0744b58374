"""The scheduler: starts each environment's due backups, then applies the
policy's retention.

Each look reads every policy from the database (another server sharing it may
have changed one) and, for each environment, the latest slot at or before now.
If nobody has run that slot, and its jitter has passed, the scheduler claims it
in the ledger (scheduled_runs.py); the server whose claim lands runs it. Only
the latest slot is ever claimed, so a server that was down through many slots
runs one catch-up backup, not one per missed slot, and a slot that comes due
while the previous backup still runs waits for it and then runs once.

Claimed runs queue for one of ``max_concurrent`` places. A backup refused by a
rule (active batch messages, an edition without backups) is recorded as
refused with the reason, and the next slot runs as usual.

Times come from the injectable clock; the loop sleeps until the next due time
(at most ``poll`` seconds, to see other servers' changes), and ``wake()`` makes
it look again at once (a policy changed, or a test moved its clock).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from google.protobuf.timestamp_pb2 import Timestamp

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import operations_pb2 as ops_pb

from . import names, retention
from .backup import BackupEngine
from .catalog import BackupCatalog
from .clock import Clock
from .errors import StowageError
from .operations import OperationManager
from .policies import PolicyStore, Schedule, rules_of
from .polling import PollingLoop, wait_at_most
from .scheduled_runs import ScheduledRuns
from .status import internal_status, to_status

log = logging.getLogger("stowage.scheduler")
Op = ops_pb.Operation


def request_id(env_uid: str, slot: int) -> str:
    """The scheduled backup's request_id: a second start of the same slot,
    from whichever server, returns the first one's operation (AIP-155)."""
    return f"schedule-{env_uid}-{slot}"


def slot_text(slot: int) -> str:
    """A slot as RFC 3339, as its backup's scheduled_time reads in JSON."""
    ts = Timestamp()
    ts.FromMilliseconds(slot)
    return ts.ToJsonString()


class Scheduler(PollingLoop):
    def __init__(
        self,
        policies: PolicyStore,
        runs: ScheduledRuns,
        backups: BackupEngine,
        catalog: BackupCatalog,
        operations: OperationManager,
        clock: Clock,
        executor: Executor | None,
        max_concurrent: int,
        poll: float,
    ) -> None:
        super().__init__(runs, executor, poll, log)
        self.policies = policies
        self.backups = backups
        self.catalog = catalog
        self.operations = operations
        self.clock = clock
        self._places = asyncio.Semaphore(max_concurrent)
        self._active: set[str] = set()  # env uids queued or running here
        self._waiters: dict[str, asyncio.Future[Op]] = {}
        operations.on_finished.append(self._finished)

    async def look(self) -> float:
        """Claims and starts what is due; returns the seconds until the next due time."""
        now = self.clock.now()
        wake_at = now + self.poll
        for env_id, uid, policy in await self._run(self.policies.live):
            if uid in self._active:
                continue
            try:
                schedule = Schedule.of(policy)
            except ValueError:
                log.exception("unreadable schedule of %s", env_id)
                continue
            slot = schedule.latest(now)
            if slot is not None:
                due = (slot + schedule.jitter_ms(uid, slot)) / 1000
                if due > now:
                    wake_at = min(wake_at, due)
                    continue
                if await self._run(lambda u=uid, s=slot: self.runs.claim(u, s, now)):
                    self._active.add(uid)
                    self._launch(self._slot(env_id, uid, slot))
                    continue
            nxt = schedule.next_after(now)
            if nxt is not None:
                wake_at = min(wake_at, (nxt + schedule.jitter_ms(uid, nxt)) / 1000)
        return max(0.0, wake_at - now)

    async def _slot(self, env_id: str, uid: str, slot: int) -> None:
        try:
            async with self._places:
                await self._backup(env_id, uid, slot)
        finally:
            self._active.discard(uid)
            self.wake()  # a slot that came due meanwhile may run now

    async def _backup(self, env_id: str, uid: str, slot: int) -> None:
        req = bk_pb.CreateBackupRequest(
            parent=names.environment_name(env_id), request_id=request_id(uid, slot)
        )
        try:
            op = await self.backups.start(
                req, bk_pb.Backup.TRIGGER_SCHEDULED, scheduled_time=slot / 1000
            )
        except StowageError as e:
            if e.reason == "SHUTTING_DOWN":
                # Not refused by a rule: whichever server runs next catches it up.
                await self._run(lambda: self.runs.release(uid, slot))
                return
            log.warning("scheduled backup of %s refused: %s %s", env_id, e.reason, e.message)
            error = to_status(e).SerializeToString()
            await self._run(lambda: self.runs.refused(uid, slot, error, self.clock.now()))
            return
        except Exception:
            log.exception("scheduled backup of %s could not start", env_id)
            error = internal_status().SerializeToString()
            await self._run(lambda: self.runs.refused(uid, slot, error, self.clock.now()))
            return
        log.info("scheduled backup of %s for %s: %s", env_id, slot_text(slot), op.name)
        await self._run(lambda: self.runs.started(uid, slot, op.name))
        try:
            op = await self._wait(op)
            if op.state == Op.STATE_SUCCEEDED:
                await self._retain(env_id, uid)
        finally:
            await asyncio.shield(self._run(lambda: self.runs.done(uid, slot, self.clock.now())))

    def _finished(self, op: Op) -> None:
        waiter = self._waiters.get(op.name)
        if waiter is not None and not waiter.done():
            waiter.set_result(op)

    async def _wait(self, op: Op) -> Op:
        """The operation once done: told by the manager when it runs here,
        polled when another server runs it (a retried request_id)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[op.name] = waiter
        op_id = op.name.split("/")[1]
        try:
            while True:
                current = await self.operations.get(op_id)
                if current.done:
                    return current
                await wait_at_most(asyncio.shield(waiter), self.poll)
                if waiter.done():
                    return waiter.result()
        finally:
            self._waiters.pop(op.name, None)

    async def _retain(self, env_id: str, uid: str) -> None:
        """Deletes the backups of this environment's policy that no rule keeps.
        Only backups the policy took, of this environment (not of an earlier
        one of the same name): a manual backup is never deleted by a schedule."""
        policy = await self._run(lambda: self.policies.get(uid))
        rules = rules_of(policy) if policy is not None else None
        if rules is None:
            return
        listed = await self.catalog.list(env_id, None, 1_000_000)
        taken = [
            (b.name, b.create_time.ToNanoseconds() / 1e9)
            for b in listed
            if b.trigger == bk_pb.Backup.TRIGGER_SCHEDULED and b.environment_uid == uid
        ]
        keep = retention.select(taken, rules, self.clock.now())
        for name, _ in taken:
            if name in keep:
                continue
            try:
                await self.catalog.delete(name)
                log.info("retention deleted %s", name)
            except StowageError as e:
                if e.reason != "BACKUP_NOT_FOUND":  # another server got there first
                    log.warning("retention could not delete %s: %s", name, e.message)

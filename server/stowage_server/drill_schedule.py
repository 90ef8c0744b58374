"""Scheduled restore drills: a backup policy's drill_every runs a drill of the
environment's newest backup at that interval, counted from when the policy was
set.

Drills use the ledger of scheduled backups (scheduled_runs.py) under a key of
their own per environment, so they get the same guarantees: one server runs
each slot, a server down through several slots runs one catch-up drill, and a
slot that comes due while the previous drill runs waits for it. A slot with no
backup to drill is recorded as refused (BACKUP_NOT_FOUND) and shows in the
backup status.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from stowage.v1 import drills_pb2 as dr_pb
from stowage.v1 import operations_pb2 as ops_pb

from . import names
from .catalog import BackupCatalog
from .clock import Clock
from .drill import DrillEngine, drill_key
from .errors import NotFound, StowageError
from .operations import OperationManager
from .policies import PolicyStore, Schedule
from .polling import PollingLoop, wait_at_most
from .scheduled_runs import ScheduledRuns
from .status import internal_status, to_status

log = logging.getLogger("stowage.drills")
Op = ops_pb.Operation


class DrillScheduler(PollingLoop):
    def __init__(
        self,
        policies: PolicyStore,
        runs: ScheduledRuns,
        drills: DrillEngine,
        catalog: BackupCatalog,
        operations: OperationManager,
        clock: Clock,
        executor: Executor | None,
        poll: float,
    ) -> None:
        super().__init__(runs, executor, poll, log)
        self.policies = policies
        self.drills = drills
        self.catalog = catalog
        self.operations = operations
        self.clock = clock
        self._active: set[str] = set()  # env uids with a drill here
        self._finished: dict[str, asyncio.Event] = {}
        operations.on_finished.append(self._on_finished)

    async def look(self) -> float:
        """Claims and starts the drills that are due; returns the seconds until the next."""
        now = self.clock.now()
        wake_at = now + self.poll
        for env_id, uid, policy in await self._run(self.policies.live):
            schedule = Schedule.drills(policy)
            if schedule is None or uid in self._active:
                continue
            key = drill_key(uid)
            slot = schedule.latest(now)
            if slot is not None:
                due = (slot + schedule.jitter_ms(key, slot)) / 1000
                if due > now:
                    wake_at = min(wake_at, due)
                    continue
                if await self._run(lambda k=key, s=slot: self.runs.claim(k, s, now)):
                    self._active.add(uid)
                    self._launch(self._slot(env_id, uid, slot))
                    continue
            nxt = schedule.next_after(now)
            if nxt is not None:
                wake_at = min(wake_at, (nxt + schedule.jitter_ms(key, nxt)) / 1000)
        return max(0.0, wake_at - now)

    async def _slot(self, env_id: str, uid: str, slot: int) -> None:
        key = drill_key(uid)
        try:
            op = await self._start(env_id, uid, slot)
            if op is None:
                return
            log.info("scheduled drill of %s: %s", op.target, op.name)
            await self._run(lambda: self.runs.started(key, slot, op.name))
            try:
                await self._wait(op)
            finally:
                await asyncio.shield(self._run(lambda: self.runs.done(key, slot, self.clock.now())))
        finally:
            self._active.discard(uid)
            self.wake()

    async def _start(self, env_id: str, uid: str, slot: int) -> Op | None:
        key = drill_key(uid)
        try:
            listed = await self.catalog.list(env_id, None, 1_000_000)
            newest = next((b for b in listed if b.environment_uid == uid), None)
            if newest is None:
                raise NotFound("BACKUP_NOT_FOUND", "backup", f"environments/{env_id}/backups/-")
            return await self.drills.start(
                dr_pb.DrillBackupRequest(backup=newest.name, request_id=f"drill-{uid}-{slot}"),
                scheduled=True,
            )
        except StowageError as e:
            if e.reason == "SHUTTING_DOWN":
                await self._run(lambda: self.runs.release(key, slot))
                return None
            if e.reason == "BACKUP_NOT_FOUND":
                e.message = f"no backup of {names.environment_name(env_id)} to drill"
            log.warning("scheduled drill of %s refused: %s %s", env_id, e.reason, e.message)
            error = to_status(e).SerializeToString()
        except Exception:
            log.exception("scheduled drill of %s could not start", env_id)
            error = internal_status().SerializeToString()
        await self._run(lambda: self.runs.refused(key, slot, error, self.clock.now()))
        return None

    def _on_finished(self, op: Op) -> None:
        event = self._finished.get(op.name)
        if event is not None:
            event.set()

    async def _wait(self, op: Op) -> None:
        """Until the drill ends: told when it runs here, polled otherwise."""
        event = self._finished.setdefault(op.name, asyncio.Event())
        op_id = op.name.split("/")[1]
        try:
            while not (await self.operations.get(op_id)).done:
                await wait_at_most(event.wait(), self.poll)
        finally:
            self._finished.pop(op.name, None)

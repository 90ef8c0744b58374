"""Backup policies: when an environment is backed up automatically and which
of those backups are kept. Checked when set, stored by environment uid in the
registry's database, read by the scheduler, recorded in every manifest so a
restore can copy it (R10).

A policy is refused when its retention could delete a backup before the next
one exists: a retention that keeps nothing, or a max_age shorter than the
longest time between two runs. Runs closer than the server's
min_schedule_interval are refused too.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.duration_pb2 import Duration

from stowage.v1 import backup_policy_pb2 as pol_pb

from . import names
from .clock import Clock, timestamp
from .cron import Cron, CronError
from .cron import parse as parse_cron
from .database import Database
from .editions import EditionPolicy
from .errors import Collected, InvalidArgument, NotFound
from .registry import Registry
from .retention import Rules
from .scheduled_runs import ScheduledRun, ScheduledRuns

T = TypeVar("T")
Policy = pol_pb.BackupPolicy
# Longest allowed interval; beyond it a schedule is a typo.
_MAX_EVERY = 366 * 86400.0
# Runs start up to this share of the shortest gap late (at most a minute), so
# that many environments on one schedule do not all start in the same second.
_JITTER_SHARE, _JITTER_CAP_MS = 0.1, 60_000


def policy_name(env_id: str) -> str:
    return f"environments/{env_id}/backupPolicy"


def parse_policy_name(name: str, field: str = "name") -> str:
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "environments" or parts[2] != "backupPolicy":
        raise InvalidArgument(field, "must be environments/{environment}/backupPolicy")
    return names.check_environment_id(parts[1], field)


def policy_not_found(env_id: str) -> NotFound:
    return NotFound("BACKUP_POLICY_NOT_FOUND", "backup_policy", policy_name(env_id))


def duration_text(seconds: float) -> str:
    """90 -> '1m30s', 7200 -> '2h': the spelling the CLI accepts."""
    if seconds < 1:
        return f"{seconds:g}s"
    out, left = "", int(round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


def _seconds(d: Duration) -> float:
    return d.ToNanoseconds() / 1e9


@dataclass(frozen=True)
class Schedule:
    """A policy's run times ("slots"), in milliseconds since the epoch: every
    interval after the anchor (when the policy was set), or each cron minute
    after the anchor."""

    anchor_ms: int
    interval_ms: int = 0
    cron: Cron | None = None

    @classmethod
    def drills(cls, policy: Policy) -> Schedule | None:
        """The policy's restore drills, every drill_every from update_time."""
        if not policy.HasField("drill_every"):
            return None
        return cls(
            policy.update_time.ToMilliseconds(), interval_ms=policy.drill_every.ToMilliseconds()
        )

    @classmethod
    def of(cls, policy: Policy) -> Schedule:
        anchor = policy.update_time.ToMilliseconds()
        if policy.WhichOneof("schedule") == "cron":
            return cls(anchor, cron=parse_cron(policy.cron))
        return cls(anchor, interval_ms=policy.every.ToMilliseconds())

    def latest(self, now: float) -> int | None:
        """The last slot at or before ``now``; None before the first."""
        if self.cron is not None:
            t = self.cron.latest_at_or_before(now)
            slot = None if t is None else int(t * 1000)
            return slot if slot is not None and slot > self.anchor_ms else None
        k = (math.floor(now * 1000) - self.anchor_ms) // self.interval_ms
        return self.anchor_ms + k * self.interval_ms if k >= 1 else None

    def next_after(self, now: float) -> int | None:
        """The first slot after ``now``."""
        if self.cron is not None:
            t = self.cron.next_after(max(now, self.anchor_ms / 1000))
            return None if t is None else int(t * 1000)
        k = max(1, (math.floor(now * 1000) - self.anchor_ms) // self.interval_ms + 1)
        return self.anchor_ms + k * self.interval_ms

    def next_run(self, now: float, last_claimed: int | None) -> int | None:
        """The slot that runs next: a due one nobody ran yet, else the next."""
        due = self.latest(now)
        if due is not None and (last_claimed is None or due > last_claimed):
            return due
        return self.next_after(now)

    def gaps(self) -> tuple[float, float]:
        """Shortest and longest time between two runs, in seconds."""
        if self.cron is not None:
            return self.cron.gaps()
        return self.interval_ms / 1000, self.interval_ms / 1000

    def jitter_ms(self, env_uid: str, slot: int) -> int:
        """How late this environment's run of this slot starts: the same in
        every server, so the due time does not move between looks."""
        cap = min(_JITTER_CAP_MS, int(self.gaps()[0] * 1000 * _JITTER_SHARE))
        if cap <= 0:
            return 0
        h = hashlib.sha256(f"{env_uid}/{slot}".encode()).digest()
        return int.from_bytes(h[:8], "big") % (cap + 1)


def next_drill_time(policy: Policy, now: float) -> int | None:
    """When the policy's next restore drill is due (milliseconds); None without drills."""
    drills = Schedule.drills(policy)
    return None if drills is None else drills.next_after(now)


def rules_of(policy: Policy) -> Rules | None:
    """The retention rules; None when every backup is kept."""
    if not policy.HasField("retention"):
        return None
    r = policy.retention
    return Rules(
        keep_last=r.keep_last,
        keep_daily=r.keep_daily,
        keep_weekly=r.keep_weekly,
        keep_monthly=r.keep_monthly,
        max_age=_seconds(r.max_age),
    )


def check(policy: Policy, min_interval: float) -> Schedule:
    """Raises INVALID_ARGUMENT naming every bad field; returns the schedule."""
    errors = Collected()
    kind = policy.WhichOneof("schedule")
    gaps: tuple[float, float] | None = None
    if kind is None:
        errors.add("policy.schedule", "set every (an interval) or cron (an expression)")
    elif kind == "every":
        every = _seconds(policy.every)
        if every <= 0 or every > _MAX_EVERY:
            errors.add(
                "policy.every", f"must be more than 0 and at most {duration_text(_MAX_EVERY)}"
            )
        elif every < min_interval:
            errors.add(
                "policy.every",
                f"{duration_text(every)} is shorter than the server's minimum interval "
                f"{duration_text(min_interval)} (min_schedule_interval)",
            )
        else:
            gaps = (every, every)
    else:
        try:
            gaps = parse_cron(policy.cron).gaps()
        except CronError as e:
            errors.add("policy.cron", str(e))
        else:
            if gaps[0] < min_interval:
                errors.add(
                    "policy.cron",
                    f"runs {duration_text(gaps[0])} apart, closer than the server's minimum "
                    f"interval {duration_text(min_interval)} (min_schedule_interval)",
                )
    if policy.HasField("drill_every"):
        drill = _seconds(policy.drill_every)
        if drill <= 0 or drill > _MAX_EVERY:
            errors.add(
                "policy.drill_every",
                f"must be more than 0 and at most {duration_text(_MAX_EVERY)}",
            )
        elif drill < min_interval:
            errors.add(
                "policy.drill_every",
                f"{duration_text(drill)} is shorter than the server's minimum interval "
                f"{duration_text(min_interval)} (min_schedule_interval)",
            )
    if policy.HasField("retention"):
        r = policy.retention
        for field in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly"):
            if getattr(r, field) < 0:
                errors.add(f"policy.retention.{field}", "must not be negative")
        max_age = _seconds(r.max_age)
        rules = rules_of(policy)
        if max_age < 0:
            errors.add("policy.retention.max_age", "must not be negative")
        elif rules is not None and not rules.keeps_anything():
            errors.add(
                "policy.retention",
                "keeps nothing: a backup would be deleted before the next one exists; set "
                "keep_last, keep_daily, keep_weekly, keep_monthly or max_age, or leave "
                "retention unset to keep every backup",
            )
        elif max_age and gaps is not None and max_age < gaps[1]:
            errors.add(
                "policy.retention.max_age",
                f"{duration_text(max_age)} is shorter than the {duration_text(gaps[1])} between "
                "runs: a backup would expire before the next one exists",
            )
    errors.raise_if_any()
    return Schedule.of(policy)


class PolicyStore:
    """Blocking persistence of policies; runs on the worker pool."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, env_uid: str) -> Policy | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT body FROM backup_policies WHERE env_uid = ?", (env_uid,)
            ).fetchone()
        return Policy.FromString(row[0]) if row else None

    def put(self, env_uid: str, policy: Policy) -> None:
        with self.db.write() as conn:
            self.insert(conn, env_uid, policy)

    def insert(self, conn: sqlite3.Connection, env_uid: str, policy: Policy) -> None:
        """Within a caller's write transaction (a restore creating its environment)."""
        conn.execute(
            "INSERT OR REPLACE INTO backup_policies (env_uid, body, update_time) VALUES (?, ?, ?)",
            (
                env_uid,
                policy.SerializeToString(deterministic=True),
                policy.update_time.ToNanoseconds() / 1e9,
            ),
        )

    def delete(self, env_uid: str) -> bool:
        with self.db.write() as conn:
            return (
                conn.execute("DELETE FROM backup_policies WHERE env_uid = ?", (env_uid,)).rowcount
                > 0
            )

    def live(self) -> list[tuple[str, str, Policy]]:
        """(environment id, uid, policy) of every live environment with a policy."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT e.name, e.uid, p.body FROM backup_policies p JOIN environments e "
                "ON e.uid = p.env_uid WHERE e.deleted_time IS NULL ORDER BY e.name"
            ).fetchall()
        return [(name, uid, Policy.FromString(body)) for name, uid, body in rows]


@dataclass(frozen=True)
class ScheduleState:
    """What GetBackupStatus shows of an environment's automatic backups."""

    policy: Policy | None
    next_run: int | None  # milliseconds
    last_run: ScheduledRun | None


class PolicyEngine:
    def __init__(
        self,
        registry: Registry,
        store: PolicyStore,
        runs: ScheduledRuns,
        editions: EditionPolicy,
        clock: Clock,
        executor: Executor | None,
        min_interval: float,
    ) -> None:
        self.registry = registry
        self.store = store
        self.runs = runs
        self.editions = editions
        self.clock = clock
        self._executor = executor
        self.min_interval = min_interval
        # Called after a policy changes (the scheduler looks again at once).
        self.on_change: list[Callable[[], None]] = []

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _shown(self, policy: Policy, last_claimed: int | None) -> Policy:
        out = Policy()
        out.CopyFrom(policy)
        slot = Schedule.of(policy).next_run(self.clock.now(), last_claimed)
        if slot is not None:
            out.next_run_time.FromMilliseconds(slot)
        next_drill = next_drill_time(policy, self.clock.now())
        if next_drill is not None:
            out.next_drill_time.FromMilliseconds(next_drill)
        return out

    def _last_slot(self, env_uid: str) -> int | None:
        run = self.runs.latest(env_uid)
        return run.slot if run else None

    async def get(self, name: str) -> Policy:
        env_id = parse_policy_name(name)
        env = await self._run(lambda: self.registry.get(env_id))
        policy = await self._run(lambda: self.store.get(env.uid))
        if policy is None:
            raise policy_not_found(env_id)
        return self._shown(policy, await self._run(lambda: self._last_slot(env.uid)))

    async def set(self, req: pol_pb.SetBackupPolicyRequest) -> Policy:
        env_id = parse_policy_name(req.policy.name, "policy.name")
        policy = Policy(name=policy_name(env_id), retention=req.policy.retention)
        if not req.policy.HasField("retention"):
            policy.ClearField("retention")
        if req.policy.WhichOneof("schedule") == "every":
            policy.every.CopyFrom(req.policy.every)
        elif req.policy.WhichOneof("schedule") == "cron":
            policy.cron = " ".join(req.policy.cron.split())
        if req.policy.HasField("drill_every"):
            policy.drill_every.CopyFrom(req.policy.drill_every)
        check(policy, self.min_interval)
        env = await self._run(lambda: self.registry.get(env_id))
        self.editions.require(env.edition, "backup", env_id)  # R1: it could never run
        policy.update_time.CopyFrom(timestamp(self.clock.now()))
        if not req.validate_only:
            await self._run(lambda: self.store.put(env.uid, policy))
            self._changed()
        return self._shown(policy, None)

    async def delete(self, req: pol_pb.DeleteBackupPolicyRequest) -> None:
        env_id = parse_policy_name(req.name)
        env = await self._run(lambda: self.registry.get(env_id))
        deleted = await self._run(lambda: self.store.delete(env.uid))
        if not deleted and not req.allow_missing:
            raise policy_not_found(env_id)
        self._changed()

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    async def state(self, env_uid: str) -> ScheduleState:
        policy = await self._run(lambda: self.store.get(env_uid))
        last = await self._run(lambda: self.runs.latest(env_uid))
        next_run = None
        if policy is not None:
            next_run = Schedule.of(policy).next_run(self.clock.now(), last.slot if last else None)
        return ScheduleState(policy, next_run, last)

    @staticmethod
    def for_restore(recorded: Policy, env_id: str, now: float) -> Policy:
        """The recorded policy as the restored environment's own, counted from now."""
        out = Policy()
        out.CopyFrom(recorded)
        out.name = policy_name(env_id)
        out.ClearField("next_run_time")
        out.ClearField("next_drill_time")
        out.update_time.CopyFrom(timestamp(now))
        return out

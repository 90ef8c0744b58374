"""The ledger of scheduled runs: one row per (environment, slot), where a slot
is a policy's run time in milliseconds.

The row is the lease that makes a scheduled backup run once when several
servers share the data directory: claiming is one write transaction that
checks no newer slot was claimed and no earlier run of the environment is
still going, then inserts the row, whose primary key admits one winner.
A run whose server died (its owner lock is free) no longer blocks: a run
that never started is forgotten, one that started is marked interrupted.

States: queued (claimed, waiting for a free slot under the concurrency limit),
started (its backup operation is named), done, refused (a rule refused the
backup; error holds the google.rpc.Status), interrupted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .database import Database
from .operations import OwnerLock

QUEUED, STARTED, DONE, REFUSED, INTERRUPTED = "queued", "started", "done", "refused", "interrupted"
# Rows kept per environment; older ones are history nobody reads.
_HISTORY = 100


@dataclass(frozen=True)
class ScheduledRun:
    env_uid: str
    slot: int  # milliseconds since the epoch
    state: str
    owner: str
    operation: str  # operations/{id} once started
    claim_time: float
    end_time: float | None
    error: bytes | None  # serialized google.rpc.Status when refused


_COLUMNS = "env_uid, slot, state, owner, operation, claim_time, end_time, error"


class ScheduledRuns:
    """Blocking; runs on the worker pool."""

    def __init__(self, db: Database, owner: OwnerLock) -> None:
        self.db = db
        self.owner = owner

    def claim(self, env_uid: str, slot: int, now: float) -> bool:
        """True when this server won the slot and must run it."""
        with self.db.write() as conn:
            busy = conn.execute(
                "SELECT slot, state, owner FROM scheduled_runs WHERE env_uid = ? AND state IN (?, ?)",
                (env_uid, QUEUED, STARTED),
            ).fetchall()
            for other_slot, state, owner in busy:
                if owner == self.owner.owner or not self.owner.is_dead(owner):
                    return False  # the previous run goes on; this slot waits for it
                if state == QUEUED:
                    conn.execute(
                        "DELETE FROM scheduled_runs WHERE env_uid = ? AND slot = ?",
                        (env_uid, other_slot),
                    )
                else:
                    conn.execute(
                        "UPDATE scheduled_runs SET state = ?, end_time = ? WHERE env_uid = ? AND slot = ?",
                        (INTERRUPTED, now, env_uid, other_slot),
                    )
            (last,) = conn.execute(
                "SELECT MAX(slot) FROM scheduled_runs WHERE env_uid = ?", (env_uid,)
            ).fetchone()
            if last is not None and last >= slot:
                return False
            try:
                conn.execute(
                    "INSERT INTO scheduled_runs (env_uid, slot, state, owner, claim_time) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (env_uid, slot, QUEUED, self.owner.owner, now),
                )
            except sqlite3.IntegrityError:
                return False
            conn.execute(
                "DELETE FROM scheduled_runs WHERE env_uid = ? AND slot < (SELECT slot FROM "
                "scheduled_runs WHERE env_uid = ? ORDER BY slot DESC LIMIT 1 OFFSET ?)",
                (env_uid, env_uid, _HISTORY - 1),
            )
            return True

    def _set(self, env_uid: str, slot: int, **values: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db.write() as conn:
            conn.execute(
                f"UPDATE scheduled_runs SET {sets} WHERE env_uid = ? AND slot = ?",
                (*values.values(), env_uid, slot),
            )

    def started(self, env_uid: str, slot: int, operation: str) -> None:
        self._set(env_uid, slot, state=STARTED, operation=operation)

    def done(self, env_uid: str, slot: int, now: float) -> None:
        self._set(env_uid, slot, state=DONE, end_time=now)

    def refused(self, env_uid: str, slot: int, error: bytes, now: float) -> None:
        self._set(env_uid, slot, state=REFUSED, end_time=now, error=error)

    def release(self, env_uid: str, slot: int) -> None:
        """Forgets a claimed run that did not start, as if never claimed."""
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM scheduled_runs WHERE env_uid = ? AND slot = ? AND state = ?",
                (env_uid, slot, QUEUED),
            )

    def release_queued(self) -> int:
        """Forgets this server's runs that never started (shutdown): whoever
        runs next catches them up."""
        with self.db.write() as conn:
            return conn.execute(
                "DELETE FROM scheduled_runs WHERE owner = ? AND state = ?",
                (self.owner.owner, QUEUED),
            ).rowcount

    def latest(self, env_uid: str) -> ScheduledRun | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM scheduled_runs WHERE env_uid = ? ORDER BY slot DESC LIMIT 1",
                (env_uid,),
            ).fetchone()
        return ScheduledRun(*row) if row else None

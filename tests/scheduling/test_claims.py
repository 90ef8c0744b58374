"""The scheduled-run ledger as a lease between servers sharing one database."""

from __future__ import annotations

from pathlib import Path

from stowage_server.database import Database
from stowage_server.operations import OwnerLock
from stowage_server.scheduled_runs import DONE, INTERRUPTED, ScheduledRuns


def test_one_claim_per_slot_and_never_an_older_slot(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "registry.db"))
    a = ScheduledRuns(db, OwnerLock(str(tmp_path / "owners")))
    b = ScheduledRuns(Database(str(tmp_path / "registry.db")), OwnerLock(str(tmp_path / "owners")))
    assert a.claim("env", 1000, now=1.0)
    assert not b.claim("env", 1000, now=1.0)  # taken
    assert not b.claim("env", 2000, now=2.0)  # a's run of this environment still goes on
    a.started("env", 1000, "operations/x")
    a.done("env", 1000, now=2.5)
    assert not b.claim("env", 500, now=3.0)  # older than what already ran
    assert b.claim("env", 2000, now=3.0)
    assert b.claim("other", 2000, now=3.0)  # environments are independent
    latest = b.latest("env")
    assert latest is not None and (latest.slot, latest.state) == (2000, "queued")
    assert b.latest("none") is None


def test_a_dead_servers_runs_do_not_block(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "registry.db"))
    dead_lock = OwnerLock(str(tmp_path / "owners"))
    dead = ScheduledRuns(db, dead_lock)
    live = ScheduledRuns(db, OwnerLock(str(tmp_path / "owners")))
    assert dead.claim("started", 1000, now=1.0)
    dead.started("started", 1000, "operations/y")
    assert dead.claim("queued", 1000, now=1.0)
    dead_lock.close()  # as at exit; a killed process's lock is freed by the kernel
    assert live.claim("started", 2000, now=2.0)
    row = live.latest("started")
    assert row is not None and row.slot == 2000
    with db.read() as conn:
        state = conn.execute(
            "SELECT state FROM scheduled_runs WHERE slot = 1000 AND env_uid = 'started'"
        ).fetchone()
    assert state == (INTERRUPTED,)
    # A claim that never started is forgotten, so its slot can run after all.
    assert live.claim("queued", 1000, now=2.0)
    live.done("queued", 1000, now=3.0)
    row = live.latest("queued")
    assert row is not None and row.state == DONE

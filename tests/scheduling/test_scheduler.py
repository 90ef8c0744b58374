"""Automatic backups through real servers: the schedule and its retention on
the real clock, catch-up after downtime, refusals, the concurrency limit, and
two servers sharing one data directory. Tests that need no wall clock drive a
ManualClock and wake the scheduler instead of sleeping through schedules."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path

from stowage.client import Client
from stowage.errors import from_status
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.clock import ManualClock

from ..conftest import ServerProcess, ServerThread, wait_for

SCHEDULED = bk_pb.Backup.TRIGGER_SCHEDULED
HOUR = 3600
IN_FLIGHT = ("QUEUED", "PENDING", "RUNNING")


def wake(s: ServerThread) -> None:
    """Makes the server's scheduler look at its (manual) clock again."""

    async def poke() -> None:
        s.server.engines.scheduler.wake()

    s.call(poke())


def scheduled_backups(c: Client, env: str) -> list[bk_pb.Backup]:
    return [b for b in c.list_backups(env) if b.trigger == SCHEDULED]


def seconds(ts) -> float:  # type: ignore[no-untyped-def]
    return ts.ToNanoseconds() / 1e9


def test_every_2s_keep_last_3_on_the_real_clock(tmp_path: Path) -> None:
    s = ServerThread(tmp_path / "data", min_schedule_interval="1s")
    try:
        with Client(s.address) as c:
            c.provision("steady", "basic")
            c.put_artifact("steady", "partner", "P", b"<partner/>")
            manual = c.create_backup("steady").result().backup.name
            policy = c.set_backup_policy("steady", every=2, keep_last=3)
            time.sleep(max(0.0, seconds(policy.update_time) + 10 - time.time()))

            def settled():  # type: ignore[no-untyped-def]
                # Between one backup's end and its retention, 4 are listed for a moment.
                backups = scheduled_backups(c, "steady")
                status = c.backup_status("steady")[0]
                done = status.last_scheduled_backup.state == "SUCCEEDED"
                return (backups, status) if len(backups) == 3 and done else None

            backups, status = wait_for(settled, timeout=10)
            newest = backups[0]
            assert time.time() - seconds(newest.create_time) < 3
            last = status.last_scheduled_backup
            assert last.backup == newest.name and last.trigger == SCHEDULED
            assert seconds(status.next_run_time) == seconds(last.scheduled_time) + 2
            runs = [
                o
                for o in c.list_operations("environments/steady", ops_pb.Operation.KIND_BACKUP)
                if o.backup.trigger == SCHEDULED and o.state == ops_pb.Operation.STATE_SUCCEEDED
            ]
            assert len(runs) >= 4  # retention deleted the older ones
            # A manual backup is never the schedule's to delete.
            assert manual in {b.name for b in c.list_backups("steady")}
    finally:
        s.stop()


def test_a_server_down_through_five_slots_runs_one_catch_up_backup(tmp_path: Path) -> None:
    clock = ManualClock()
    s = ServerThread(tmp_path / "data", clock=clock)
    with Client(s.address) as c:
        c.provision("nightly", "basic")
        c.put_artifact("nightly", "partner", "P", b"<partner/>")
        anchor = seconds(c.set_backup_policy("nightly", every=HOUR).update_time)
    s.stop()
    clock.advance(5.5 * HOUR)
    s = ServerThread(tmp_path / "data", clock=clock)
    try:
        with Client(s.address) as c:
            first = wait_for(lambda: scheduled_backups(c, "nightly"))
            assert [seconds(b.scheduled_time) for b in first] == [anchor + 5 * HOUR]
            status = c.backup_status("nightly")[0]
            assert seconds(status.next_run_time) == anchor + 6 * HOUR
            clock.advance(HOUR)
            wake(s)
            both = wait_for(lambda: (b := scheduled_backups(c, "nightly")) and len(b) == 2 and b)
            # Had it run once per missed slot, the 1h-4h slots would be here too.
            assert sorted(seconds(b.scheduled_time) - anchor for b in both) == [5 * HOUR, 6 * HOUR]
    finally:
        s.stop()


def test_a_refused_scheduled_backup_is_recorded_and_the_schedule_goes_on(tmp_path: Path) -> None:
    clock = ManualClock()
    s = ServerThread(tmp_path / "data", clock=clock)
    batch = "environments/busy/batches/nightly"
    try:
        with Client(s.address) as c:
            for env in ("busy", "demoted"):
                c.provision(env, "basic")
                c.put_artifact(env, "partner", "P", env.encode())
            c.environments.AddBatchMessage(
                env_pb.AddBatchMessageRequest(batch=batch, message_id="m1")
            )
            anchor = seconds(c.set_backup_policy("busy", every=HOUR).update_time)
            c.set_backup_policy("demoted", every=HOUR)
            c.update_environment("demoted", edition="developer")
            clock.advance(HOUR + 120)  # past the slot and its jitter
            wake(s)

            def refused(env: str):  # type: ignore[no-untyped-def]
                st = c.backup_status(env)[0]
                return st if st.last_scheduled_backup.state == "REFUSED" else None

            st = wait_for(lambda: refused("busy"))
            error = from_status(st.last_scheduled_backup.error)
            assert error.reason == "ACTIVE_BATCH_MESSAGES" and "nightly (1)" in error.message
            assert st.last_backup.state == "REFUSED"  # the latest attempt, though no operation ran
            assert not st.last_scheduled_backup.operation
            assert seconds(st.last_scheduled_backup.scheduled_time) == anchor + HOUR
            assert seconds(st.next_run_time) == anchor + 2 * HOUR
            st = wait_for(lambda: refused("demoted"))
            assert from_status(st.last_scheduled_backup.error).reason == "EDITION_NOT_SUPPORTED"

            c.environments.ReleaseBatch(env_pb.ReleaseBatchRequest(name=batch))
            clock.advance(HOUR)
            wake(s)
            st = wait_for(
                lambda: (
                    (x := c.backup_status("busy")[0]).last_scheduled_backup.state == "SUCCEEDED"
                    and x
                )
            )
            assert seconds(st.last_scheduled_backup.scheduled_time) == anchor + 2 * HOUR
            assert [b.name for b in scheduled_backups(c, "busy")] == [st.last_backup.backup]
    finally:
        s.stop()


def test_due_backups_beyond_the_limit_queue(tmp_path: Path) -> None:
    clock = ManualClock()
    # Slow uploads make each backup last long enough to see the queue.
    s = ServerThread(
        tmp_path / "data", clock=clock, max_concurrent_backups="1", upload_limit="8MiB"
    )
    envs = ("q-one", "q-two", "q-three")
    try:
        with Client(s.address) as c:
            for env in envs:
                c.provision(env, "basic")
                c.put_artifact(env, "assembly", "Big.dll", os.urandom(3 << 20))
                c.set_backup_policy(env, every=HOUR)
            clock.advance(HOUR + 120)
            wake(s)
            most_running, saw_queued = 0, False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = [
                    st.last_scheduled_backup.state
                    for st in c.backup_status()
                    if st.HasField("last_scheduled_backup")
                ]
                most_running = max(most_running, sum(x in ("PENDING", "RUNNING") for x in states))
                saw_queued = saw_queued or "QUEUED" in states
                if states.count("SUCCEEDED") == len(envs):
                    break
                time.sleep(0.02)
            assert states.count("SUCCEEDED") == len(envs)
            assert most_running == 1 and saw_queued
    finally:
        s.stop()


def test_two_servers_on_one_data_directory_run_each_slot_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    servers = [ServerProcess(data, "--min-schedule-interval", "1s") for _ in range(2)]
    envs = ("east", "west")
    try:
        with Client(servers[0].address) as a, Client(servers[1].address) as b:
            for env in envs:
                a.provision(env, "basic")
                a.put_artifact(env, "partner", "P", env.encode())
                a.set_backup_policy(env, every=1)
            time.sleep(6)
            for env in envs:
                b.delete_backup_policy(env)  # through the other server
            wait_for(
                lambda: all(
                    st.last_scheduled_backup.state not in IN_FLIGHT for st in b.backup_status()
                )
            )
            slots = Counter(
                (env, bk.scheduled_time.ToJsonString())
                for env in envs
                for bk in scheduled_backups(b, env)
            )
    finally:
        for s in servers:
            s.terminate()
    assert all(n == 1 for n in slots.values()), slots
    for env in envs:
        assert sum(1 for e, _ in slots if e == env) >= 3
    # Each run was started by exactly one of the servers (the claim is the lease).
    started = Counter(
        m.groups()
        for s in servers
        for line in s.log
        if (m := re.search(r"scheduled backup of (\S+) for (\S+):", line))
    )
    assert started == slots

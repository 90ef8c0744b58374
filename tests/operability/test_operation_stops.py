"""How the operation manager stops work, driven directly: at shutdown, at its
commit point, and with a progress save still running in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import operations_pb2 as ops_pb
from stowage_server.clock import ManualClock
from stowage_server.database import Database
from stowage_server.errors import Unavailable
from stowage_server.operations import OperationContext, OperationManager, OperationStore, OwnerLock

Op = ops_pb.Operation


class GatedStore(OperationStore):
    """Holds progress saves in their worker thread while the gate is shut."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.released = threading.Event()

    def save(self, op: Op, events: list[ops_pb.OperationEvent]) -> None:
        held = not op.done and not self.gate.is_set()
        if held:
            self.held.set()
            self.gate.wait(30)
        super().save(op, events)
        if held:
            self.released.set()


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[OperationManager]:
    db = Database(str(tmp_path / "registry.db"))
    owner = OwnerLock(str(tmp_path / "owners"))
    manager = OperationManager(GatedStore(db), owner, ManualClock(), None)
    yield manager
    await manager.shutdown(0)
    owner.close()
    db.close()


async def launched(manager: OperationManager, work, env: str = "e1") -> Op:  # type: ignore[no-untyped-def]
    op, _ = await manager.create(manager.new(Op.KIND_BACKUP, f"environments/{env}", ""), "h")
    manager.launch(op, work, {"environment": env})
    return op


async def stored(manager: OperationManager, op: Op) -> Op:
    return await manager.get(op.name.split("/")[1])


async def test_shutdown_fails_running_and_unstarted_work_and_refuses_new(
    manager: OperationManager,
) -> None:
    async def forever(ctx: OperationContext) -> bk_pb.Backup:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    running = await launched(manager, forever)
    await asyncio.sleep(0)  # it starts
    unstarted = await launched(manager, forever, "e2")
    await manager.shutdown(0)
    for op in (running, unstarted):
        op = await stored(manager, op)
        assert op.state == Op.STATE_FAILED
        assert op.error.message == "server shut down"
    with pytest.raises(Unavailable) as err:
        manager.new(Op.KIND_BACKUP, "environments/e1", "")
    assert err.value.reason == "SHUTTING_DOWN"


async def test_work_past_its_commit_point_finishes_through_a_shutdown(
    manager: OperationManager,
) -> None:
    committed, write = asyncio.Event(), asyncio.Event()

    async def commit(ctx: OperationContext) -> bk_pb.Backup:
        ctx.commit()
        committed.set()
        await write.wait()  # the write that makes the result visible
        return bk_pb.Backup(name="environments/e1/backups/b1")

    op = await launched(manager, commit)
    await committed.wait()
    stopping = asyncio.ensure_future(manager.shutdown(0))
    await asyncio.sleep(0)
    write.set()
    await stopping
    op = await stored(manager, op)
    assert op.state == Op.STATE_SUCCEEDED and op.backup.name.endswith("/b1")


async def test_a_save_left_running_by_a_cancelled_reporter_never_lands_last(
    manager: OperationManager,
) -> None:
    store = manager.store
    assert isinstance(store, GatedStore)

    started = asyncio.Event()

    async def upload(ctx: OperationContext) -> bk_pb.Backup:
        started.set()
        await asyncio.sleep(0)
        reporter = asyncio.ensure_future(ctx.flush(force=True))
        try:
            await asyncio.Event().wait()
        finally:
            reporter.cancel()  # as a backup cancels its upload tasks
        raise AssertionError("unreachable")

    op = await launched(manager, upload)
    await started.wait()
    store.gate.clear()
    await asyncio.get_running_loop().run_in_executor(None, store.held.wait, 30)
    cancelling = asyncio.ensure_future(manager.cancel(op.name.split("/")[1]))
    # The terminal record is built and handed to its save while the progress save is held.
    while not op.done:
        await asyncio.sleep(0.01)
    store.gate.set()
    await cancelling
    await asyncio.get_running_loop().run_in_executor(None, store.released.wait, 30)
    assert (await stored(manager, op)).state == Op.STATE_CANCELLED


async def test_progress_names_the_current_item_in_its_events_and_stored_record(
    manager: OperationManager,
) -> None:
    reported = asyncio.Event()
    finish = asyncio.Event()

    async def work(ctx: OperationContext) -> bk_pb.Backup:
        await ctx.phase("upload", items_total=3)
        for label in ("agreements/a1", "agreements/a2", "maps/m1"):
            await ctx.advance(items=1, nbytes=10, current=label)
        await ctx.flush(force=True)
        reported.set()
        await finish.wait()
        await ctx.phase("commit", items_total=1)
        await ctx.flush(force=True)
        return bk_pb.Backup(name="environments/e1/backups/b1")

    op = await launched(manager, work)
    await reported.wait()
    op_id = op.name.split("/")[1]
    progress = (await stored(manager, op)).progress
    assert (progress.phase, progress.items_done, progress.current_item) == (
        "upload",
        3,
        "maps/m1",
    )
    events = manager.store.events_after(op_id, 0)
    assert events[-1].progress.current_item == "maps/m1"
    finish.set()
    while not (await stored(manager, op)).done:
        await asyncio.sleep(0.01)
    events = manager.store.events_after(op_id, 0)
    commit = [e for e in events if e.progress.phase == "commit"]
    assert commit and all(e.progress.current_item == "" for e in commit)

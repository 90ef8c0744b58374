"""Long-running operations: persisted, watched, cancelled.

Each operation is a row (its latest Operation message) plus numbered events.
The process that runs an operation owns it and holds an advisory lock on
``DATA_DIR/owners/{owner}.lock`` for its whole life; an operation whose owner's
lock can be taken was interrupted (crash, SIGKILL), and is marked FAILED with
that reason at the next start or sweep. Watchers read events from the database,
so a watcher that reconnects, even to a restarted server, resumes exactly after
the last sequence number it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message
from google.rpc import code_pb2

from stowage.v1 import backups_pb2, drills_pb2, maintenance_pb2
from stowage.v1 import operations_pb2 as ops_pb
from stowage_storage import heap

from . import logs
from .clock import Clock, timestamp
from .database import Database
from .errors import (
    FailedPrecondition,
    InvalidArgument,
    RequestIdReused,
    StowageError,
    Unavailable,
    known_failure,
    operation_not_found,
)
from .status import internal_status, simple_status, to_status

log = logging.getLogger("stowage.operations")
T = TypeVar("T")

Op = ops_pb.Operation
PENDING, RUNNING = Op.STATE_PENDING, Op.STATE_RUNNING
SUCCEEDED, FAILED, CANCELLED = Op.STATE_SUCCEEDED, Op.STATE_FAILED, Op.STATE_CANCELLED
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)
# Progress events are written at most this often; phase changes and warnings at once.
EVENT_INTERVAL = 0.25
SHUT_DOWN = "server shut down"
KIND_WORDS = {Op.KIND_BACKUP: "backup", Op.KIND_RESTORE: "restore", Op.KIND_DRILL: "drill"}


def request_hash(request: Message) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    if hasattr(copy, "request_id"):
        copy.request_id = ""
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


class OperationStore:
    """Blocking persistence of operations and their events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, op: Op, request_hash_: str, owner: str, now: float) -> tuple[Op, bool]:
        """Inserts a new operation, or returns the one a repeated request_id made."""
        with self.db.write() as conn:
            if op.request_id:
                row = conn.execute(
                    "SELECT body, request_hash FROM operations WHERE kind = ? AND request_id = ?",
                    (op.kind, op.request_id),
                ).fetchone()
                if row is not None:
                    if row[1] != request_hash_:
                        raise RequestIdReused(op.request_id)
                    return Op.FromString(row[0]), False
            try:
                conn.execute(
                    "INSERT INTO operations (id, kind, target, state, request_id, request_hash, owner, "
                    "create_time, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        op.name.split("/")[1],
                        op.kind,
                        op.target,
                        op.state,
                        op.request_id,
                        request_hash_,
                        owner,
                        now,
                        op.SerializeToString(),
                    ),
                )
            except sqlite3.IntegrityError:
                running = conn.execute(
                    "SELECT id FROM operations WHERE target = ? AND kind = ? AND state IN (?, ?)",
                    (op.target, op.kind, PENDING, RUNNING),
                ).fetchone()
                if running is None:
                    raise
                raise FailedPrecondition(
                    "BACKUP_IN_PROGRESS",
                    f"a backup of {op.target} is already running: operations/{running[0]}",
                    metadata={"operation": f"operations/{running[0]}", "environment": op.target},
                ) from None
            return op, True

    def find_request(self, kind: int, request_id: str) -> tuple[Op, str] | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT body, request_hash FROM operations WHERE kind = ? AND request_id = ?",
                (kind, request_id),
            ).fetchone()
        return (Op.FromString(row[0]), row[1]) if row else None

    def save(self, op: Op, events: list[ops_pb.OperationEvent]) -> None:
        op_id = op.name.split("/")[1]
        # Progress may be lost to a power cut (a restart marks the operation
        # interrupted anyway); the terminal record is synced.
        with self.db.write(durable=op.done) as conn:
            conn.execute(
                "UPDATE operations SET state = ?, body = ? WHERE id = ?",
                (op.state, op.SerializeToString(), op_id),
            )
            conn.executemany(
                "INSERT INTO operation_events (op_id, seq, body) VALUES (?, ?, ?)",
                [(op_id, e.sequence, e.SerializeToString()) for e in events],
            )

    def get(self, op_id: str) -> Op:
        with self.db.read() as conn:
            row = conn.execute("SELECT body FROM operations WHERE id = ?", (op_id,)).fetchone()
        if row is None:
            raise operation_not_found(f"operations/{op_id}")
        return Op.FromString(row[0])

    def list(
        self, target: str, kind: int, before: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, Op]]:
        query = "SELECT create_time, id, body FROM operations WHERE 1 = 1"
        args: list[Any] = []
        if target:
            query += " AND target = ?"
            args.append(target)
        if kind:
            query += " AND kind = ?"
            args.append(kind)
        if before is not None:
            query += " AND (create_time < ? OR (create_time = ? AND id < ?))"
            args += [before[0], before[0], before[1]]
        query += " ORDER BY create_time DESC, id DESC LIMIT ?"
        args.append(limit)
        with self.db.read() as conn:
            return [(r[0], Op.FromString(r[2])) for r in conn.execute(query, args)]

    def events_after(self, op_id: str, after: int, limit: int = 200) -> list[ops_pb.OperationEvent]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT body FROM operation_events WHERE op_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (op_id, after, limit),
            ).fetchall()
        return [ops_pb.OperationEvent.FromString(r[0]) for r in rows]

    def unfinished(self) -> list[tuple[str, str]]:
        with self.db.read() as conn:
            return list(
                conn.execute(
                    "SELECT id, owner FROM operations WHERE state IN (?, ?)", (PENDING, RUNNING)
                )
            )

    def request_cancel(self, op_id: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE operations SET cancel_requested = 1 WHERE id = ?", (op_id,))

    def cancel_requested(self, op_id: str) -> bool:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT cancel_requested FROM operations WHERE id = ?", (op_id,)
            ).fetchone()
        return bool(row and row[0])

    def latest(self, target: str, kind: int, states: tuple[int, ...]) -> Op | None:
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT body FROM operations WHERE target = ? AND kind = ? AND state IN ({','.join('?' * len(states))}) "
                "ORDER BY create_time DESC, id DESC LIMIT 1",
                (target, kind, *states),
            ).fetchone()
        return Op.FromString(row[0]) if row else None


class OwnerLock:
    """This process's claim on the operations it runs; released by the kernel on death."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._fd = os.open(self._path(self.owner), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _path(self, owner: str) -> str:
        return os.path.join(self.folder, f"{owner}.lock")

    def is_dead(self, owner: str) -> bool:
        if owner == self.owner:
            return False
        path = self._path(owner)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def forget(self, owner: str) -> None:
        if owner != self.owner:
            try:
                os.unlink(self._path(owner))
            except FileNotFoundError:
                pass

    def close(self) -> None:
        os.close(self._fd)
        try:
            os.unlink(self._path(self.owner))
        except FileNotFoundError:
            pass


class ShutdownCancel(Exception):
    pass


class OperationObserver(Protocol):
    """Told when each launched operation starts and ends (metrics, for one).

    ``labels`` are what the engine said about the operation when it launched it,
    such as its environment and trigger; both calls run on the event loop and
    must not block."""

    def operation_started(self, op: Op, labels: Mapping[str, str]) -> None: ...

    def operation_finished(self, op: Op, labels: Mapping[str, str]) -> None: ...


@dataclass
class _Running:
    task: asyncio.Task[None]
    context: OperationContext


class OperationContext:
    """Handed to an engine: reports progress and warnings, and checks cancellation."""

    def __init__(
        self, manager: OperationManager, op: Op, labels: Mapping[str, str] | None = None
    ) -> None:
        self._m = manager
        self.op = op
        self.labels = dict(labels or {})
        self._events: list[ops_pb.OperationEvent] = []
        self._last_flush = 0.0
        self._dirty = False
        # The item being worked on, written into the operation only with an
        # event: each string set on a message is copied into its arena, which
        # frees nothing until the message goes, so setting it per item would
        # grow the operation with every item of the environment.
        self._current = ""
        self._flushing = asyncio.Lock()
        self.cancel_reason: str | None = None
        self.started = False
        self.committed = False
        self._saving: asyncio.Future[None] | None = None

    @property
    def op_id(self) -> str:
        return self.op.name.split("/")[1]

    def _event(self, warning: str = "", final: bool = False) -> None:
        if self.op.progress.current_item != self._current:
            self.op.progress.current_item = self._current
        self.op.last_sequence += 1
        e = ops_pb.OperationEvent(
            sequence=self.op.last_sequence,
            time=timestamp(self._m.clock.now()),
            state=self.op.state,
            progress=self.op.progress,
            warning=warning,
        )
        if final:
            e.operation.CopyFrom(self.op)
            e.operation.last_sequence = self.op.last_sequence
        self._events.append(e)

    async def phase(self, name: str, items_total: int = 0, bytes_total: int = 0) -> None:
        if self._dirty:
            self._event()  # the previous phase's final counts
            self._dirty = False
        p = self.op.progress
        p.phase = name
        p.items_total, p.bytes_total = items_total, bytes_total
        p.items_done = p.bytes_done = 0
        self._current = ""
        self._event()
        await self.flush(force=True)

    async def advance(self, items: int = 0, nbytes: int = 0, current: str | None = None) -> None:
        p = self.op.progress
        p.items_done += items
        p.bytes_done += nbytes
        if current is not None:
            self._current = current
        self._dirty = True
        if time.monotonic() - self._last_flush >= EVENT_INTERVAL:
            await self.flush()

    async def warn(self, message: str) -> None:
        self.op.warnings.append(message)
        self._event(warning=message)
        await self.flush(force=True)

    async def save(self, snapshot: Op, events: list[ops_pb.OperationEvent]) -> None:
        """Saves in call order. A caller cancelled mid-save (an upload task, when
        its backup is cancelled) leaves its save running in a worker thread; the
        next save, the terminal one above all, waits for it, or a stale RUNNING
        record could land last."""
        previous = self._saving

        async def save() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await self._m.run(lambda: self._m.store.save(snapshot, events))

        current = self._saving = asyncio.ensure_future(save())
        # Consumed here too, so a save whose caller went away logs no stray error.
        current.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(current)

    def commit(self) -> None:
        """Marks the commit point: the next write makes the result visible, and
        it cannot be undone halfway, so from here on the operation finishes and
        cancels (by request or at shutdown) are no longer honoured. Otherwise a
        cancel landing during that write would read FAILED or CANCELLED beside a
        visible result."""
        self.committed = True

    async def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < EVENT_INTERVAL:
            return
        # Concurrent blob tasks report progress; saves must land in event order.
        async with self._flushing:
            if self._dirty:
                self._event()
            self._last_flush = now
            self._dirty = False
            events, self._events = self._events, []
            snapshot = Op()
            snapshot.CopyFrom(self.op)
            await self.save(snapshot, events)
        self._m._notify(self.op_id)
        if self.committed:
            return
        if await self._m.run(lambda: self._m.store.cancel_requested(self.op_id)):
            self.cancel_reason = self.cancel_reason or "cancelled by request"
            raise asyncio.CancelledError()


Work = Callable[[OperationContext], Awaitable[Message]]


class OperationManager:
    def __init__(
        self, store: OperationStore, owner: OwnerLock, clock: Clock, executor: Executor | None
    ) -> None:
        self.store = store
        self.owner = owner
        self.clock = clock
        self._executor = executor
        self._running: dict[str, _Running] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self.on_finished: list[Callable[[Op], None]] = []
        self.observers: list[OperationObserver] = []
        # False once shutdown begins: no new operation is created or started.
        self.accepting = True
        self._hurry = asyncio.Event()

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def refuse_new(self) -> None:
        """From now on, requests for new operations get UNAVAILABLE SHUTTING_DOWN."""
        self.accepting = False

    def _check_accepting(self) -> None:
        if not self.accepting:
            raise Unavailable(
                "SHUTTING_DOWN",
                "the server is shutting down and starts no new operation; "
                "retry against another server or after the restart",
            )

    def new(self, kind: int, target: str, request_id: str) -> Op:
        """A new operation, not yet created; engines call this first, so a
        server that is shutting down refuses before any other check."""
        self._check_accepting()
        return Op(
            name=f"operations/{uuid.uuid4().hex}",
            kind=kind,
            target=target,
            state=PENDING,
            create_time=timestamp(self.clock.now()),
            request_id=request_id,
            progress=ops_pb.Progress(phase="queued"),
        )

    @staticmethod
    def check_same_request(existing: tuple[Op, str], req_hash: str) -> Op:
        op, stored_hash = existing
        if stored_hash != req_hash:
            raise RequestIdReused(op.request_id)
        return op

    async def create(self, op: Op, req_hash: str) -> tuple[Op, bool]:
        self._check_accepting()
        now = self.clock.now()
        return await self.run(lambda: self.store.create(op, req_hash, self.owner.owner, now))

    def launch(self, op: Op, work: Work, labels: Mapping[str, str] | None = None) -> None:
        """Runs ``work`` for a created operation in the background. ``labels``
        (environment, trigger) go to the logs and the observers; never secrets."""
        ctx = OperationContext(self, op, labels)
        task = asyncio.ensure_future(self._drive(ctx, work))
        self._running[ctx.op_id] = _Running(task, ctx)

    async def finish_now(self, op: Op, result: Message) -> Op:
        """Completes a created operation at once (validate-only requests)."""
        ctx = OperationContext(self, op)
        op.state = SUCCEEDED
        op.done = True
        op.start_time.CopyFrom(op.create_time)
        op.end_time.CopyFrom(timestamp(self.clock.now()))
        _set_result(op, result)
        ctx._event(final=True)
        await ctx.flush(force=True)
        return op

    async def _drive(self, ctx: OperationContext, work: Work) -> None:
        op = ctx.op
        logs.bind(operation=op.name, environment=ctx.labels.get("environment"))
        self._observe("operation_started", ctx)
        log.info(
            "%s of %s started",
            KIND_WORDS.get(op.kind, "operation"),
            op.target,
            extra={"fields": _start_facts(ctx)},
        )
        # Shutdown never cancels a task that has not started (its body would
        # never run, and the operation would stay PENDING); it sets the reason.
        ctx.started = True
        try:
            try:
                if not self.accepting:
                    ctx.cancel_reason = ctx.cancel_reason or SHUT_DOWN
                if ctx.cancel_reason:
                    raise asyncio.CancelledError()
                op.state = RUNNING
                op.start_time.CopyFrom(timestamp(self.clock.now()))
                ctx._event()
                await ctx.flush(force=True)
                result = await work(ctx)
                _set_result(op, result)
                op.state = SUCCEEDED
            except asyncio.CancelledError:
                reason = ctx.cancel_reason or "cancelled"
                if reason == SHUT_DOWN:
                    op.state = FAILED
                    op.error.CopyFrom(
                        simple_status(code_pb2.UNAVAILABLE, "SHUTTING_DOWN", SHUT_DOWN)
                    )
                else:
                    op.state = CANCELLED
                    op.error.CopyFrom(
                        simple_status(code_pb2.CANCELLED, "OPERATION_CANCELLED", reason)
                    )
            except StowageError as e:
                op.state = FAILED
                op.error.CopyFrom(to_status(e))
            except Exception as e:
                op.state = FAILED
                known = known_failure(e)
                if known is None:
                    log.exception("operation %s failed", op.name)
                    op.error.CopyFrom(internal_status())
                else:
                    op.error.CopyFrom(to_status(known))
            op.done = True
            op.end_time.CopyFrom(timestamp(self.clock.now()))
            op.progress.phase = "done"
            ctx._event(final=True)
            # The terminal record must land even if this task is being cancelled.
            await asyncio.shield(self._land_final(ctx))
        finally:
            self._running.pop(ctx.op_id, None)
            # An operation's buffers are free now: give them back (in the
            # pool, not awaited), so that an idle server does not keep its
            # busiest moment's footprint.
            with contextlib.suppress(RuntimeError):  # the pool is shut down already
                asyncio.get_running_loop().run_in_executor(self._executor, heap.release)
            log.log(
                logging.INFO if op.state == SUCCEEDED else logging.WARNING,
                "%s of %s %s",
                KIND_WORDS.get(op.kind, "operation"),
                op.target,
                Op.State.Name(op.state).removeprefix("STATE_").lower(),
                extra={"fields": _end_facts(ctx)},
            )
            for callback in self.on_finished:
                try:
                    callback(op)
                except Exception:
                    log.exception("operation callback failed")
            self._observe("operation_finished", ctx)

    def _observe(self, event: str, ctx: OperationContext) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(ctx.op, ctx.labels)
            except Exception:
                log.exception("operation observer failed")

    async def _final_flush(self, ctx: OperationContext) -> None:
        events, ctx._events = ctx._events, []
        snapshot = Op()
        snapshot.CopyFrom(ctx.op)
        try:
            await ctx.save(snapshot, events)
        except BaseException:
            ctx._events[:0] = events  # nothing landed: the next attempt sends them
            raise
        self._notify(ctx.op_id)

    async def _land_final(self, ctx: OperationContext) -> None:
        """Saves the terminal record, retrying while the data directory cannot
        take it (a full disk): until it lands, the operation reads RUNNING and
        holds its environment's backup slot."""
        pause = 0.5
        while True:
            try:
                await self._final_flush(ctx)
                return
            except Exception as e:
                if known_failure(e) is None:
                    raise
                log.warning("could not save the end of %s (%s); retrying", ctx.op.name, e)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)

    def _notify(self, op_id: str) -> None:
        event = self._changed.pop(op_id, None)
        if event is not None:
            event.set()

    async def get(self, op_id: str) -> Op:
        return await self.run(lambda: self.store.get(op_id))

    async def list(
        self, target: str, kind: int, before: tuple[float, str] | None, limit: int
    ) -> list[tuple[float, Op]]:
        return await self.run(lambda: self.store.list(target, kind, before, limit))

    async def watch(self, op_id: str, after: int) -> AsyncIterator[ops_pb.OperationEvent]:
        op = await self.get(op_id)
        if after < 0:
            raise InvalidArgument("after_sequence", "must not be negative")
        while True:
            changed = self._changed.setdefault(op_id, asyncio.Event())
            events = await self.run(lambda a=after: self.store.events_after(op_id, a))
            for e in events:
                yield e
                after = e.sequence
                if e.HasField("operation"):
                    return
            if events:
                continue
            op = await self.get(op_id)
            if op.done and after >= op.last_sequence:
                return
            # Local operations wake the watcher at once; others (another process) are polled.
            try:
                await asyncio.wait_for(changed.wait(), timeout=0.5)
            except TimeoutError:
                pass

    async def cancel(self, op_id: str) -> Op:
        op = await self.get(op_id)
        if op.done:
            raise FailedPrecondition(
                "OPERATION_FINISHED",
                f"{op.name} already ended ({Op.State.Name(op.state)})",
                metadata={"operation": op.name, "state": Op.State.Name(op.state)},
            )
        running = self._running.get(op_id)
        if running is not None:
            if not running.context.committed:
                running.context.cancel_reason = "cancelled by request"
                if running.context.started:
                    running.task.cancel()
            try:
                await asyncio.shield(running.task)
            except (asyncio.CancelledError, Exception):
                pass
        else:
            await self.run(lambda: self.store.request_cancel(op_id))
        return await self.get(op_id)

    def running_ids(self) -> set[str]:
        return set(self._running)

    async def mark_interrupted(self) -> list[str]:
        """Marks FAILED every unfinished operation whose owner process is gone."""
        marked = []
        for op_id, owner in await self.run(self.store.unfinished):
            if op_id in self._running or not self.owner.is_dead(owner):
                continue
            op = await self.get(op_id)
            op.state = FAILED
            op.done = True
            op.end_time.CopyFrom(timestamp(self.clock.now()))
            op.progress.phase = "done"
            op.error.CopyFrom(
                simple_status(
                    code_pb2.ABORTED,
                    "INTERRUPTED",
                    "interrupted: the server stopped while the operation ran; nothing it made is visible",
                )
            )
            ctx = OperationContext(self, op)
            ctx._event(final=True)
            await self._final_flush(ctx)
            self.owner.forget(owner)
            marked.append(op_id)
        return marked

    async def shutdown(self, grace: float) -> None:
        """Refuses new operations, lets running ones finish for ``grace`` seconds
        (or until ``hurry``), then stops the rest: they read FAILED, "server shut
        down", with nothing of theirs visible."""
        self.refuse_new()
        tasks = [r.task for r in self._running.values()]
        if tasks and grace > 0 and not self._hurry.is_set():
            all_done = asyncio.ensure_future(asyncio.wait(tasks))
            hurried = asyncio.ensure_future(self._hurry.wait())
            await asyncio.wait(
                [all_done, hurried], timeout=grace, return_when=asyncio.FIRST_COMPLETED
            )
            # Cancelling these waits leaves the operations they watched running.
            all_done.cancel()
            hurried.cancel()
        for r in list(self._running.values()):
            if r.context.committed:
                continue  # finishing: it becomes visible, and SUCCEEDED, in a moment
            r.context.cancel_reason = SHUT_DOWN
            if r.context.started:
                r.task.cancel()
        remaining = [r.task for r in self._running.values()]
        if remaining:
            await asyncio.wait(remaining, timeout=10)

    def hurry(self) -> None:
        """Ends the grace period of a shutdown at once (a second signal)."""
        self._hurry.set()


def _start_facts(ctx: OperationContext) -> dict[str, Any]:
    return {
        "kind": KIND_WORDS.get(ctx.op.kind, "unspecified"),
        "target": ctx.op.target,
        **ctx.labels,
    }


def _end_facts(ctx: OperationContext) -> dict[str, Any]:
    op = ctx.op
    facts = _start_facts(ctx)
    facts["result"] = Op.State.Name(op.state).removeprefix("STATE_").lower()
    if op.HasField("start_time") and op.HasField("end_time"):
        nanos = op.end_time.ToNanoseconds() - op.start_time.ToNanoseconds()
        facts["duration_seconds"] = round(max(0, nanos) / 1e9, 3)
    if op.HasField("backup"):
        facts.update(
            backup=op.backup.name,
            bytes=op.backup.size_bytes,
            bytes_written=op.backup.added_bytes,
            artifacts=op.backup.artifact_count,
        )
    elif op.HasField("restore"):
        facts.update(
            environment=op.restore.environment.removeprefix("environments/"),
            bytes=op.restore.size_bytes,
            artifacts=op.restore.artifact_count,
        )
    elif op.HasField("drill"):
        facts.update(
            passed=op.drill.passed,
            problems=len(op.drill.problems),
            bytes=op.drill.bytes_checked,
            artifacts=op.drill.artifacts_checked,
        )
    else:
        facts["bytes"] = op.progress.bytes_done
    if op.HasField("error"):
        facts.update(code=code_pb2.Code.Name(op.error.code), error=op.error.message)
    return facts


_RESULT_FIELDS = {
    backups_pb2.Backup: "backup",
    backups_pb2.RestoreResult: "restore",
    maintenance_pb2.VerifyResult: "verify",
    maintenance_pb2.PruneResult: "prune",
    maintenance_pb2.CopyResult: "copy",
    maintenance_pb2.RotateKeyResult: "rotate_key",
    drills_pb2.DrillResult: "drill",
}


def _set_result(op: Op, result: Message) -> None:
    getattr(op, _RESULT_FIELDS[type(result)]).CopyFrom(result)

"""A handle on a long-running operation (backup, restore): watch it, wait for
it, cancel it.

The watcher resumes after the last sequence number it saw whenever the stream
breaks (server restart, network) or goes silent for longer than its idle
deadline, so every event arrives exactly once and in order. It gives up only
when the server has been unreachable for ``reconnect_for`` seconds in a row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc

from stowage.v1 import operations_pb2 as ops_pb

from .errors import StowageError, from_rpc_error, from_status

if TYPE_CHECKING:
    from .client import Client

# Codes that mean "the stream broke", not "the request is wrong": the watcher
# reconnects. CANCELLED arrives when a stopping server ends its streams.
TRANSIENT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
WATCH_IDLE_TIMEOUT = 30.0
RECONNECT_FOR = 60.0
FIRST_PAUSE, LONGEST_PAUSE = 0.1, 2.0


def is_terminal(event: ops_pb.OperationEvent) -> bool:
    """The last event of an operation carries the whole finished operation."""
    return event.HasField("operation")


def apply_event(op: ops_pb.Operation, event: ops_pb.OperationEvent) -> None:
    """Brings a local copy of the operation up to date with one event."""
    if is_terminal(event):
        op.CopyFrom(event.operation)
        return
    op.state = event.state
    op.progress.CopyFrom(event.progress)
    op.last_sequence = event.sequence
    if event.warning:
        op.warnings.append(event.warning)


def operation_error(op: ops_pb.Operation) -> StowageError:
    """Why a finished operation did not succeed, as the exception a call would raise."""
    if op.error.code:
        return from_status(op.error)
    state = ops_pb.Operation.State.Name(op.state)
    return StowageError(grpc.StatusCode.UNKNOWN, "", f"{op.name} ended {state} without an error")


def unreachable(name: str, budget: float) -> StowageError:
    return StowageError(
        grpc.StatusCode.UNAVAILABLE, "", f"{name}: no answer from the server for {budget:g} s"
    )


def is_transient(error: grpc.RpcError) -> bool:
    code = error.code() if isinstance(error, grpc.Call) else None
    return code in TRANSIENT_CODES


class IdleWatchdog:
    """Calls ``expire`` once when armed for longer than ``timeout`` seconds.

    Armed only while waiting for the server, so a slow consumer of events is
    never mistaken for a silent server.
    """

    def __init__(self, timeout: float, expire: Callable[[], object]) -> None:
        self.timeout = timeout
        self.expired = False
        self._expire = expire
        self._deadline: float | None = None
        self._closed = False
        self._cond = threading.Condition()
        threading.Thread(target=self._run, name="stowage-watchdog", daemon=True).start()

    def arm(self) -> None:
        with self._cond:
            self._deadline = time.monotonic() + self.timeout
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline = None
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self.expired = True
                self._closed = True
        if self.expired:
            self._expire()


class Operation:
    """A handle on a long-running operation: watch it, wait for it, cancel it.

    ``operation`` is the latest copy of the operation this handle knows;
    ``last_sequence`` is the number of the last event it delivered.
    """

    def __init__(self, client: Client, op: ops_pb.Operation) -> None:
        self._client = client
        self.operation = op
        self.last_sequence = 0

    @property
    def name(self) -> str:
        return self.operation.name

    def progress(
        self, *, idle_timeout: float | None = None, reconnect_for: float | None = None
    ) -> Iterator[ops_pb.OperationEvent]:
        """Every event after the last one seen, up to the terminal one, exactly once.

        A stream silent for ``idle_timeout`` seconds is checked with
        GetOperation and reopened; a broken one is reopened after a pause. Raises
        the typed error when the server stays unreachable ``reconnect_for``
        seconds or refuses the watch.
        """
        idle = idle_timeout or self._client.watch_idle_timeout
        budget = reconnect_for or self._client.reconnect_for
        give_up = time.monotonic() + budget
        pause = FIRST_PAUSE
        while True:
            stream = self._client.operations.WatchOperation(
                ops_pb.WatchOperationRequest(name=self.name, after_sequence=self.last_sequence)
            )
            watchdog = IdleWatchdog(idle, stream.cancel)
            try:
                while True:
                    watchdog.arm()
                    try:
                        event = next(stream)
                    except StopIteration:
                        break
                    finally:
                        watchdog.disarm()
                    give_up, pause = time.monotonic() + budget, FIRST_PAUSE
                    self.last_sequence = event.sequence
                    apply_event(self.operation, event)
                    yield event
                    if is_terminal(event):
                        return
                # The server ends a watch without a terminal event only when
                # there is nothing after our sequence and the operation is done.
                if self._reachable() and self.operation.done:
                    return
            except grpc.RpcError as e:
                if watchdog.expired:
                    # Silent, not broken: ask whether the server is there at all.
                    if self._reachable():
                        give_up = time.monotonic() + budget
                        if self._nothing_left():
                            return
                        continue
                    if time.monotonic() > give_up:
                        raise unreachable(self.name, budget) from None
                elif not is_transient(e) or time.monotonic() > give_up:
                    raise from_rpc_error(e) from None
            finally:
                watchdog.close()
                stream.cancel()
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)

    def _reachable(self) -> bool:
        """Refreshes the operation; False when the server cannot be reached."""
        try:
            fresh = self._client.operations.GetOperation(
                ops_pb.GetOperationRequest(name=self.name), timeout=self._client.timeout
            )
        except grpc.RpcError as e:
            if is_transient(e):
                return False
            raise from_rpc_error(e) from None
        self.operation = fresh
        return True

    def _nothing_left(self) -> bool:
        return self.operation.done and self.operation.last_sequence <= self.last_sequence

    def result(self) -> ops_pb.Operation:
        """Waits for the end; returns the operation, or raises its typed error."""
        if not self.operation.done:
            for _ in self.progress():
                pass
        if not self.operation.done:
            self.refresh()
        if self.operation.state != ops_pb.Operation.STATE_SUCCEEDED:
            raise operation_error(self.operation)
        return self.operation

    def refresh(self) -> ops_pb.Operation:
        """Fetches the operation's latest state."""
        self.operation = self._client.get_operation(self.name)
        return self.operation

    def cancel(self) -> ops_pb.Operation:
        """Asks the operation to stop; returns it as the server then reports it."""
        try:
            self.operation = self._client.operations.CancelOperation(
                ops_pb.CancelOperationRequest(name=self.name), timeout=self._client.timeout
            )
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        return self.operation

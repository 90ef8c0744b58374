"""A server restarted while a client watches a backup: the watcher resumes
after the last event it saw, with no event missing or seen twice.

The server is killed (SIGKILL) in the middle of the upload; the restarted
server marks the backup FAILED (INTERRUPTED), and that terminal event is the
one the watcher must pick up after reconnecting.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import pytest

from stowage import errors
from stowage.aio import AsyncClient
from stowage.client import Client
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerProcess, wait_for
from ..sample import provision_full, write_assembly

MB = 1 << 20
# 30 MB at 4 MiB/s keeps the upload going for about 7 s: long enough to kill
# the server in the middle of it.
ASSEMBLY_BYTES = 30 * MB
UPLOAD_LIMIT = "4MiB"


def free_port() -> int:
    # The restarted server must listen where the first one did.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_args(port: int) -> tuple[str, ...]:
    return ("--listen", f"127.0.0.1:{port}", "--upload-limit", UPLOAD_LIMIT)


def uploading(events: list[ops_pb.OperationEvent]) -> bool:
    return any(e.progress.phase == "upload" and e.progress.bytes_done for e in events)


def assert_resumed_exactly_once(
    events: list[ops_pb.OperationEvent], replay: list[ops_pb.OperationEvent]
) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [e.SerializeToString() for e in events] == [e.SerializeToString() for e in replay]
    last = events[-1]
    assert last.HasField("operation") and sum(e.HasField("operation") for e in events) == 1
    assert last.operation.state == ops_pb.Operation.STATE_FAILED
    assert errors.from_status(last.operation.error).reason == "INTERRUPTED"


def replay_all(address: str, name: str) -> list[ops_pb.OperationEvent]:
    with Client(address) as fresh:
        return list(fresh.operation(name).progress())


def prepare(tmp_path: Path, address: str) -> None:
    big = tmp_path / "big.dll"
    write_assembly(big, ASSEMBLY_BYTES)
    with Client(address) as client:
        provision_full(client, "restart", "basic", big)


def test_the_sync_watcher_resumes_across_a_server_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    first = ServerProcess(data, *server_args(port))
    second: ServerProcess | None = None
    try:
        prepare(tmp_path, first.address)
        with Client(first.address) as client:
            handle = client.create_backup("restart")
            events: list[ops_pb.OperationEvent] = []
            failure: list[BaseException] = []

            def watch() -> None:
                try:
                    events.extend(handle.progress())
                except BaseException as e:
                    failure.append(e)

            watcher = threading.Thread(target=watch)
            watcher.start()
            wait_for(lambda: uploading(events), timeout=60)
            first.kill()
            before = len(events)
            second = ServerProcess(data, *server_args(port))
            watcher.join(120)
            assert not watcher.is_alive() and not failure
            assert len(events) > before
            with pytest.raises(errors.Interrupted):
                handle.result()
        assert_resumed_exactly_once(events, replay_all(second.address, handle.name))
    finally:
        first.kill()
        if second is not None:
            second.terminate()


async def test_the_async_watcher_resumes_across_a_server_restart(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    first = await asyncio.to_thread(ServerProcess, data, *server_args(port))
    second: ServerProcess | None = None
    try:
        await asyncio.to_thread(prepare, tmp_path, first.address)
        async with AsyncClient(first.address) as client:
            handle = await client.create_backup("restart")
            events: list[ops_pb.OperationEvent] = []

            async def watch() -> None:
                async for event in handle.progress():
                    events.append(event)

            watcher = asyncio.create_task(watch())
            await asyncio.to_thread(wait_for, lambda: uploading(events), 60)
            first.kill()
            before = len(events)
            second = await asyncio.to_thread(ServerProcess, data, *server_args(port))
            await asyncio.wait_for(watcher, 120)
            assert len(events) > before
            with pytest.raises(errors.Interrupted):
                await handle.result()
        assert_resumed_exactly_once(
            events, await asyncio.to_thread(replay_all, second.address, handle.name)
        )
    finally:
        first.kill()
        if second is not None:
            second.terminate()

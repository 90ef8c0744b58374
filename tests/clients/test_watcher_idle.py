"""The watcher's idle deadline: a stream silent for longer than it is reopened
after the last event seen, so even a deadline far shorter than the gaps
between events loses and repeats nothing."""

from __future__ import annotations

from pathlib import Path

from stowage.aio import AsyncClient
from stowage.client import Client
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread
from ..sample import provision_full, write_assembly

MB = 1 << 20
# Far below the time between two progress events of a rate-limited upload.
IMPATIENT = 0.02


def backup_env(tmp_path: Path, client: Client) -> None:
    big = tmp_path / "big.dll"
    write_assembly(big, 6 * MB)
    provision_full(client, "idle", "basic", big)


def assert_complete(
    events: list[ops_pb.OperationEvent], replay: list[ops_pb.OperationEvent]
) -> None:
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [e.SerializeToString() for e in events] == [e.SerializeToString() for e in replay]
    assert events[-1].operation.state == ops_pb.Operation.STATE_SUCCEEDED


def test_a_sync_watcher_with_a_tiny_idle_deadline_sees_every_event_once(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", upload_limit="4MiB")
    try:
        with Client(server.address, watch_idle_timeout=IMPATIENT) as client:
            backup_env(tmp_path, client)
            handle = client.create_backup("idle")
            events = list(handle.progress())
            assert handle.result().backup.name
            assert_complete(events, list(client.operation(handle.name).progress()))
    finally:
        server.stop()


async def test_an_async_watcher_with_a_tiny_idle_deadline_sees_every_event_once(
    tmp_path: Path,
) -> None:
    server = ServerThread(tmp_path / "data", upload_limit="4MiB")
    try:
        with Client(server.address) as sync:
            backup_env(tmp_path, sync)
        async with AsyncClient(server.address, watch_idle_timeout=IMPATIENT) as client:
            handle = await client.create_backup("idle")
            events = [e async for e in handle.progress()]
            assert (await handle.result()).backup.name
            replay = [e async for e in (await client.operation(handle.name)).progress()]
            assert_complete(events, replay)
    finally:
        server.stop()

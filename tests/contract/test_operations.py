"""Operations through a real server: watching with resumption, cancelling,
persistence across restarts and survival of a killed server."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import grpc
import pytest

from stowage.client import Client
from stowage.errors import OperationFinished, OperationNotFound
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerProcess, ServerThread, wait_for
from ..sample import provision_full, write_assembly

MB = 1 << 20
Op = ops_pb.Operation


def _watch(
    client: Client, name: str, after: int = 0, limit: int | None = None
) -> list[ops_pb.OperationEvent]:
    stream = client.operations.WatchOperation(
        ops_pb.WatchOperationRequest(name=name, after_sequence=after)
    )
    events = []
    try:
        for e in stream:
            events.append(e)
            if limit is not None and len(events) >= limit:
                break
    finally:
        stream.cancel()
    return events


def test_a_watcher_that_reconnects_sees_every_event_exactly_once(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", upload_limit="6MiB")
    try:
        with Client(server.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 12 * MB)
            provision_full(client, "watch", "basic", big)
            handle = client.create_backup("watch")
            seen: list[ops_pb.OperationEvent] = []
            while not seen or not seen[-1].HasField("operation"):
                after = seen[-1].sequence if seen else 0
                seen += _watch(client, handle.name, after, limit=2)  # disconnect every 2 events
            sequences = [e.sequence for e in seen]
            assert sequences == list(range(1, len(seen) + 1))
            assert len(seen) >= 6
            assert seen[-1].operation.state == Op.STATE_SUCCEEDED
            # A fresh watcher replays the same history.
            replay = _watch(client, handle.name)
            assert [e.SerializeToString() for e in replay] == [e.SerializeToString() for e in seen]
            assert _watch(client, handle.name, after=seen[-1].sequence) == []
            phases = [e.progress.phase for e in seen]
            assert phases.index("snapshot") < phases.index("upload") < phases.index("commit")
            uploads = [e.progress.bytes_done for e in seen if e.progress.phase == "upload"]
            assert uploads == sorted(uploads) and uploads[-1] >= 12 * MB
    finally:
        server.stop()


def test_cancel_in_the_middle_of_a_backup_leaves_nothing_listable(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data", upload_limit="4MiB")
    try:
        with Client(server.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 20 * MB)
            provision_full(client, "stopme", "basic", big)
            handle = client.create_backup("stopme")
            for event in handle.progress():
                if event.progress.phase == "upload" and event.progress.bytes_done > 2 * MB:
                    break
            op = handle.cancel()
            assert op.state == Op.STATE_CANCELLED and op.done
            assert op.error.code == grpc.StatusCode.CANCELLED.value[0]
            assert list(client.list_backups("stopme")) == []
            records = tmp_path / "data" / "repository" / "backups"
            assert not records.exists() or not any(p.is_file() for p in records.rglob("*"))
            with pytest.raises(OperationFinished):
                handle.cancel()
            assert client.create_backup("stopme").result().backup.name
    finally:
        server.stop()


def test_unknown_operation_is_not_found(client: Client) -> None:
    with pytest.raises(OperationNotFound):
        client.get_operation("operations/" + "0" * 32)


def test_finished_operations_are_answered_after_a_restart(tmp_path: Path) -> None:
    server = ServerThread(tmp_path / "data")
    with Client(server.address) as client:
        provision_full(client, "durable", "basic")
        handle = client.create_backup("durable")
        op = handle.result()
        events = _watch(client, handle.name)
    server.stop()
    server = ServerThread(tmp_path / "data")
    try:
        with Client(server.address) as client:
            again = client.get_operation(handle.name)
            assert again == op
            assert [e.SerializeToString() for e in _watch(client, handle.name)] == [
                e.SerializeToString() for e in events
            ]
            assert [b.name for b in client.list_backups("durable")] == [op.backup.name]
    finally:
        server.stop()


def test_sigkill_during_a_backup_leaves_nothing_listable_and_fails_the_operation(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    proc = ServerProcess(data, "--upload-limit", "8MiB")
    try:
        with Client(proc.address) as client:
            big = tmp_path / "big.dll"
            write_assembly(big, 40 * MB)
            provision_full(client, "crashy", "basic", big)
            earlier = client.create_backup("crashy").result().backup.name
            client.put_artifact("crashy", "assembly", "Second.dll", os.urandom(24 * MB))
            handle = client.create_backup("crashy")
            for event in handle.progress():
                if event.progress.phase == "upload" and event.progress.bytes_done > 4 * MB:
                    break
    finally:
        proc.kill()
    assert proc.proc.returncode == -signal.SIGKILL

    proc = ServerProcess(data)
    try:
        with Client(proc.address) as client:
            op = client.get_operation(handle.name)
            assert op.state == Op.STATE_FAILED and op.done
            assert "interrupted" in op.error.message
            assert [b.name for b in client.list_backups("crashy")] == [earlier]
            fresh = client.create_backup("crashy").result().backup
            assert fresh.artifact_count == 10
            restored = client.restore(earlier, "crashy-earlier").result().restore
            assert restored.artifact_count == 9
            client.restore(fresh.name, "crashy-fresh").result()
            assert wait_for(lambda: len(list(client.list_backups("crashy"))) == 2)
    finally:
        assert proc.terminate() == 0

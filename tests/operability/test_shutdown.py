"""SIGTERM as an orchestrator sends it: stop taking work, let running work
finish for the grace period, stop the rest cleanly, exit 0."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from stowage.client import Client, Operation
from stowage.errors import StowageError
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerProcess, wait_for
from ..sample import provision_full, write_assembly

MB = 1 << 20
Op = ops_pb.Operation
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status


def long_backup(client: Client, tmp_path: Path, env: str) -> Operation:
    """A backup of a 30 MB assembly, returned once it is uploading."""
    big = tmp_path / f"{env}.dll"
    write_assembly(big, 30 * MB)
    provision_full(client, env, "basic", big)
    handle = client.create_backup(env)
    for event in handle.progress():
        if event.progress.phase == "upload" and event.progress.bytes_done > 2 * MB:
            return handle
    raise AssertionError("the backup ended before it was interrupted")


def test_sigterm_lets_a_running_backup_finish_and_refuses_new_work(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", "--upload-limit", "4MiB")
    try:
        with Client(proc.address) as client:
            client.provision("small", "basic")
            small = client.create_backup("small").result().backup.name
            handle = long_backup(client, tmp_path, "long")
            proc.proc.send_signal(signal.SIGTERM)

            assert wait_for(lambda: health(proc.address) == NOT_SERVING)
            for refused in (
                lambda: client.create_backup("small"),
                lambda: client.restore(small, "small-copy"),
            ):
                with pytest.raises(StowageError) as err:
                    refused()
                assert err.value.code == grpc.StatusCode.UNAVAILABLE
                assert err.value.reason == "SHUTTING_DOWN"

            op = handle.result()
            assert op.state == Op.STATE_SUCCEEDED
        assert proc.proc.wait(60) == 0
    finally:
        proc.kill()
    assert any("shutting down" in line for line in proc.log)

    proc = ServerProcess(tmp_path / "data")
    try:
        with Client(proc.address) as client:
            assert [b.name for b in client.list_backups("long")] == [op.backup.name]
            # The refused restore made nothing.
            assert [e.name for e in client.list_environments()] == [
                "environments/long",
                "environments/small",
            ]
    finally:
        assert proc.terminate() == 0


def interrupted_cleanly(proc: ServerProcess, handle: Operation, env: str) -> None:
    """After the stop: the backup read FAILED "server shut down", nothing of it is
    listable, and the next start is clean."""
    assert proc.proc.wait(60) == 0
    data = proc.data_dir
    proc = ServerProcess(data)
    try:
        with Client(proc.address) as client:
            op = client.get_operation(handle.name)
            assert op.state == Op.STATE_FAILED and op.done
            assert op.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
            assert op.error.message == "server shut down"
            assert list(client.list_backups(env)) == []
            records = data / "repository" / "backups"
            assert not records.exists() or not any(p.is_file() for p in records.rglob("*"))
            assert client.create_backup(env).result().backup.artifact_count == 9
    finally:
        assert proc.terminate() == 0


def test_sigterm_with_no_grace_fails_the_backup_cleanly(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", "--upload-limit", "4MiB", "--shutdown-grace", "0")
    try:
        with Client(proc.address) as client:
            handle = long_backup(client, tmp_path, "cut")
        proc.proc.send_signal(signal.SIGTERM)
        interrupted_cleanly(proc, handle, "cut")
    finally:
        proc.kill()


def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", "--upload-limit", "4MiB", "--shutdown-grace", "10m")
    try:
        with Client(proc.address) as client:
            handle = long_backup(client, tmp_path, "hurried")
            proc.proc.send_signal(signal.SIGTERM)
            assert wait_for(lambda: health(proc.address) == NOT_SERVING)
        proc.proc.send_signal(signal.SIGINT)
        interrupted_cleanly(proc, handle, "hurried")
    finally:
        proc.kill()

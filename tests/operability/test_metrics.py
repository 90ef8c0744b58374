"""The Prometheus endpoint after real backups: what an operator alerts on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stowage.client import Client
from stowage.errors import StowageError
from stowage.v1 import operations_pb2 as ops_pb

from ..conftest import ServerThread, wait_for
from ..sample import provision_full
from .scrape import page, scrape, value

Op = ops_pb.Operation
CREATE = "stowage.v1.BackupService/CreateBackup"


def test_counters_histogram_and_last_success_after_a_good_and_a_failed_backup(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = ServerThread(data, metrics_listen="127.0.0.1:0")
    try:
        with Client(server.address) as client:
            provision_full(client, "good", "basic")
            client.provision("broken", "basic")
            art = client.put_artifact("broken", "assembly", "Lost.dll", os.urandom(200_000))
            # Its content file vanishes from the data directory: the backup fails reading it.
            (data / "content" / art.sha256[:2] / art.sha256).unlink()

            good = client.create_backup("good").result()
            bad = client.create_backup("broken")
            with pytest.raises(StowageError):
                bad.result()
            assert bad.operation.state == Op.STATE_FAILED
            client.restore(good.backup.name, "good-copy").result()
            with pytest.raises(StowageError):
                client.get_environment("ghost")

            port = server.server.metrics_port
            # The repository is measured in the background once a backup ends.
            wait_for(
                lambda: value(scrape(port), "stowage_repository_bytes") >= good.backup.added_bytes
            )
            m = scrape(port)
    finally:
        server.stop()

    backups = "stowage_backups_total"
    assert value(m, backups, environment="good", trigger="manual", result="succeeded") == 1
    assert value(m, backups, environment="broken", trigger="manual", result="failed") == 1
    assert value(m, backups, environment="broken", trigger="manual", result="succeeded") is None
    assert value(m, "stowage_restores_total", result="succeeded") == 1

    duration = "stowage_backup_duration_seconds"
    assert value(m, duration + "_count", result="succeeded") == 1
    assert value(m, duration + "_count", result="failed") == 1
    assert value(m, duration + "_bucket", result="succeeded", le="+Inf") == 1

    finished = good.end_time.ToNanoseconds() / 1e9
    last = "stowage_last_successful_backup_timestamp_seconds"
    assert value(m, last, environment="good") == pytest.approx(finished)
    assert value(m, last, environment="broken") is None

    written = value(m, "stowage_backup_bytes_written_total", environment="good")
    assert written == good.backup.added_bytes > 0
    assert value(m, "stowage_operations_running", kind="backup") == 0
    assert value(m, "stowage_operations_running", kind="restore") == 0

    assert value(m, "stowage_grpc_requests_total", method=CREATE, code="OK") == 2
    assert value(m, "stowage_grpc_request_duration_seconds_count", method=CREATE, code="OK") == 2
    get_env = "stowage.v1.EnvironmentService/GetEnvironment"
    assert value(m, "stowage_grpc_requests_total", method=get_env, code="NOT_FOUND") == 1

    # A restarted server still knows when each environment was last backed up,
    # so an alert on that age does not reset; and its page names no secret.
    server = ServerThread(data, metrics_listen="127.0.0.1:0")
    try:
        text = page(server.server.metrics_port)
        after = scrape(server.server.metrics_port)
    finally:
        server.stop()
    assert value(after, last, environment="good") == pytest.approx(finished)
    assert "secret-marker" not in text

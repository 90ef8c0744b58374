"""Structured logs of a real server: JSON lines that collectors parse, with the
operation, environment and method, and never a secret."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stowage.client import Client
from stowage.errors import StowageError

from ..conftest import ServerProcess
from ..sample import SECRETS, provision_full


def test_json_lines_say_who_and_what_and_never_a_secret(tmp_path: Path) -> None:
    key = os.urandom(32).hex()
    assembly = tmp_path / "Logged.dll"
    assembly.write_bytes(os.urandom(300_000))
    proc = ServerProcess(
        tmp_path / "data",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        env={"STOWAGE_KEY": key},
    )
    try:
        with Client(proc.address) as client:
            provision_full(client, "logged", "standard", assembly)
            backup = client.create_backup("logged").result().backup
            client.restore(backup.name, "logged-copy", edition="premium").result()
            with pytest.raises(StowageError):
                client.get_environment("ghost")
    finally:
        assert proc.terminate() == 0

    lines = [json.loads(line) for line in proc.log]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line

    def one(message: str) -> dict:
        [found] = [line for line in lines if line["message"] == message]
        return found

    started = one("backup of environments/logged started")
    ended = one("backup of environments/logged succeeded")
    assert started["operation"] == ended["operation"] == backup.operation
    assert started["environment"] == ended["environment"] == "logged"
    assert started["method"] == "stowage.v1.BackupService/CreateBackup"
    assert ended["result"] == "succeeded"
    assert ended["bytes"] == backup.size_bytes
    assert ended["bytes_written"] == backup.added_bytes
    assert ended["duration_seconds"] >= 0
    assert ended["caller"] == "anonymous"  # no tokens file: every caller is anonymous

    restored = one(f"restore of {backup.name} succeeded")
    assert restored["environment"] == "logged-copy"
    assert restored["result"] == "succeeded" and restored["bytes"] == backup.size_bytes
    assert one(f"restore of {backup.name} started")["operation"] == restored["operation"]

    not_found = [
        line
        for line in lines
        if line.get("method") == "stowage.v1.EnvironmentService/GetEnvironment"
        and line.get("code") == "NOT_FOUND"
    ]
    assert len(not_found) == 1

    text = "".join(proc.log)
    assert key not in text
    assert "secret-marker" not in text
    for value in SECRETS.values():
        assert value.decode("latin-1") not in text

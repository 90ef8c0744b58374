"""An Azure repository is checked at start: a missing container is created, and
wrong credentials stop the server with a clear message, not at the first backup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stowage.client import Client

from ..azurite import Azurite, new_container
from ..conftest import ServerProcess


def test_missing_container_is_created(tmp_path: Path, azurite: Azurite) -> None:
    server = ServerProcess(
        tmp_path / "data", "--repository", f"abfs://{new_container()}/fresh", env=azurite.env()
    )
    try:
        with Client(server.address) as client:
            client.provision("cloud-env", "standard")
            assert client.create_backup("cloud-env").result().backup.name
    finally:
        assert server.terminate() == 0


def test_a_wrong_account_key_fails_at_start(tmp_path: Path, azurite: Azurite) -> None:
    wrong = azurite.connection_string.replace("AccountKey=Eby8", "AccountKey=AAAA")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stowage.cli.main",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(tmp_path / "data"),
            "--repository",
            f"abfs://{new_container()}/x",
            "--storage-retry-budget",
            "1s",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AZURE_STORAGE_CONNECTION_STRING": wrong, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "serving on" not in result.stderr
    assert "credentials" in result.stderr or "refused" in result.stderr, result.stderr

"""The audit log: one line per sensitive call, with the caller's identity."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from stowage import errors
from stowage.client import Client

from ..conftest import ServerThread
from ..sample import full_settings
from .conftest import Tokens


def test_each_sensitive_call_is_audited_with_its_caller(
    secured: ServerThread, role_tokens: Tokens
) -> None:
    with (
        Client(secured.address, token=role_tokens.operator) as otto,
        Client(secured.address, token=role_tokens.admin) as ada,
        Client(secured.address, token=role_tokens.viewer) as vera,
    ):
        otto.provision("audited", "basic", settings=full_settings())
        backup = otto.create_backup("audited").result().backup
        list(vera.list_backups())  # a read: not audited
        with pytest.raises(errors.PermissionDenied):
            vera.restore(backup.name, "audited-copy")
        ada.restore(backup.name, "audited-copy").result()
        ada.get_environment("audited-copy", full=True)  # a secret read
        ada.rotate_key().result()
        ada.delete_backup(backup.name)
        ada.prune_repository().result()

    log = secured.data_dir / "audit.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for line in lines:
        assert {"time", "caller", "role", "method", "resource", "result"} <= set(line)
    seen = [(x["caller"], x["role"], x["method"].rsplit("/", 1)[1], x["result"]) for x in lines]
    assert seen == [
        ("otto", "operator", "CreateBackup", "OK"),
        ("vera", "viewer", "RestoreBackup", "PERMISSION_DENIED"),
        ("ada", "admin", "RestoreBackup", "OK"),
        ("ada", "admin", "GetEnvironment", "OK"),
        ("ada", "admin", "RotateKey", "OK"),
        ("ada", "admin", "DeleteBackup", "OK"),
        ("ada", "admin", "PruneRepository", "OK"),
    ]
    assert lines[0]["resource"] == "environments/audited"
    assert lines[0]["operation"].startswith("operations/")
    assert lines[2]["resource"] == f"{backup.name} to environments/audited-copy"
    assert lines[3]["resource"] == "environments/audited-copy"
    text = log.read_text()
    for token in (role_tokens.admin, role_tokens.operator, role_tokens.viewer):
        assert token not in text
    assert "secret-marker" not in text

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "stowage.cli.main",
            "audit",
            "tail",
            "-n",
            "2",
            "--data-dir",
            str(secured.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    shown = out.stdout.splitlines()
    assert len(shown) == 2
    assert (
        "ada" in shown[0]
        and "DeleteBackup" in shown[0]
        and shown[1].split()[3] == "PruneRepository"
    )


def test_token_commands(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"

    def stowage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stowage.cli.main", *args, "--tokens-file", str(tokens)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = stowage("token", "create", "--role", "operator", "--name", "ci-bot")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("stw_") and token not in tokens.read_text()
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    again = stowage("token", "create", "--role", "admin", "--name", "ci-bot")
    assert again.returncode == 1 and "exists" in again.stderr
    listed = stowage("token", "list")
    assert "ci-bot" in listed.stdout and "operator" in listed.stdout
    assert stowage("token", "revoke", "--name", "ci-bot").returncode == 0
    assert "ci-bot" not in stowage("token", "list").stdout

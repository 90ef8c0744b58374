"""docs/api.md is generated from the protos, covers every RPC, and a stale copy
is caught."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stowage.v1 import backup_service_pb2, environments_pb2, operations_pb2

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "apidocs.py"


def apidocs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


def test_the_committed_reference_is_current() -> None:
    result = apidocs("check")
    assert result.returncode == 0, result.stderr


def test_every_rpc_is_documented_with_errors_and_an_example(tmp_path: Path) -> None:
    out = tmp_path / "api.md"
    assert apidocs("gen", "--out", str(out)).returncode == 0
    text = out.read_text()
    for module in (environments_pb2, backup_service_pb2, operations_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            assert f"\n## {service.name}\n" in text
            for method in service.methods:
                section = text.split(f"\n### {service.name}.{method.name}\n", 1)[1]
                section = section.split("\n### ", 1)[0]
                assert f"[`{method.input_type.name}`]" in section
                assert "```json" in section
    restore = text.split("\n### BackupService.RestoreBackup\n", 1)[1].split("\n### ", 1)[0]
    assert "| FAILED_PRECONDITION | `RESTORE_EDITION_TOO_LOW` |" in restore


def test_a_stale_reference_fails_the_check(tmp_path: Path) -> None:
    out = tmp_path / "api.md"
    apidocs("gen", "--out", str(out))
    out.write_text(out.read_text().replace("Restore", "Recover", 1))
    result = apidocs("check", "--out", str(out))
    assert result.returncode == 1
    assert "stale" in result.stderr

"""The contract check itself: `buf breaking` against the committed image of the
released contract fails on a renamed field and passes on unchanged protos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
CONTRACT = ROOT / "contract" / "stowage-v1.binpb"
BUF_FINDINGS = 100  # buf's exit status when it reports violations

pytestmark = pytest.mark.skipif(
    not BUF.exists(), reason="buf is not installed: run `npm install` (make test does)"
)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the contract's sources, with the google.rpc protos it imports."""
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    staged = tmp_path / "third_party" / "protos"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "protos.py"), "deps", str(staged)], check=True
    )
    return tmp_path


def breaking(workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "protos", "--against", str(CONTRACT)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unchanged_protos_pass(scratch: Path) -> None:
    result = breaking(scratch)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_renamed_field_fails(scratch: Path) -> None:
    backups = scratch / "protos" / "stowage" / "v1" / "backups.proto"
    text = backups.read_text()
    assert "  string request_id = 4;" in text
    backups.write_text(text.replace("  string request_id = 4;", "  string request_token = 4;", 1))
    result = breaking(scratch)
    assert result.returncode == BUF_FINDINGS, result.stdout + result.stderr
    assert 'changed name from "request_id" to "request_token"' in result.stdout

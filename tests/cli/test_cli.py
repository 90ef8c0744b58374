"""The `stowage` command against a real server: the forms other teams script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..conftest import ServerThread


def stowage(
    server: ServerThread, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", *args, "--server", server.address],
        capture_output=True,
        text=True,
        timeout=120,
        input=input.decode() if input else None,
    )


def test_demo_runs_and_everything_matches(server: ServerThread) -> None:
    r = stowage(server, "demo")
    assert r.returncode == 0, r.stderr
    table = r.stdout[r.stdout.index("ITEM") :]
    rows = [line for line in table.splitlines()[1:] if line.strip() and not line.startswith("what")]
    assert any(line.startswith("assembly ") for line in rows)
    for line in rows[: rows.index(next(r for r in rows if r.startswith("control numbers"))) + 1]:
        assert line.rstrip().endswith("yes") or "expected:" in line, line


def test_a_failure_is_one_line_with_code_reason_and_message(server: ServerThread) -> None:
    r = stowage(server, "env", "get", "ghost")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: NOT_FOUND ENVIRONMENT_NOT_FOUND: ")


def test_provision_backup_restore_by_command(server: ServerThread, tmp_path: Path) -> None:
    cert = tmp_path / "c.pfx"
    cert.write_bytes(b"\x30\x82fake-pfx")
    r = stowage(
        server,
        "env",
        "provision",
        "cli-env",
        "--edition",
        "premium",
        "--region",
        "north-europe",
        "--set",
        "scale-units=2",
        "--set",
        "access-control-key=k",
        "--set",
        f"ssl-certificate-file={cert}",
        "--set",
        "ssl-certificate-password=p",
    )
    assert r.returncode == 0, r.stderr
    assembly = tmp_path / "A.dll"
    assembly.write_bytes(b"MZ" + bytes(300_000))
    assert (
        stowage(
            server, "artifact", "put", "cli-env", "assembly", "A.dll", "--file", str(assembly)
        ).returncode
        == 0
    )
    r = stowage(server, "backup", "create", "cli-env", "--wait")
    assert r.returncode == 0, r.stderr
    backup = r.stdout.strip().splitlines()[-1]
    assert backup.startswith("environments/cli-env/backups/")

    r = stowage(server, "restore", backup, "--to", "cli-low", "--edition", "basic")
    assert r.returncode == 1
    assert r.stderr.startswith("error: FAILED_PRECONDITION RESTORE_EDITION_TOO_LOW: ")
    r = stowage(server, "restore", backup, "--to", "cli-low", "--edition", "basic", "--dry-run")
    assert r.returncode == 1 and "edition" in r.stdout

    r = stowage(server, "restore", backup, "--to", "cli-copy", "--wait")
    assert r.returncode == 0, r.stderr
    r = stowage(server, "env", "get", "cli-copy", "--json")
    env = json.loads(r.stdout)
    assert env["state"] == "STATE_SUSPENDED" and env["edition"] == "EDITION_PREMIUM"
    assert env["settings"]["sslCertificate"]["set"] is True
    assert "value" not in env["settings"]["sslCertificate"]
    out = tmp_path / "back.dll"
    assert (
        stowage(
            server, "artifact", "get", "cli-copy", "assembly", "A.dll", "--output", str(out)
        ).returncode
        == 0
    )
    assert out.read_bytes() == assembly.read_bytes()

    r = stowage(server, "backup", "list", "--json")
    assert [b["name"] for b in json.loads(r.stdout)["items"]] == [backup]
    r = stowage(server, "op", "list")
    assert r.returncode == 0 and "backup" in r.stdout.lower()


def test_import_and_export_round_trip_a_folder(server: ServerThread, tmp_path: Path) -> None:
    src = tmp_path / "in"
    for kind, names in {
        "partner": ["P1", "P2"],
        "transform": ["T1.xslt"],
        "assembly": ["A.dll"],
    }.items():
        (src / kind).mkdir(parents=True)
        for n in names:
            (src / kind / n).write_bytes(f"{kind}:{n}".encode() * 100)
    assert stowage(server, "env", "provision", "folder-env", "--edition", "basic").returncode == 0
    r = stowage(server, "artifact", "import", "folder-env", str(src))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert stowage(server, "artifact", "export", "folder-env", str(out)).returncode == 0
    got = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    want = {p.relative_to(src): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert got == want


def test_usage_errors_exit_2(server: ServerThread) -> None:
    r = stowage(server, "env", "provision", "x-env", "--edition", "gold")
    assert r.returncode == 2
    r = stowage(server, "env", "provision", "x-env", "--edition", "basic", "--set", "colour=blue")
    assert r.returncode == 2 and "colour" in r.stderr

"""The safe-restore commands of the `stowage` CLI against a real server: the
runtime calls, restore's control-number policy and --into, the checklist."""

from __future__ import annotations

from pathlib import Path

from ..cli.test_cli import stowage
from ..conftest import ServerThread


def ok(server: ServerThread, *args: str) -> str:
    r = stowage(server, *args)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def test_runtime_restore_and_checklist_commands(server: ServerThread, tmp_path: Path) -> None:
    ok(server, "env", "provision", "cli-src", "--edition", "basic", "--set", "access-control-key=k")
    content = tmp_path / "a1.xml"
    content.write_bytes(b"<Agreement/>")
    ok(
        server,
        "artifact",
        "put",
        "cli-src",
        "agreement",
        "A1",
        "--file",
        str(content),
        "--meta",
        "source-ftp-folder=/ftp/a1",
    )
    assert "interchange 1, group 1, transaction set 2" in ok(
        server, "runtime", "control-numbers", "issue", "cli-src", "A1", "--sets", "2"
    )
    ok(server, "runtime", "control-numbers", "issue", "cli-src", "A1")
    assert "A1" in ok(server, "runtime", "control-numbers", "list", "cli-src")
    assert ok(server, "runtime", "as2", "record", "cli-src", "<m1@x>", "--mic", "abc").startswith(
        "recorded"
    )
    assert ok(server, "runtime", "as2", "record", "cli-src", "<m1@x>").startswith("duplicate")
    assert "1 active" in ok(server, "runtime", "batch", "add", "cli-src", "nightly", "msg-1")
    assert "nightly" in ok(server, "runtime", "batch", "list", "cli-src")
    assert "0 active" in ok(server, "runtime", "batch", "release", "cli-src", "nightly")
    ok(server, "runtime", "hybrid-connection", "add", "cli-src", "sql", "sql.local:1433")
    assert "sql.local:1433" in ok(server, "runtime", "hybrid-connection", "list", "cli-src")
    backup = ok(server, "backup", "create", "cli-src", "--wait").strip().splitlines()[-1]
    ok(server, "runtime", "hybrid-connection", "remove", "cli-src", "sql")
    ok(server, "runtime", "control-numbers", "issue", "cli-src", "A1")

    r = stowage(server, "restore", backup, "--to", "cli-dr", "--control-numbers", "advance")
    assert r.returncode == 2 and "--margin" in r.stderr
    plan = ok(
        server, "restore", backup, "--to", "cli-dr", "--control-numbers", "live-max", "--dry-run"
    )
    assert "took the live maximum: cli-src" in plan and "[blocking] ftp-folder-A1" in plan
    out = ok(
        server,
        "restore",
        backup,
        "--to",
        "cli-dr",
        "--control-numbers",
        "advance",
        "--margin",
        "1000",
        "--wait",
    )
    assert "1002/1002/1003" in out  # interchange/group/transaction set
    checklist = ok(server, "env", "checklist", "cli-dr")
    assert "credentials" in checklist and "hybrid-connection-sql" in checklist
    assert "ACKNOWLEDGED" in ok(server, "env", "ack", "cli-dr", "ftp-folder-A1", "--note", "moved")
    assert "checklist:" in ok(server, "env", "get", "cli-dr")

    ok(server, "artifact", "delete", "cli-dr", "agreement", "A1")
    out = ok(server, "restore", backup, "--into", "cli-dr", "--artifact", "agreement/A1", "--wait")
    assert "artifacts: agreements/A1" in out
    r = stowage(server, "restore", backup, "--into", "cli-dr", "--region", "x", "--kind", "partner")
    assert r.returncode == 2 and "not with --into" in r.stderr
    policy = ok(server, "backup", "policy", "set", "cli-dr", "--every", "1d", "--drill-every", "7d")
    assert "drill every 7d" in policy
    assert "drill every 7d" in ok(server, "backup", "status", "cli-dr")

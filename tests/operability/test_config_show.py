"""`stowage config show`: every value with where it came from, secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def config_show(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", "config", "show", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )


def test_sources_and_masking(tmp_path: Path) -> None:
    key = os.urandom(32).hex()
    settings = tmp_path / "stowage.toml"
    settings.write_text(
        'sweep_interval = "5m"\nmetrics_listen = "127.0.0.1:9464"\n'
        'log_format = "json"\nworkers = 2\n'
    )
    variables = {
        "STOWAGE_UPLOAD_LIMIT": "1MiB",
        "STOWAGE_WORKERS": "9",
        "STOWAGE_LOG_FORMAT": "text",
    }
    args = ("--config", str(settings), "--workers", "3", "--key", key)

    r = config_show("--json", *args, env=variables)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["listen"] == {"value": "127.0.0.1:50051", "source": "default"}
    assert shown["shutdown_grace"] == {"value": "30s", "source": "default"}
    assert shown["sweep_interval"] == {"value": "5m", "source": "file"}
    assert shown["metrics_listen"] == {"value": "127.0.0.1:9464", "source": "file"}
    assert shown["upload_limit"] == {"value": "1MiB", "source": "variable"}
    assert shown["log_format"] == {"value": "text", "source": "variable"}  # beats the file
    assert shown["workers"] == {"value": "3", "source": "flag"}  # beats variable and file
    assert shown["key"]["source"] == "flag"
    assert shown["key"]["value"] and set(shown["key"]["value"]) == {"*"}

    table = config_show(*args, env=variables)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines()[1:]}
    assert rows["sweep_interval"] == ["5m", "file"]
    assert rows["key"] == ["********", "flag"]
    # Given as a variable, the key is masked just the same.
    from_variable = config_show("--json", env={"STOWAGE_KEY": key})
    assert json.loads(from_variable.stdout)["key"]["source"] == "variable"
    for output in (r.stdout, table.stdout, from_variable.stdout):
        assert key not in output


def test_a_bad_value_names_where_it_came_from() -> None:
    r = config_show(env={"STOWAGE_SHUTDOWN_GRACE": "soon"})
    assert r.returncode == 2
    assert "STOWAGE_SHUTDOWN_GRACE" in r.stderr and "invalid duration" in r.stderr
    r = config_show("--log-format", "xml", env={})
    assert r.returncode == 2 and "--log-format" in r.stderr

"""A real `stowage serve` as a child process on 127.0.0.1 (port 0), and the
CLI commands the benchmark drives it with."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

STARTUP_TIMEOUT = 60.0


def _environ() -> dict[str, str]:
    # The server and CLI read STOWAGE_* variables; the benchmark sets
    # everything with flags, so that a shell's settings cannot leak in.
    return {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}


class StowageProcess:
    """``stowage serve`` on a data directory; stderr goes to ``log``."""

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        repository: Path | None = None,
        key_file: Path | None = None,
    ) -> None:
        args = [
            sys.executable, "-m", "stowage.cli.main", "serve",
            "--listen", "127.0.0.1:0",
            "--data-dir", str(data_dir),
            "--name-release-period", "0",
            # No content sweep in the middle of a timed phase of a long run.
            "--sweep-interval", "24h",
        ]
        if repository is not None:
            args += ["--repository", str(repository)]
        if key_file is not None:
            args += ["--key-file", str(key_file)]
        self.log = log
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_environ()
        )
        self.address = self._wait_for_port()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_for_port(self) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        out = open(self.log, "a")  # noqa: SIM115 (closed by the copying thread)
        for line in self.proc.stderr:
            out.write(line)
            m = re.search(r"serving on [^ ]+:(\d+)", line)
            if m:
                threading.Thread(target=self._copy, args=(out,), daemon=True).start()
                return f"127.0.0.1:{m.group(1)}"
            if time.monotonic() > deadline:
                break
        out.close()
        self.proc.kill()
        raise RuntimeError(f"stowage serve did not start; see {self.log}")

    def _copy(self, out: object) -> None:
        assert self.proc.stderr is not None
        with out:  # type: ignore[attr-defined]
            for line in self.proc.stderr:
                out.write(line)  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> StowageProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cli(address: str, *args: str) -> str:
    """Runs ``stowage ARGS --server ADDRESS``; returns stdout, raises on failure."""
    p = subprocess.run(
        [sys.executable, "-m", "stowage.cli.main", *args, "--server", address],
        capture_output=True, text=True, env=_environ(),
    )
    if p.returncode != 0:
        raise RuntimeError(f"stowage {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout

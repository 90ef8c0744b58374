"""restic, the tool Stowage is measured against: found (or installed from
Debian's package), and run one command at a time with its memory sampled."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .phase import Timed, Watch

INSTALL_HINT = "sudo apt-get install -y restic   (Debian and Ubuntu: the `restic` package)"


class ResticMissing(Exception):
    pass


def find_or_install() -> str:
    """The restic binary; as root, installs Debian's package when missing."""
    found = shutil.which("restic")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ResticMissing(f"restic is not installed; install it with:\n    {INSTALL_HINT}")
    print("restic is not installed: apt-get install -y restic", flush=True)
    for command in (["apt-get", "install", "-y", "restic"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "restic"]):
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("restic")
        if found:
            return found
    raise ResticMissing(f"apt-get could not install restic; try:\n    {INSTALL_HINT}")


def version(binary: str) -> str:
    return subprocess.run([binary, "version"], capture_output=True, text=True).stdout.strip()


class Repository:
    """One restic repository in a folder, with a cache folder of its own."""

    def __init__(self, binary: str, path: Path, cache: Path, password: str = "bench") -> None:
        self.binary = binary
        self.path = path
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": password,
            "RESTIC_REPOSITORY": str(path),
            "RESTIC_CACHE_DIR": str(cache),
        }

    def _run(self, *args: str) -> str:
        p = subprocess.run([self.binary, *args], env=self.env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"restic {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def init(self) -> None:
        self._run("init", "--quiet")

    def _timed(self, *args: str) -> Timed:
        # Timed from the start of the process to its end: a user of restic
        # waits for all of it (start, key derivation, work). Reaped with
        # wait4 for its CPU time; stderr goes to a file, so no pipe can fill.
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            p = subprocess.Popen(
                [self.binary, *args], env=self.env, stdout=subprocess.DEVNULL, stderr=err
            )
            with Watch(p.pid, started=start) as watch:
                _, status, rusage = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                watch.cpu_s = rusage.ru_utime + rusage.ru_stime
            if p.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"restic {' '.join(args)}: {err.read().decode().strip()}")
        return watch.result

    def backup(self, folder: Path) -> Timed:
        return self._timed("backup", "--quiet", str(folder))

    def restore(self, target: Path) -> Timed:
        return self._timed("restore", "latest", "--quiet", "--target", str(target))

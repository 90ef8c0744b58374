"""A small filesystem mounted at a folder, to fill up on purpose.

tmpfs when running as root (``mount -t tmpfs -o size=...``); otherwise a loop
device with ext4; if neither can be mounted here, NoSmallDisk says why, and
the test that wanted one is skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType


class NoSmallDisk(Exception):
    pass


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise NoSmallDisk(f"{' '.join(args[:3])}: {done.stderr.strip() or done.returncode}")
    return done.stdout


class SmallDisk:
    def __init__(self, mount_point: Path, size_mb: int) -> None:
        self.path = mount_point
        self.size_mb = size_mb
        self.kind = ""
        self._image: Path | None = None

    def __enter__(self) -> SmallDisk:
        if os.geteuid() != 0:
            raise NoSmallDisk("mounting a small filesystem needs root")
        if shutil.which("mount") is None:
            raise NoSmallDisk("no mount command")
        self.path.mkdir(parents=True, exist_ok=True)
        reasons = []
        try:
            _run(
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.size_mb}m,mode=0700",
                "tmpfs",
                str(self.path),
            )
            self.kind = "tmpfs"
            return self
        except NoSmallDisk as e:
            reasons.append(str(e))
        try:
            image = self.path.parent / f"{self.path.name}.img"
            with open(image, "wb") as f:
                f.truncate(self.size_mb << 20)
            _run("mkfs.ext4", "-q", "-F", str(image))
            _run("mount", "-o", "loop", str(image), str(self.path))
            self._image = image
            self.kind = "ext4 on a loop device"
            return self
        except (NoSmallDisk, OSError) as e:
            reasons.append(str(e))
        raise NoSmallDisk("; ".join(reasons))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=60)
        if self._image is not None:
            self._image.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.path).free

"""Which files appeared outside a server's data directory.

The data directory is a folder of a temporary root; everything else under the
root, and the top level of the server's working directory, is listed before
and after, and any new path is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

# What the test process itself may create in the working directory meanwhile.
OWN = {".hypothesis", ".pytest_cache", "__pycache__"}


def _listing(root: Path, skip: Path) -> set[str]:
    out = set()
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if here / d != skip]
        out.update(str(here / name) for name in dirs + files)
    return out


class FilesystemWatch:
    def __init__(self, root: Path, data: Path, cwd: Path | None = None) -> None:
        self.root = root
        self.data = data
        self.cwd = cwd or Path.cwd()
        self.before = self._now()

    def _now(self) -> set[str]:
        top = {str(self.cwd / name) for name in os.listdir(self.cwd) if name not in OWN}
        return _listing(self.root, self.data) | top

    def new_paths(self) -> list[str]:
        return sorted(self._now() - self.before)

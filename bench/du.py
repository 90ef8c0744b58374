"""The size of a folder on disk, as `du` counts it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Usage:
    allocated: int  # blocks on disk (du), what a repository costs
    apparent: int  # bytes in files (du --apparent-size)
    files: int


def usage(root: Path) -> Usage:
    allocated = apparent = count = 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            allocated += st.st_blocks * 512
            apparent += st.st_size
            count += 1
    return Usage(allocated, apparent, count)

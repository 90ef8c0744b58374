"""Emptying the kernel's page cache, so that the next read comes from the disk."""

from __future__ import annotations

import os


def drop() -> bool:
    """Writes dirty pages out, then drops clean ones (root only). False when
    this process may not: the caller then says its figures are warm."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True

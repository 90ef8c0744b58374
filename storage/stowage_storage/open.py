"""Opens the object store a repository URL names."""

from __future__ import annotations

import os
from concurrent.futures import Executor
from urllib.parse import urlparse

from .local import LocalStore
from .store import ObjectStore


class UnsupportedRepository(ValueError):
    pass


def open_store(url: str, executor: Executor | None = None) -> ObjectStore:
    """A path or ``file://`` URL gives the local store."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = parsed.path if parsed.scheme == "file" else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            raise UnsupportedRepository(f"file URLs name a local path, not host {parsed.netloc!r}")
        return LocalStore(os.path.abspath(os.path.expanduser(path)), executor)
    raise UnsupportedRepository(
        f"repository scheme {parsed.scheme!r} is not supported; use a path or file:// URL"
    )

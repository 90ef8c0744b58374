"""The audit log: one JSON line per sensitive call, appended and fsync'd.

Each line holds ``time``, ``caller`` (the token's name), ``role``, ``method``,
``resource`` and ``result`` (the gRPC status code name), plus ``peer`` and,
when the call started one, ``operation``. The file is opened O_APPEND with mode
0600 and every line is written with one write(2) and fsync'd before the call
answers, so a line is never interleaved with another nor lost with a crash
after the client saw the result. Stowage never rewrites or truncates it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("stowage.audit")


class AuditLog:
    def __init__(self, path: str, executor: Executor | None = None) -> None:
        self.path = path
        self._executor = executor
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if os.fstat(self._fd).st_mode & 0o077:
            os.fchmod(self._fd, 0o600)  # it names who did what: for the server's user only

    def _append(self, line: bytes) -> None:
        with self._lock:
            os.write(self._fd, line)
            os.fsync(self._fd)

    async def record(self, **fields: Any) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._append, line)
        except OSError:
            # The call already happened; a full disk must not turn it into an error.
            log.exception("cannot write the audit log %s", self.path)

    def close(self) -> None:
        os.close(self._fd)


def tail(path: str, lines: int) -> list[str]:
    """The last ``lines`` lines of the log (reads it whole: audit logs are small)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        kept = f.read().splitlines()
    return kept[-lines:] if lines > 0 else []


def follow(path: str, offset: int, pause: float = 0.5) -> Iterator[str]:
    """Lines appended after byte ``offset``, as they come; never ends by itself."""
    import time

    pending = b""
    while True:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        if chunk:
            offset += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                yield raw.decode("utf-8", "replace")
        else:
            time.sleep(pause)

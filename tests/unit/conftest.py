"""The engines of one server, assembled on a temporary data directory under a
manual clock, with no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from stowage_server.app import assemble
from stowage_server.clock import ManualClock
from stowage_server.config import load


@pytest.fixture
async def engines(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = ManualClock()
    cfg = load({"data_dir": str(tmp_path), "name_release_period": "1h", "key": ""}, environ={})
    e = await assemble(cfg, clock)
    e.clock = clock  # type: ignore[attr-defined]
    yield e
    await e.close()

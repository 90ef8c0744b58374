"""16 environments backed up over and over at once, 4 restores at a time and a
stream of management writes, for a bounded time: every backup is one instant
of the write log, and nothing deadlocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from .figures import Figures
from .load import run_load
from .scale import SHORT, SOAK, with_seed


def test_load(tmp_path: Path) -> None:
    figures = Figures()
    run_load(tmp_path, with_seed(SHORT), figures)
    assert len(figures.latencies["backup"]) >= SHORT.load_environments
    assert figures.latencies["restore"] and figures.latencies["management write"]
    assert figures.snapshots_checked >= len(figures.latencies["backup"])
    figures.assert_nothing_lost()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_load_soak(tmp_path: Path) -> None:
    figures = Figures()
    run_load(tmp_path, with_seed(SOAK), figures)
    print(figures.table())
    figures.assert_nothing_lost()

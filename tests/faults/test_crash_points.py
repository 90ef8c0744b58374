"""SIGKILL at random moments of backup, restore, prune and copy; after each, a
restart, verify --read-data, and a restore of every earlier backup.

The short run kills a few times per kind; ``--run-slow`` runs the soak (30 per
kind). ``STOWAGE_FAULT_SEED`` picks the random choices, to rerun a run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .crash_points import SCENARIOS, run_crash_points
from .figures import Figures
from .scale import SHORT, SOAK, with_seed


@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_crash_points(kind: str, tmp_path: Path) -> None:
    figures = Figures()
    run_crash_points(kind, tmp_path, with_seed(SHORT), figures)
    assert figures.crash_points[kind] == SHORT.crash_points
    figures.assert_nothing_lost()


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", sorted(SCENARIOS))
def test_crash_points_soak(kind: str, tmp_path: Path) -> None:
    figures = Figures()
    run_crash_points(kind, tmp_path, with_seed(SOAK), figures)
    print(figures.table())
    assert figures.crash_points[kind] == SOAK.crash_points
    figures.assert_nothing_lost()

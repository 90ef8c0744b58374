"""A misbehaving object store under a real server: failures on the nth write,
read, list or delete, transient or for good, lost replies, slow calls and short
writes. Each ends in a retried success or a named failure, never a corrupt
repository or a listable partial backup; short writes are detected."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from .figures import Figures
from .scale import SOAK, with_seed
from .storage_faults import CASES, Case, run_case, run_storage_faults


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_storage_fault(case: Case, tmp_path: Path) -> None:
    figures = Figures()
    outcome = run_case(case, tmp_path, random.Random(case.name), figures)
    assert outcome != "fault never reached"
    figures.assert_nothing_lost()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_storage_faults_soak(tmp_path: Path) -> None:
    figures = Figures()
    run_storage_faults(tmp_path, with_seed(SOAK), figures)
    print(figures.table())
    figures.assert_nothing_lost()

"""Azurite stopped and started again under a server whose repository is in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..azurite import Azurite
from .azurite_faults import run_azurite_faults
from .figures import Figures
from .scale import SHORT, SOAK, with_seed

pytestmark = pytest.mark.azure


def test_azurite_outages(tmp_path: Path, azurite: Azurite) -> None:
    figures = Figures()
    run_azurite_faults(tmp_path, azurite, with_seed(SHORT), figures)
    assert figures.faults_injected
    figures.assert_nothing_lost()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_azurite_outages_soak(tmp_path: Path, azurite: Azurite) -> None:
    figures = Figures()
    run_azurite_faults(tmp_path, azurite, with_seed(SOAK), figures)
    print(figures.table())
    figures.assert_nothing_lost()

"""Full disks, on a small filesystem the test mounts (tmpfs as root, else a
loop device; skipped with the reason when neither can be mounted)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .figures import Figures
from .full_disk import run_full_data_disk, run_full_repository_disk
from .small_disk import NoSmallDisk


@pytest.mark.parametrize(
    "scenario", [run_full_repository_disk, run_full_data_disk], ids=["repository", "data"]
)
def test_full_disk(scenario: Callable[[Path, Figures], None], tmp_path: Path) -> None:
    figures = Figures()
    try:
        scenario(tmp_path, figures)
    except NoSmallDisk as e:
        pytest.skip(f"no small filesystem to fill: {e}")
    assert figures.faults_injected
    figures.assert_nothing_lost()

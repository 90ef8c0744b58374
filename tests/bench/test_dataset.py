"""The benchmark's reference dataset has the shape issue 7 describes (checked
at a tiny scale; the benchmark itself, bench/run, is not part of the suite)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench import dataset
from bench.shape import duplicate_share, fixed_cut, stowage_cut, zstd_ratio

SCALE = 0.05
ARTIFACT_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dataset.Totals]:
    root = tmp_path_factory.mktemp("dataset")
    return root, dataset.generate(root, SCALE)


def test_counts_sizes_and_kinds(generated: tuple[Path, dataset.Totals]) -> None:
    root, totals = generated
    names = dataset.files(root)
    texts = [n for n in names if not n.startswith("assembly/")]
    assemblies = [n for n in names if n.startswith("assembly/")]
    assert (len(texts), len(assemblies)) == dataset.counts(SCALE) == (1000, 2)
    assert {n.split("/")[0] for n in texts} == {k for k, _, _ in dataset.TEXT_KINDS}
    assert all(ARTIFACT_ID.match(n.split("/")[1]) for n in names)
    text_sizes = [(root / n).stat().st_size for n in texts]
    assert all(1024 <= s <= 8192 for s in text_sizes)
    assert 4000 < sum(text_sizes) / len(text_sizes) < 5200  # about 92 MB per 20,000
    asm_sizes = [(root / n).stat().st_size for n in assemblies]
    assert all(2_000_000 <= s <= 15_000_000 for s in asm_sizes)
    assert totals.text_bytes == sum(text_sizes) and totals.assembly_bytes == sum(asm_sizes)
    # A third each of code, tables and shared runs, give or take.
    for part in (totals.code_bytes, totals.table_bytes, totals.shared_bytes):
        assert 0.25 < part / totals.assembly_bytes < 0.42


def test_text_compresses_about_4x(generated: tuple[Path, dataset.Totals]) -> None:
    root, _ = generated
    texts = [root / n for n in dataset.files(root) if not n.startswith("assembly/")]
    assert 3.3 < zstd_ratio(texts) < 5.0


def test_small_chunks_find_the_shared_segments_and_1_mib_blocks_do_not(
    generated: tuple[Path, dataset.Totals],
) -> None:
    root, totals = generated
    assemblies = [root / n for n in dataset.files(root) if n.startswith("assembly/")]
    cdc = duplicate_share(assemblies, stowage_cut())
    fixed = duplicate_share(assemblies, fixed_cut(dataset.MiB))
    # What repeats at most: the shared runs, less one copy of the pool.
    repeatable = (totals.shared_bytes - totals.pool_bytes) / totals.assembly_bytes
    assert cdc > 0.5 * repeatable > 0.05
    assert fixed < 0.2 * cdc


def test_generation_and_changes_are_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    dataset.generate(a, 0.01, seed=3)
    shutil.copytree(a, b)
    assert dataset.change(a, 0, seed=3) == dataset.change(b, 0, seed=3)
    for rel in dataset.files(a):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_a_change_rewrites_one_percent_with_an_assembly(tmp_path: Path) -> None:
    root = tmp_path / "d"
    dataset.generate(root, 0.01)
    before = {rel: (root / rel).read_bytes() for rel in dataset.files(root)}
    changed = dataset.change(root, 0)
    assert len(changed) == round(0.01 * len(before))
    assert sum(rel.startswith("assembly/") for rel in changed) == 1
    for rel, data in before.items():
        assert ((root / rel).read_bytes() != data) == (rel in changed), rel

"""What this machine allows, measured in the same run as the tools: floors
that no backup or restore of the dataset can beat.

- read: every file read once, one thread, after the page cache was dropped
  (when it could be: else warm, and said so);
- stat: lstat of every file (what finding "nothing changed" costs a tool
  that walks a folder);
- SHA-256 of every file on one core (every tool here hashes all of it);
- zstd level 3 on a sample of the files, one core;
- a sequential write with fsync at the end;
- a size reference: the dataset cut as Stowage cuts it (whole files up to
  512 KiB, ~64 KiB content-defined chunks above), each distinct piece
  compressed with zstd level 3 on its own, no metadata.

A figure's floor combines them: a full backup cannot take less than the cold
read, nor less than hashing and compressing everything spread over all cores.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import zstandard

from stowage_storage.chunker import Chunker

from . import pagecache, quiet
from .dataset import MiB, files

ZSTD_SAMPLE = 64 * MiB
WRITE_BYTES = 256 * MiB
_BLOCK = MiB


@dataclass
class Floors:
    dataset_bytes: int
    files: int
    cores: int
    cold: bool
    read_s: float
    stat_s: float
    sha256_s: float
    zstd_mb_s: float
    write_mb_s: float
    size_reference: int

    @property
    def zstd_s(self) -> float:
        return self.dataset_bytes / (self.zstd_mb_s * 1e6)

    def full_backup(self) -> float:
        return max(self.read_s, (self.sha256_s + self.zstd_s) / self.cores)

    def unchanged_backup(self) -> float:
        return self.stat_s

    def changed_backup(self, changed_bytes: int) -> float:
        per_byte = self.sha256_s / self.dataset_bytes + 1 / (self.zstd_mb_s * 1e6)
        return self.stat_s + changed_bytes * per_byte

    def restore(self) -> float:
        return max(self.dataset_bytes / (self.write_mb_s * 1e6), self.sha256_s / self.cores)

    def as_dict(self) -> dict[str, object]:
        return {
            **asdict(self),
            "zstd_s": self.zstd_s,
            "full_backup_floor_s": self.full_backup(),
            "restore_floor_s": self.restore(),
        }


def _read_all(paths: list[Path]) -> float:
    buf = bytearray(_BLOCK)
    start = time.perf_counter()
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    return time.perf_counter() - start


def _sha256_all(paths: list[Path]) -> float:
    buf = bytearray(_BLOCK)
    view = memoryview(buf)
    start = time.perf_counter()
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
    return time.perf_counter() - start


def _stat_all(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        os.lstat(p)
    return time.perf_counter() - start


def _zstd_speed(paths: list[Path], total: int) -> float:
    """MB/s of zstd level 3 over every k-th file (about ZSTD_SAMPLE bytes, in
    the dataset's proportions of text and assemblies)."""
    stride = max(1, math.ceil(total / ZSTD_SAMPLE))
    sample = [p.read_bytes() for p in paths[::stride]]
    compressor = zstandard.ZstdCompressor(level=3)
    start = time.perf_counter()
    for data in sample:
        compressor.compress(data)
    seconds = time.perf_counter() - start
    return sum(len(d) for d in sample) / seconds / 1e6


def _write_speed(scratch: Path, size: int) -> float:
    path = scratch / "floor-write.bin"
    block = os.urandom(_BLOCK)
    start = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        for _ in range(size // _BLOCK):
            f.write(block)
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    os.sync()
    return size / seconds / 1e6


def _size_reference(paths: list[Path]) -> int:
    chunker = Chunker()
    compressor = zstandard.ZstdCompressor(level=3)
    seen: set[bytes] = set()
    total = 0
    for p in paths:
        data = p.read_bytes()
        for c in chunker.split_bytes(data):
            if c.sha256 in seen:
                continue
            seen.add(c.sha256)
            piece = data[c.offset : c.offset + c.length]
            total += min(len(piece), len(compressor.compress(piece)))
    return total


def measure(
    root: Path, scratch: Path, write_bytes: int = WRITE_BYTES, patience: float = 0.0
) -> Floors:
    """Measures every floor on the dataset under ``root``; ``scratch`` is a
    folder on the same disk for the write test. Each timing waits up to
    ``patience`` seconds for a quiet machine first."""
    paths = [root / rel for rel in files(root)]
    total = sum(p.stat().st_size for p in paths)

    def timing(fn: Callable[[], float]) -> float:
        if patience > 0:
            quiet.wait(patience)
        return fn()

    cold = pagecache.drop()
    read_s = timing(lambda: _read_all(paths))
    return Floors(
        dataset_bytes=total,
        files=len(paths),
        cores=os.cpu_count() or 1,
        cold=cold,
        read_s=read_s,
        stat_s=timing(lambda: _stat_all(paths)),
        sha256_s=timing(lambda: _sha256_all(paths)),
        zstd_mb_s=timing(lambda: _zstd_speed(paths, total)),
        write_mb_s=timing(lambda: _write_speed(scratch, write_bytes)),
        size_reference=_size_reference(paths),
    )

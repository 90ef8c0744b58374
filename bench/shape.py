"""What a dataset folder holds, as a backup tool sees it: counts and bytes per
kind, how well zstd level 3 compresses each file, and how many assembly bytes
repeat when cut into ~64 KiB content-defined chunks (as Stowage cuts), ~1 MiB
ones (as restic cuts: 512 KiB to 8 MiB) or fixed 1 MiB blocks.

    .venv/bin/python -m bench.shape DIR
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyfastcdc
import zstandard

from stowage_storage.chunker import Chunker

from .dataset import MiB, files

# A cut: the (offset, length) pieces of a file's bytes.
Cut = Callable[[bytes], Iterable[tuple[int, int]]]


def stowage_cut(average: int = 64 * 1024) -> Cut:
    chunker = Chunker(average=average, threshold=0)
    return lambda data: ((c.offset, c.length) for c in chunker.split_bytes(data))


def restic_like_cut(data: bytes) -> Iterator[tuple[int, int]]:
    # pyfastcdc's average excludes the minimum: 512 KiB + 512 KiB is about 1 MiB.
    cdc = pyfastcdc.FastCDC(512 * 1024, min_size=512 * 1024, max_size=8 * MiB)
    return ((c.offset, c.length) for c in cdc.cut_buf(data))


def fixed_cut(size: int) -> Cut:
    return lambda data: ((o, min(size, len(data) - o)) for o in range(0, len(data), size))


def duplicate_share(paths: Iterable[Path], cut: Cut) -> float:
    """Share of the bytes that lie in chunks already seen (in these files)."""
    seen: set[bytes] = set()
    total = duplicate = 0
    for path in paths:
        data = path.read_bytes()
        total += len(data)
        for offset, length in cut(data):
            digest = hashlib.sha256(data[offset : offset + length]).digest()
            if digest in seen:
                duplicate += length
            else:
                seen.add(digest)
    return duplicate / total if total else 0.0


def zstd_ratio(paths: Iterable[Path], level: int = 3) -> float:
    """Bytes over bytes compressed, each file on its own (as a backup stores it)."""
    compressor = zstandard.ZstdCompressor(level=level)
    raw = packed = 0
    for path in paths:
        data = path.read_bytes()
        raw += len(data)
        packed += len(compressor.compress(data))
    return raw / packed if packed else 0.0


@dataclass
class Shape:
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind: (files, bytes)
    text_zstd_ratio: float = 0.0
    assembly_zstd_ratio: float = 0.0
    duplicate_cdc64k: float = 0.0
    duplicate_cdc1m: float = 0.0
    duplicate_fixed1m: float = 0.0

    def describe(self) -> str:
        kinds = ", ".join(f"{k} {n:,} ({b / 1e6:.1f} MB)" for k, (n, b) in sorted(self.by_kind.items()))
        return (
            f"{kinds}\n"
            f"zstd-3, each file alone: text {self.text_zstd_ratio:.2f}x, "
            f"assemblies {self.assembly_zstd_ratio:.2f}x\n"
            f"assembly bytes in repeated chunks: ~64 KiB CDC {self.duplicate_cdc64k:.1%}, "
            f"~1 MiB CDC {self.duplicate_cdc1m:.1%}, 1 MiB fixed {self.duplicate_fixed1m:.1%}"
        )


def measure(root: Path) -> Shape:
    shape = Shape()
    paths: dict[str, list[Path]] = {}
    for rel in files(root):
        kind = rel.split("/", 1)[0]
        paths.setdefault(kind, []).append(root / rel)
    for kind, ps in paths.items():
        shape.by_kind[kind] = (len(ps), sum(p.stat().st_size for p in ps))
    texts = [p for kind, ps in paths.items() if kind != "assembly" for p in ps]
    assemblies = paths.get("assembly", [])
    shape.text_zstd_ratio = zstd_ratio(texts)
    shape.assembly_zstd_ratio = zstd_ratio(assemblies)
    shape.duplicate_cdc64k = duplicate_share(assemblies, stowage_cut())
    shape.duplicate_cdc1m = duplicate_share(assemblies, restic_like_cut)
    shape.duplicate_fixed1m = duplicate_share(assemblies, fixed_cut(MiB))
    return shape


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", metavar="DIR", type=Path)
    print(measure(parser.parse_args().directory).describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

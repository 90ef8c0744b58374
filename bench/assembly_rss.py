"""Peak memory of the server while it backs up and restores one large assembly,
against restic on the same file in the same run.

    .venv/bin/python bench/assembly_rss.py [--size-mb 200] [--runs 3]

Starts `stowage serve` on a temporary data directory and 127.0.0.1:0, uploads
the assembly (not measured), then backs it up and restores it to a new
environment, sampling the server's resident set size every 10 ms. restic
(Debian package `restic`) backs up and restores the same file, sampled the same
way. Prints medians and writes bench/results/assembly_rss.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from stowage.client import Client

MB = 1 << 20
TARGET_RSS_MB = 200
RESULTS = Path(__file__).resolve().parent / "results"


class PeakSampler:
    """Samples a process tree's RSS in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakSampler:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def make_assembly(path: Path, size: int, seed: int = 42) -> None:
    """Like a real assembly: a third random code, a third tables that compress, a
    third repeated segments."""
    rng = random.Random(seed)
    prefix = b"%08d" % seed
    segment = rng.randbytes(256 * 1024)
    table_row = b"".join(b"%s%08d|ITEM-%06d|%s\n" % (prefix, i, i * 7, b"X" * 40) for i in range(64))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            choice = rng.random()
            if choice < 0.34:
                block = rng.randbytes(1 * MB)
            elif choice < 0.67:
                block = (table_row * (MB // len(table_row) + 1))[:MB]
            else:
                block = (segment * 4)[:MB]
            block = block[: size - written]
            f.write(block)
            written += len(block)


def start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stowage.cli.main", "serve", "--listen", "127.0.0.1:0",
         "--data-dir", str(data), "--name-release-period", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"serving on [^ ]+:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, f"127.0.0.1:{m.group(1)}"
    raise RuntimeError("server did not start")


def measure_stowage(client: Client, pid: int, assembly: Path, run: int, out: dict[str, list[float]]) -> None:
    env = f"bench-{run}"
    client.provision(env, "basic")
    client.put_artifact(env, "assembly", "Big.dll", str(assembly))
    with PeakSampler(pid) as s:
        t = time.perf_counter()
        backup = client.create_backup(env).result().backup
        out["backup_s"].append(time.perf_counter() - t)
    out["backup_rss"].append(s.peak)
    with PeakSampler(pid) as s:
        t = time.perf_counter()
        client.restore(backup.name, f"{env}-restored").result()
        out["restore_s"].append(time.perf_counter() - t)
    out["restore_rss"].append(s.peak)


def measure_restic(restic: str, work: Path, assembly: Path, run: int, out: dict[str, list[float]]) -> None:
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(work / "restic-repo")}
    if run == 0:
        subprocess.run([restic, "init", "--quiet"], env=env, check=True, capture_output=True)
    for phase, args in (
        ("backup", [restic, "backup", "--quiet", str(assembly)]),
        ("restore", [restic, "restore", "latest", "--quiet", "--target", str(work / f"restic-out-{run}")]),
    ):
        t = time.perf_counter()
        p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with PeakSampler(p.pid, 0.005) as s:
            p.wait()
        out[f"{phase}_s"].append(time.perf_counter() - t)
        out[f"{phase}_rss"].append(s.peak)
        if p.returncode != 0:
            raise RuntimeError(f"restic {phase} failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    keys = ("backup_rss", "backup_s", "restore_rss", "restore_s")
    stowage: dict[str, list[float]] = {k: [] for k in (*keys, "idle_rss")}
    restic_bin = shutil.which("restic")
    restic: dict[str, list[float]] | None = {k: [] for k in keys} if restic_bin else None
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        work = Path(tmp)
        proc, address = start_server(work / "stowage-data")
        try:
            with Client(address, timeout=600) as client:
                stowage["idle_rss"].append(psutil.Process(proc.pid).memory_info().rss)
                for run in range(args.runs):
                    # New content every run (a full backup each time), in a fresh
                    # file; the two tools alternate so machine noise hits both.
                    assembly = work / f"Big-{run}.dll"
                    make_assembly(assembly, args.size_mb * MB, seed=run)
                    measure_stowage(client, proc.pid, assembly, run, stowage)
                    if restic is not None and restic_bin is not None:
                        measure_restic(restic_bin, work, assembly, run, restic)
                    assembly.unlink()
        finally:
            proc.terminate()
            proc.wait(60)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    rows = []
    for phase in ("backup", "restore"):
        s_rss = med(stowage[f"{phase}_rss"]) / MB
        s_t = med(stowage[f"{phase}_s"])
        r_rss = med(restic[f"{phase}_rss"]) / MB if restic else None
        r_t = med(restic[f"{phase}_s"]) if restic else None
        rows.append((phase, s_rss, r_rss, s_t, r_t))
    print(f"\n{args.size_mb} MB assembly, {args.runs} runs, medians (idle server RSS "
          f"{med(stowage['idle_rss']) / MB:.0f} MB)\n")
    print(f"{'phase':<8} {'stowage RSS':>12} {'restic RSS':>11} {'ratio':>6} {'target':>8}   "
          f"{'stowage s':>9} {'restic s':>8} {'ratio':>6}")
    for phase, s_rss, r_rss, s_t, r_t in rows:
        rr = f"{s_rss / r_rss:.2f}" if r_rss else "-"
        rt = f"{s_t / r_t:.2f}" if r_t else "-"
        ok = "ok" if s_rss < TARGET_RSS_MB else "MISSED"
        print(f"{phase:<8} {s_rss:>9.0f} MB {(f'{r_rss:.0f} MB' if r_rss else '-'):>11} {rr:>6} "
              f"{'<' + str(TARGET_RSS_MB) + ' MB':>8} {ok:<3} {s_t:>8.2f}s {(f'{r_t:.2f}s' if r_t else '-'):>8} {rt:>6}")
    if restic is None:
        print("\nrestic not found: install Debian's `restic` package for the comparison")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "assembly_rss.json").write_text(
        json.dumps({"size_mb": args.size_mb, "runs": args.runs, "stowage": stowage, "restic": restic,
                    "target_rss_mb": TARGET_RSS_MB}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
    segment = rng.randbytes(256 * 1024)
    table_row = b"".join(b"%08d|ITEM-%06d|%s\n" % (i, i * 7, b"X" * 40) for i in range(64))
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


def measure_stowage(work: Path, assembly: Path, runs: int) -> dict[str, list[float]]:
    data = work / "stowage-data"
    proc, address = start_server(data)
    out: dict[str, list[float]] = {"idle_rss": [], "backup_rss": [], "backup_s": [], "restore_rss": [], "restore_s": []}
    try:
        with Client(address, timeout=600) as client:
            out["idle_rss"].append(psutil.Process(proc.pid).memory_info().rss)
            for run in range(runs):
                env = f"bench-{run}"
                client.provision(env, "basic")
                client.put_artifact(env, "assembly", "Big.dll", str(assembly))
                with PeakSampler(proc.pid) as s:
                    t = time.perf_counter()
                    backup = client.create_backup(env).result().backup
                    out["backup_s"].append(time.perf_counter() - t)
                out["backup_rss"].append(s.peak)
                with PeakSampler(proc.pid) as s:
                    t = time.perf_counter()
                    client.restore(backup.name, f"{env}-restored").result()
                    out["restore_s"].append(time.perf_counter() - t)
                out["restore_rss"].append(s.peak)
                # Fresh content each run: the next backup must store it all again.
                client.delete_environment(env)
                client.delete_environment(f"{env}-restored")
                with open(assembly, "r+b") as f:
                    f.write(os.urandom(64))
    finally:
        proc.terminate()
        proc.wait(60)
    return out


def measure_restic(work: Path, assembly: Path, runs: int) -> dict[str, list[float]] | None:
    restic = shutil.which("restic")
    if restic is None:
        return None
    repo = work / "restic-repo"
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(repo)}
    subprocess.run([restic, "init", "--quiet"], env=env, check=True, capture_output=True)
    out: dict[str, list[float]] = {"backup_rss": [], "backup_s": [], "restore_rss": [], "restore_s": []}
    for run in range(runs):
        with open(assembly, "r+b") as f:
            f.write(os.urandom(64))
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
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        work = Path(tmp)
        assembly = work / "Big.dll"
        make_assembly(assembly, args.size_mb * MB)
        stowage = measure_stowage(work, assembly, args.runs)
        restic = measure_restic(work, assembly, args.runs)

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

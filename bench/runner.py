"""Stowage against restic on the reference dataset of issue 7: how fast each
protects and restores, how little it stores, how little memory it takes.

    bench/run [--quick] [--scale N] [--runs 3] [--scaling] [--profile]

One invocation, at each scale:

1. generates the dataset (bench/dataset.py), starts `stowage serve` on a fresh
   data directory (127.0.0.1, port 0), provisions one environment, imports the
   dataset with `stowage artifact import` and exports it with `stowage
   artifact export` into the folder restic backs up (none of it timed; the
   export is checked byte for byte against the dataset);
2. measures the floors of this machine (bench/floor.py);
3. runs --runs times, each run into a new, empty Stowage repository (a server
   restarted on the same registry with another --repository) and a new restic
   repository, phase by phase, the two tools alternating (which goes first
   flips each run):
   - full backup, page cache dropped right before each tool's backup;
   - backup again, nothing changed;
   - 1% of the files rewritten (bench/dataset.py `change`), re-imported into
     the environment for Stowage (not timed), then a backup;
   - restore: Stowage restores into a fresh server (a new data directory with
     the same master key, over the run's repository) and restic into an empty
     folder; Stowage also restores to a new name on the server that made the
     backup, for information;
   with the repository sizes (du) after the first backup and after the change,
   and peak RSS sampled every 10 ms: the server's during its backups and
   restore, restic's during its commands;
4. prints the medians against the targets and writes
   bench/results/run-scale{N}.json (with --scaling also scaling.json);
   with --scaling, both datasets are prepared first and the runs alternate
   between the scales (the machine's speed drifts over minutes, and the
   growth from one scale to the other should not measure that drift);
5. with --profile, one more run with py-spy on the server, outside the
   medians: summaries in bench/results/profile-scale{N}/.

Fairness, as decided here:
- "Cold" means the page cache is dropped (root only; otherwise the table says
  WARM) right before each tool's full backup: for restic that leaves its
  source folder on disk, for Stowage the server's registry (SQLite, holding
  small artifacts) and content files (assemblies). The server process itself
  stays up with whatever it holds in memory: it is a long-running service,
  while restic starts a process (and derives its key) on every command, which
  is part of its cost as a user sees it.
- Stowage is timed from the CreateBackup (RestoreBackup) call to the end of
  the operation, as a client of the service sees it; restic from process start
  to exit.
- Restore is compared into an empty server, because restic restores into an
  empty folder: a restore to a new name on the server that still holds the
  source environment writes no content (the registry keys content by digest),
  so that figure is shown for information only.
- Phases run after `sync`, so that one phase's writeback is not charged to the
  next, and after a quiet moment on the machine (bench/quiet.py); nothing is
  deleted right before a timed phase (a run's restored copies go at its end,
  the work folder at the end of all).
  Each phase also records the tool's CPU time and how busy other processes
  kept the machine, printed under the table: on a shared 2-core machine wall
  times move with the neighbours.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import psutil

from stowage.client import Client

from . import dataset, floor, pagecache, profile, quiet, report, restic
from .du import usage
from .phase import Timed, Watch
from .server import StowageProcess, cli

RESULTS = Path(__file__).resolve().parent / "results"
ENV = "bench"
QUICK_SCALE = 0.1
# --quick must end within two minutes even on a busy machine.
QUICK_PATIENCE = 5.0


def log(message: str) -> None:
    print(message, flush=True)


def scale_name(scale: float) -> str:
    return f"{scale:g}"


class Bench:
    """One scale: the dataset, the servers and repositories, the runs."""

    def __init__(
        self, scale: float, runs: int, seed: int, restic_bin: str, work: Path, patience: float
    ) -> None:
        self.scale = scale
        self.patience = patience
        self.runs = runs
        self.seed = seed
        self.restic_bin = restic_bin
        self.work = work
        self.source = work / "dataset"
        self.export = work / "export"
        self.data = work / "stowage-data"
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.cold = True
        self.tag = ""  # names the scale in each run's log lines, when scales alternate
        self.setup: dict[str, float] = {}
        # Set for the one extra, profiled run (not counted in the medians).
        self.profile_dir: Path | None = None
        self.py_spy = profile.find()

    # -- setup ------------------------------------------------------------------

    def prepare(self) -> dataset.Totals:
        start = time.perf_counter()
        totals = dataset.generate(self.source, self.scale, self.seed)
        self.setup["generate_s"] = time.perf_counter() - start
        log(f"dataset at scale {scale_name(self.scale)}: {totals.describe()}")
        with StowageProcess(self.data, self.logs / "setup.log") as server:
            with Client(server.address, timeout=600) as client:
                client.provision(ENV, "basic")
            start = time.perf_counter()
            cli(server.address, "artifact", "import", ENV, str(self.source))
            self.setup["import_s"] = time.perf_counter() - start
            start = time.perf_counter()
            cli(server.address, "artifact", "export", ENV, str(self.export))
            self.setup["export_s"] = time.perf_counter() - start
        log(
            f"imported with `stowage artifact import` in {self.setup['import_s']:.1f} s "
            f"({totals.bytes / 1e6 / self.setup['import_s']:.0f} MB/s), exported in "
            f"{self.setup['export_s']:.1f} s (neither timed in the table)"
        )
        self._check_export()
        return totals

    def _check_export(self) -> None:
        names = dataset.files(self.source)
        if names != dataset.files(self.export):
            raise RuntimeError("the export does not hold the files imported")
        for rel in names:
            if not filecmp.cmp(self.source / rel, self.export / rel, shallow=False):
                raise RuntimeError(f"exported {rel} differs from the file imported")

    # -- one run ----------------------------------------------------------------

    def settle(self, cold: bool = False) -> None:
        """Before a timed phase: the previous phase's writes on disk (and with
        ``cold`` the page cache dropped), then a quiet moment on the machine."""
        if cold:
            self.cold = pagecache.drop() and self.cold
        else:
            os.sync()
        if self.patience > 0:
            quiet.wait(self.patience)

    def profiled(self, pid: int, name: str) -> AbstractContextManager[object]:
        """py-spy on the server during a Stowage phase, when profiling."""
        if self.profile_dir is None or self.py_spy is None:
            return nullcontext()
        return profile.Profile(self.py_spy, pid, self.profile_dir / f"{name}.folded")

    def run(self, i: int, totals: dataset.Totals) -> dict[str, Any]:
        order = ("stowage", "restic") if i % 2 == 0 else ("restic", "stowage")
        out: dict[str, Any] = {"order": list(order), "stowage": {}, "restic": {}}
        s, r = out["stowage"], out["restic"]
        repo = self.work / f"stowage-repo-{i}"
        rrepo = restic.Repository(
            self.restic_bin, self.work / f"restic-repo-{i}", self.work / "restic-cache"
        )
        rrepo.init()
        server = StowageProcess(self.data, self.logs / f"run-{i}.log", repository=repo)
        client = Client(server.address, timeout=600)
        try:
            s["idle_rss"] = psutil.Process(server.pid).memory_info().rss
            backups: dict[str, Timed] = {}
            last_backup = ""

            def stowage_backup(name: str) -> Timed:
                nonlocal last_backup
                with self.profiled(server.pid, name), Watch(server.pid) as w:
                    backup = client.create_backup(ENV).result().backup
                if backup.artifact_count != totals.files:
                    raise RuntimeError(f"backup holds {backup.artifact_count} artifacts")
                last_backup = backup.name
                return w.result

            def phase(name: str, cold: bool = False) -> None:
                for tool in order:
                    self.settle(cold)
                    t = stowage_backup(name) if tool == "stowage" else rrepo.backup(self.export)
                    record(out, tool, name, t, i, self.tag)
                    if tool == "stowage":
                        backups[name] = t

            phase("full_backup", cold=True)
            s["repository_bytes"] = usage(repo).allocated
            r["repository_bytes"] = usage(rrepo.path).allocated
            s["repository_apparent_bytes"] = usage(repo).apparent
            r["repository_apparent_bytes"] = usage(rrepo.path).apparent
            phase("unchanged_backup")

            changed = dataset.change(self.export, i, self.seed)
            changes = self.work / f"changes-{i}"
            for rel in changed:
                (changes / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.export / rel, changes / rel)
            cli(server.address, "artifact", "import", ENV, str(changes))
            out["changed_files"] = len(changed)
            out["changed_bytes"] = sum((changes / rel).stat().st_size for rel in changed)
            phase("changed_backup")
            s["added_bytes"] = usage(repo).allocated - s["repository_bytes"]
            r["added_bytes"] = usage(rrepo.path).allocated - r["repository_bytes"]
            s["backup_rss"] = max(t.peak_rss for t in backups.values())
            r["backup_rss"] = max(r[f"{p}_rss"] for p in backups)

            # For information: the same server already holds every content.
            self.settle()
            with self.profiled(server.pid, "restore_same_server"), Watch(server.pid) as w:
                client.restore(last_backup, f"copy-{i}").result()
            record(out, "stowage", "restore_same_server", w.result, i, self.tag)
        finally:
            client.close()
            server.stop()

        restorer = StowageProcess(
            self.work / f"restore-data-{i}",
            self.logs / f"restore-{i}.log",
            repository=repo,
            key_file=self.data / "stowage.key",
        )
        try:
            with Client(restorer.address, timeout=600) as client:
                s["restore_idle_rss"] = psutil.Process(restorer.pid).memory_info().rss
                for tool in order:
                    self.settle()
                    if tool == "stowage":
                        with self.profiled(restorer.pid, "restore"), Watch(restorer.pid) as w:
                            op = client.restore(last_backup, f"restored-{i}").result()
                        if op.restore.artifact_count != totals.files:
                            raise RuntimeError(f"restored {op.restore.artifact_count} artifacts")
                        t = w.result
                    else:
                        target = self.work / f"restic-restore-{i}"
                        t = rrepo.restore(target)
                        restored = sum(len(names) for _, _, names in os.walk(target))
                        if restored != totals.files:
                            raise RuntimeError(f"restic restored {restored} files")
                    record(out, tool, "restore", t, i, self.tag)
        finally:
            restorer.stop()
        # The restored copies are the bulk of a run (at scale 4, 3.4 GB); they
        # go now, and `sync` puts the deletion on disk, well before the next
        # timed phase (which starts with a sync, a cache drop and a quiet wait).
        shutil.rmtree(self.work / f"restore-data-{i}", ignore_errors=True)
        shutil.rmtree(self.work / f"restic-restore-{i}", ignore_errors=True)
        os.sync()
        return out


def record(out: dict[str, Any], tool: str, name: str, t: Timed, run: int, tag: str = "") -> None:
    figures = out[tool]
    figures[f"{name}_s"] = t.seconds
    figures[f"{name}_rss"] = t.peak_rss
    figures[f"{name}_cpu_s"] = t.cpu_s
    figures[f"{name}_others"] = t.others_share
    log(
        f"  {tag}run {run + 1}: {name:<19} {tool:<7} {t.seconds:6.2f} s, CPU {t.cpu_s:6.2f} s, "
        f"peak RSS {t.peak_rss / 1e6:4.0f} MB, others busy {t.others_share:4.0%}"
    )


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def bench_scales(
    scales: list[float],
    runs: int,
    seed: int,
    restic_bin: str,
    work_parent: str | None,
    keep: bool,
    patience: float,
    profile_dirs: list[Path | None],
) -> list[dict[str, Any]]:
    """Each scale's result. With several scales, every dataset is prepared
    first and then their runs alternate (run 1 of each, run 2 of each in the
    other order, ...): the machine's speed drifts over minutes, and growth
    from one scale to the next should not measure the drift."""
    opened: list[tuple[Bench, dataset.Totals, floor.Floors]] = []
    try:
        for scale in scales:
            opened.append(_open_scale(scale, runs, seed, restic_bin, work_parent, patience))
            if len(scales) > 1:
                opened[-1][0].tag = f"x{scale_name(scale)} "
        raws: list[list[dict[str, Any]]] = [[] for _ in scales]
        for i in range(runs):
            order = list(range(len(scales)))
            for k in order if i % 2 == 0 else order[::-1]:
                b, totals, _ = opened[k]
                raws[k].append(b.run(i, totals))
        return [
            _result(b, totals, floors, raw, restic_bin, profile_dir)
            for (b, totals, floors), raw, profile_dir in zip(
                opened, raws, profile_dirs, strict=True
            )
        ]
    finally:
        for b, _, _ in opened:
            if keep:
                log(f"kept {b.work}")
            else:
                shutil.rmtree(b.work, ignore_errors=True)


def _open_scale(
    scale: float, runs: int, seed: int, restic_bin: str, work_parent: str | None, patience: float
) -> tuple[Bench, dataset.Totals, floor.Floors]:
    """A scale's dataset generated, imported and exported, and the machine's floors on it."""
    work = Path(tempfile.mkdtemp(prefix=f"stowage-bench-x{scale_name(scale)}-", dir=work_parent))
    log(f"work folder {work}")
    b = Bench(scale, runs, seed, restic_bin, work, patience)
    try:
        totals = b.prepare()
        floors = floor.measure(b.export, work, patience=patience)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    b.cold = floors.cold and b.cold
    log(
        f"floors: read {floors.read_s:.2f} s ({'cold' if floors.cold else 'WARM'}), "
        f"stat {floors.stat_s:.2f} s, SHA-256 {floors.sha256_s:.2f} s on one core, "
        f"zstd-3 {floors.zstd_mb_s:.0f} MB/s, write+fsync {floors.write_mb_s:.0f} MB/s, "
        f"size reference {floors.size_reference / 1e6:.1f} MB"
    )
    return b, totals, floors


def _result(
    b: Bench,
    totals: dataset.Totals,
    floors: floor.Floors,
    raw: list[dict[str, Any]],
    restic_bin: str,
    profile_dir: Path | None,
) -> dict[str, Any]:
    if profile_dir is not None:
        # One more run under py-spy, after the measured ones: sampling
        # takes CPU, so its figures stay out of the medians.
        log(f"profiled run (not in the medians): py-spy summaries in {profile_dir}")
        profile_dir.mkdir(parents=True, exist_ok=True)
        b.profile_dir = profile_dir
        b.run(b.runs, totals)
        for folded in sorted(profile_dir.glob("*.folded")):
            folded.with_suffix(".txt").write_text(profile.summarize(folded))
    changed_bytes = statistics.median(run["changed_bytes"] for run in raw)
    return derive(
        {
            "scale": b.scale,
            "runs": b.runs,
            "seed": b.seed,
            "cold_cache": b.cold,
            "machine": machine(),
            "restic_version": restic.version(restic_bin),
            "dataset": totals.as_dict(),
            "setup": b.setup,
            "floors": {
                **floors.as_dict(),
                "unchanged_floor_s": floors.unchanged_backup(),
                "changed_floor_s": floors.changed_backup(int(changed_bytes)),
            },
            "raw": raw,
        }
    )


def derive(result: dict[str, Any]) -> dict[str, Any]:
    """Adds the medians against the targets and the CPU table, from the raw
    figures (so that a saved result can be reported again: --report)."""
    rows = report.figures(result["raw"], result["floors"], result["cold_cache"], result["scale"])
    return {
        **result,
        "figures": [f.as_dict() for f in rows],
        "cpu": report.cpu(result["raw"]),
        "_rows": rows,
    }


def write(name: str, result: dict[str, Any], folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=2))
    os.replace(tmp, path)
    return path


def print_result(result: dict[str, Any]) -> None:
    d = result["dataset"]
    log(
        f"\nscale {scale_name(result['scale'])}: {d['files']:,} files, {d['bytes'] / 1e6:.0f} MB; "
        f"median of {result['runs']} run(s); {result['machine']['cores']} cores; "
        f"{result['restic_version']}\n"
    )
    log(report.table(result["_rows"]))
    log(
        "\nCPU time of each tool (the server's, restic's process), and the share of the "
        "machine other\nprocesses and the hypervisor took meanwhile (medians):\n"
    )
    log(report.cpu_table(result["cpu"]))
    failed = [f.label for f in result["_rows"] if f.passed is False]
    log(f"\n{len(failed)} target(s) missed" + (f": {'; '.join(failed)}" if failed else ""))


def report_saved(paths: list[Path]) -> int:
    results = [derive(json.loads(p.read_text())) for p in paths]
    for result in results:
        print_result(result)
    if len(results) == 2:
        small, large = sorted(results, key=lambda r: r["scale"])
        log(f"\ngrowth from scale {scale_name(small['scale'])} to {scale_name(large['scale'])}\n")
        rows = report.growth(small["_rows"], large["_rows"])
        log(report.growth_table(rows, small["scale"], large["scale"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"scale {QUICK_SCALE:g} and one run (under two minutes)",
    )
    parser.add_argument("--scale", type=float, help="dataset size factor (default 1)")
    parser.add_argument("--runs", type=int, help="runs per figure, the median reported (default 3)")
    parser.add_argument(
        "--scaling", action="store_true", help="run at the scale and at 4x it; compare growth"
    )
    parser.add_argument("--seed", type=int, default=dataset.SEED)
    parser.add_argument(
        "--work", metavar="DIR", help="where the work folder goes (on a disk, not tmpfs)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--results",
        metavar="DIR",
        type=Path,
        default=RESULTS,
        help="where the JSON (and profiles) go (default bench/results)",
    )
    parser.add_argument(
        "--patience",
        type=float,
        metavar="SECONDS",
        help="before each timed phase, wait up to this long for a quiet machine "
        f"(default {quiet.PATIENCE:g}, with --quick {QUICK_PATIENCE:g}; 0: never)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one more run with py-spy on the server, summaries in bench/results/profile-scaleN/",
    )
    parser.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        type=Path,
        help="measure nothing: print the tables of saved run-scale*.json results "
        "(two of them: also their growth)",
    )
    args = parser.parse_args(argv)
    if args.report:
        return report_saved(args.report)
    if args.profile and profile.find() is None:
        print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    scale = args.scale if args.scale is not None else (QUICK_SCALE if args.quick else 1.0)
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    patience = args.patience
    if patience is None:
        patience = QUICK_PATIENCE if args.quick else quiet.PATIENCE
    if scale <= 0 or runs < 1:
        parser.error("--scale must be positive and --runs at least 1")
    try:
        restic_bin = restic.find_or_install()
    except restic.ResticMissing as e:
        print(e, file=sys.stderr)
        return 2
    started = time.perf_counter()
    scales = [scale, 4 * scale] if args.scaling else [scale]
    profile_dirs = [
        args.results / f"profile-scale{scale_name(s)}" if args.profile else None for s in scales
    ]
    results = bench_scales(
        scales, runs, args.seed, restic_bin, args.work, args.keep, patience, profile_dirs
    )
    for s, result in zip(scales, results, strict=True):
        path = write(f"run-scale{scale_name(s)}.json", result, args.results)
        print_result(result)
        log(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    if args.scaling:
        rows = report.growth(results[0]["_rows"], results[1]["_rows"])
        log(f"\ngrowth from scale {scale_name(scale)} to {scale_name(4 * scale)}\n")
        log(report.growth_table(rows, scale, 4 * scale))
        path = write(
            "scaling.json",
            {"scales": scales, "runs": runs, "growth": [g.as_dict() for g in rows]},
            args.results,
        )
        log(f"wrote {path}")
    log(f"\ndone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

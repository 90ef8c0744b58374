"""The reliability soak, with figures a user can rerun.

    bench/reliability                 the long soak (about half an hour on 2 cores)
    bench/reliability --short         the short run of the test command
    bench/reliability --seed 7        other random choices (the seed is printed)
    bench/reliability --only crash,load

Runs, on 127.0.0.1 only, each part of tests/faults at the soak's scale:

    crash       SIGKILL at random moments of backup, restore, prune and copy
    storage     a misbehaving object store (failures, lost replies, slow, short writes)
    disk        full disks (repository, data directory) on a small filesystem
    azurite     Azurite stopped and restarted under an Azure repository
    load        16 environments backed up at once, restores and management writes
    requests    random requests to every RPC
    repository  forged records, manifests, keys, index objects and packs

then prints one table (crash points survived, faults injected and survived,
operations under load with p50/p99 latency, fuzz cases run, and what was lost,
which must be nothing) and writes it as JSON to bench/results/reliability.json.
The servers' logs go to bench/results/reliability.log. Exits 1 if anything was
lost or a part could not run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.azurite import Azurite, set_credentials  # noqa: E402
from tests.faults.azurite_faults import run_azurite_faults  # noqa: E402
from tests.faults.crash_points import SCENARIOS, run_crash_points  # noqa: E402
from tests.faults.figures import Figures  # noqa: E402
from tests.faults.full_disk import run_full_data_disk, run_full_repository_disk  # noqa: E402
from tests.faults.hostile_repository import run_hostile_repository  # noqa: E402
from tests.faults.hostile_requests import run_hostile_requests  # noqa: E402
from tests.faults.load import run_load  # noqa: E402
from tests.faults.scale import SHORT, SOAK, Scale  # noqa: E402
from tests.faults.small_disk import NoSmallDisk  # noqa: E402
from tests.faults.storage_faults import run_storage_faults  # noqa: E402

PARTS = ("crash", "storage", "disk", "azurite", "load", "requests", "repository")
RESULTS = ROOT / "bench" / "results"


def run_part(name: str, root: Path, scale: Scale, figures: Figures) -> str:
    """Runs one part; returns '' or why it was skipped."""
    if name == "crash":
        for kind in SCENARIOS:
            say(f"  crash points: {kind}")
            run_crash_points(kind, root / kind, scale, figures)
    elif name == "storage":
        run_storage_faults(root, scale, figures)
    elif name == "disk":
        try:
            run_full_repository_disk(root / "repository", figures)
            run_full_data_disk(root / "data", figures)
        except NoSmallDisk as e:
            return f"no small filesystem to fill: {e}"
    elif name == "azurite":
        azurite = Azurite(root / "azurite")
        saved = {k: v for k, v in os.environ.items() if k.startswith("AZURE_STORAGE_")}
        set_credentials(azurite)
        try:
            run_azurite_faults(root / "run", azurite, scale, figures)
        finally:
            azurite.stop()
            for k in [k for k in os.environ if k.startswith("AZURE_STORAGE_")]:
                del os.environ[k]
            os.environ.update(saved)
    elif name == "load":
        run_load(root, scale, figures)
    elif name == "requests":
        run_hostile_requests(root, scale, figures)
    elif name == "repository":
        run_hostile_repository(root, scale, figures)
    else:
        raise ValueError(name)
    return ""


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--short", action="store_true", help="the short run instead of the soak")
    ap.add_argument("--seed", type=int, help="seed of the random choices")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to run")
    ap.add_argument("--crash-points", type=int, help="crash points per operation kind")
    ap.add_argument("--output", type=Path, default=RESULTS / "reliability.json")
    args = ap.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; parts: {', '.join(PARTS)}")
    scale = SHORT if args.short else SOAK
    if args.seed is not None:
        scale = replace(scale, seed=args.seed)
    if args.crash_points is not None:
        scale = replace(scale, crash_points=args.crash_points)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.output.with_suffix(".log")
    logging.basicConfig(
        filename=log_path,
        filemode="w",
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    figures = Figures()
    durations: dict[str, float] = {}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    say(f"reliability {scale.name} run, seed {scale.seed}, parts {', '.join(parts)}")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="stowage-reliability-") as tmp:
        for name in parts:
            say(f"{name} ...")
            t0 = time.monotonic()
            try:
                why = run_part(name, Path(tmp) / name, scale, figures)
            except Exception as e:  # the harness itself broke: report it, go on
                failed[name] = f"{type(e).__name__}: {e}"
                logging.getLogger("reliability").error(
                    "%s failed:\n%s", name, traceback.format_exc()
                )
                why = ""
            durations[name] = round(time.monotonic() - t0, 1)
            if why:
                skipped[name] = why
            say(f"{name}: {durations[name]:.0f} s{' (skipped: ' + why + ')' if why else ''}")

    table = figures.table()
    print(f"Stowage reliability, {scale.name} run, seed {scale.seed} ({_machine()})")
    print(table)
    for name, seconds in durations.items():
        print(
            f"  {name}: {seconds:.0f} s"
            + (f" (skipped: {skipped[name]})" if name in skipped else "")
        )
    for name, why in failed.items():
        print(f"  {name} COULD NOT RUN: {why}")
    result = {
        "run": scale.name,
        "seed": scale.seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": _machine(),
        "scale": asdict(scale),
        "seconds": durations,
        "skipped": skipped,
        "failed": failed,
        "figures": figures.to_json(),
        "rerun": f"bench/reliability{' --short' if args.short else ''} --seed {scale.seed}"
        + (f" --only {','.join(parts)}" if parts != list(PARTS) else ""),
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
    )
    lost = any(figures.lost.values()) or bool(figures.problems) or bool(failed)
    return 1 if lost else 0


def _machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


if __name__ == "__main__":
    sys.exit(main())

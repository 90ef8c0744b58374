"""How much of everything a reliability run does: the short run of the test
command, or the long soak (``pytest --run-slow tests/faults``, or
``bench/reliability``, which prints the figures).

Every loop of the fault tests is bounded by these counts and times, so each run
stops by itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

MB = 1 << 20


@dataclass(frozen=True)
class Scale:
    name: str
    # Crash points per operation kind (backup, restore, prune, copy).
    crash_points: int
    # Fresh data each crashed backup has to send; at 8 MiB/s (after a burst of
    # one second's worth) it sets how long a backup runs, so how many moments
    # there are to kill it at.
    fresh_bytes: int
    # The part of an environment every backup shares (stored once).
    base_bytes: int
    # Prune: pairs of (kept, dropped) artifacts that end up in the same packs,
    # so prune has live blobs to move out of packs it deletes.
    prune_pairs: int
    prune_pair_bytes: int
    # Load: how long the writers, backups and restores run, and how many.
    load_seconds: float
    load_environments: int
    load_writers: int
    load_restorers: int
    # Hostile input: random requests per RPC, forged repository objects.
    requests_per_rpc: int
    forged_objects: int
    # Storage faults: how many times each fault case is repeated (with other nths).
    fault_rounds: int
    # Azurite outages: which cases (see azurite_faults.CASES).
    azurite_cases: tuple[str, ...]
    seed: int = 20261125


SHORT = Scale(
    name="short",
    crash_points=2,
    fresh_bytes=24 * MB,
    base_bytes=2 * MB,
    prune_pairs=4,
    prune_pair_bytes=3 * MB,
    load_seconds=12.0,
    load_environments=16,
    load_writers=4,
    load_restorers=4,
    requests_per_rpc=8,
    forged_objects=24,
    fault_rounds=1,
    azurite_cases=("backup",),
)

SOAK = Scale(
    name="soak",
    crash_points=30,
    fresh_bytes=32 * MB,
    base_bytes=4 * MB,
    prune_pairs=6,
    prune_pair_bytes=4 * MB,
    load_seconds=240.0,
    load_environments=16,
    load_writers=4,
    load_restorers=4,
    requests_per_rpc=300,
    forged_objects=600,
    fault_rounds=5,
    azurite_cases=("backup", "restore", "restart", "verify"),
)


def with_seed(scale: Scale) -> Scale:
    """``STOWAGE_FAULT_SEED`` picks the random choices of a run, to rerun one."""
    seed = os.environ.get("STOWAGE_FAULT_SEED")
    return replace(scale, seed=int(seed)) if seed else scale

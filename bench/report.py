"""The figures of a run, their targets (issue 7), and the tables printed.

Ratios are Stowage / restic, both measured in the same run on the same
machine, each figure the median of the runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

MB = 1e6
RSS_LIMIT_MB = 200.0
UNCHANGED_SHARE_OF_FULL = 0.10
# Issue 7 allows 10 MB for 1% of the reference dataset (scale 1); 1% of a
# larger dataset is proportionally more, so the limit scales with it.
ADDED_LIMIT_MB = 10.0
SCALE_TIME_GROWTH = 4.4
SCALE_RSS_GROWTH = 1.10


@dataclass
class Figure:
    key: str
    label: str
    unit: str  # "s" or "MB"
    stowage: float | None
    restic: float | None
    target: str
    passed: bool | None  # None: for information, no target
    floor: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.stowage is None or not self.restic:
            return None
        return self.stowage / self.restic

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def figures(
    runs: list[dict[str, Any]], floors: dict[str, Any], cold: bool, scale: float
) -> list[Figure]:
    """The table's rows, from the raw figures of each run."""

    def med(tool: str, key: str, scale: float = 1.0) -> float:
        return median([run[tool][key] for run in runs]) / scale

    cache = "cold cache" if cold else "WARM cache (could not drop it)"
    out: list[Figure] = []

    def timed(key: str, label: str, limit: float, floor: float | None) -> Figure:
        s, r = med("stowage", key), med("restic", key)
        f = Figure(key, label, "s", s, r, f"<= {limit} x restic", s <= limit * r, floor)
        out.append(f)
        return f

    full = timed("full_backup_s", f"full backup, {cache}", 0.6, floors["full_backup_floor_s"])
    unchanged = timed(
        "unchanged_backup_s", "backup, nothing changed", 0.5, floors["unchanged_floor_s"]
    )
    assert full.stowage is not None and unchanged.stowage is not None
    share = unchanged.stowage / full.stowage
    unchanged.target += f"; <= 10% of own full ({share:.0%})"
    unchanged.passed = bool(unchanged.passed) and share <= UNCHANGED_SHARE_OF_FULL
    timed("changed_backup_s", "backup after 1% changed", 0.6, floors["changed_floor_s"])
    added_s, added_r = med("stowage", "added_bytes", MB), med("restic", "added_bytes", MB)
    limit = ADDED_LIMIT_MB * scale
    out.append(
        Figure(
            "added_mb", "repository growth after 1% changed", "MB", added_s, added_r,
            f"<= {limit:g} MB" + ("" if scale == 1 else f" (10 MB x {scale:g})"),
            added_s <= limit,
        )
    )
    timed("restore_s", "restore into an empty server / folder", 0.8, floors["restore_floor_s"])
    out.append(
        Figure(
            "restore_same_server_s", "restore to a new name, same server (info)", "s",
            med("stowage", "restore_same_server_s"), med("restic", "restore_s"),
            "none: content already held", None, floors["restore_floor_s"],
        )
    )
    repo_s, repo_r = med("stowage", "repository_bytes", MB), med("restic", "repository_bytes", MB)
    out.append(
        Figure(
            "repository_mb", "repository after the first backup", "MB", repo_s, repo_r,
            "<= 0.7 x restic", repo_s <= 0.7 * repo_r, floors["size_reference"] / MB,
        )
    )
    for key, label in (("backup_rss", "peak RSS, backups"), ("restore_rss", "peak RSS, restore")):
        s, r = med("stowage", key, MB), med("restic", key, MB)
        out.append(
            Figure(
                f"{key}_mb", label, "MB", s, r, f"< {RSS_LIMIT_MB:g} MB", s < RSS_LIMIT_MB
            )
        )
    return out


def _num(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.1f} MB"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(rows: list[Figure]) -> str:
    head = ("figure", "Stowage", "restic", "ratio", "target", "result", "floor", "S/floor", "r/floor")
    body = []
    for f in rows:
        result = "info" if f.passed is None else ("pass" if f.passed else "FAIL")
        s_floor = f.stowage / f.floor if f.floor and f.stowage is not None else None
        r_floor = f.restic / f.floor if f.floor and f.restic is not None else None
        body.append(
            (
                f.label, _num(f.stowage, f.unit), _num(f.restic, f.unit), _times(f.ratio),
                f.target, result, _num(f.floor, f.unit), _times(s_floor), _times(r_floor),
            )
        )
    return _markdown(head, body)


def _markdown(head: Sequence[str], body: list[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in (head, *body)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(r) for r in body)])


@dataclass
class Growth:
    label: str
    unit: str
    small: float
    large: float
    restic_growth: float | None
    limit: float

    @property
    def growth(self) -> float:
        return self.large / self.small

    @property
    def passed(self) -> bool:
        return self.growth <= self.limit

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "growth": self.growth, "passed": self.passed}


def growth(small: list[Figure], large: list[Figure]) -> list[Growth]:
    """Scale 4S against scale S: times may grow 4.4x, the server's memory 10%."""
    by_small = {f.key: f for f in small}
    out = []
    for f in large:
        g = by_small[f.key]
        if f.key.endswith("_s") and f.passed is not None:
            limit = SCALE_TIME_GROWTH
        elif f.key.endswith("_rss_mb"):
            limit = SCALE_RSS_GROWTH
        else:
            continue
        assert f.stowage is not None and g.stowage is not None
        r = f.restic / g.restic if f.restic and g.restic else None
        out.append(Growth(f.label, f.unit, g.stowage, f.stowage, r, limit))
    return out


def growth_table(rows: list[Growth], small: float, large: float) -> str:
    head = (
        "figure", f"Stowage x{small:g}", f"Stowage x{large:g}", "growth", "restic growth",
        "target", "result",
    )
    body = [
        (
            g.label, _num(g.small, g.unit), _num(g.large, g.unit), f"{g.growth:.2f}",
            _times(g.restic_growth), f"<= {g.limit:g}x", "pass" if g.passed else "FAIL",
        )
        for g in rows
    ]
    return _markdown(head, body)


PHASES = (
    ("full_backup", "full backup"),
    ("unchanged_backup", "backup, nothing changed"),
    ("changed_backup", "backup after 1% changed"),
    ("restore", "restore (empty server / folder)"),
)


def cpu(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per phase: median CPU seconds of each tool (less sensitive than wall
    time to a busy machine) and how busy the rest of the machine was."""
    out = []
    for key, label in PHASES:
        row: dict[str, Any] = {"phase": key, "label": label}
        for tool in ("stowage", "restic"):
            row[f"{tool}_cpu_s"] = median([run[tool][f"{key}_cpu_s"] for run in runs])
            row[f"{tool}_others"] = median([run[tool][f"{key}_others"] for run in runs])
        out.append(row)
    return out


def cpu_table(rows: list[dict[str, Any]]) -> str:
    head = ("phase", "Stowage CPU", "restic CPU", "ratio", "others busy: Stowage", "restic")
    body = [
        (
            r["label"], f"{r['stowage_cpu_s']:.2f} s", f"{r['restic_cpu_s']:.2f} s",
            _times(r["stowage_cpu_s"] / r["restic_cpu_s"] if r["restic_cpu_s"] else None),
            f"{r['stowage_others']:.0%}", f"{r['restic_others']:.0%}",
        )
        for r in rows
    ]
    return _markdown(head, body)

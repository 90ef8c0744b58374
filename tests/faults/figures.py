"""The figures of a reliability run: what was done to the server, what it
survived, and what was lost (which must be nothing).

Scenarios record here instead of stopping at the first problem, so a soak
reports everything it saw; tests then assert that ``problems`` is empty and the
loss counters are zero.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Figures:
    # Crash points: by operation kind, and what the killed operation became.
    crash_points: Counter[str] = field(default_factory=Counter)
    crash_outcomes: Counter[str] = field(default_factory=Counter)
    crash_phases: Counter[str] = field(default_factory=Counter)
    # Storage faults: per case, how many were injected, and how each ended.
    faults_injected: Counter[str] = field(default_factory=Counter)
    fault_outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # Load: latencies in seconds by kind of call, and snapshots checked.
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    snapshots_checked: int = 0
    # Hostile input.
    fuzz_cases: Counter[str] = field(default_factory=Counter)
    fuzz_codes: Counter[str] = field(default_factory=Counter)
    # The audits: what was checked after every fault.
    verifies: int = 0
    verifies_ok: int = 0
    restores_compared: int = 0
    # What must stay zero.
    lost_backups: int = 0
    corrupt_repositories: int = 0
    listable_partial_backups: int = 0
    inconsistent_snapshots: int = 0
    stalled_operations: int = 0
    bad_statuses: int = 0
    server_stops: int = 0
    files_outside: int = 0
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def problem(self, counter: str, message: str) -> None:
        """Counts a broken promise (``counter`` is one of the must-be-zero fields)."""
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            self.problems.append(message)

    def latency(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.latencies[kind].append(seconds)

    def fault(self, case: str, outcome: str, injected: int = 1) -> None:
        with self._lock:
            self.faults_injected[case] += injected
            self.fault_outcomes[case][outcome] += 1

    @property
    def lost(self) -> dict[str, int]:
        return {
            "lost backups": self.lost_backups,
            "corrupt repositories": self.corrupt_repositories,
            "listable partial backups": self.listable_partial_backups,
            "inconsistent snapshots": self.inconsistent_snapshots,
            "stalled operations (deadlock)": self.stalled_operations,
            "UNKNOWN or INTERNAL answers": self.bad_statuses,
            "server stopped serving": self.server_stops,
            "files written outside the data directory": self.files_outside,
        }

    def assert_nothing_lost(self) -> None:
        assert not self.problems, "\n".join(self.problems[:20])
        assert not any(self.lost.values()), self.lost

    def to_json(self) -> dict[str, Any]:
        return {
            "crash_points": dict(self.crash_points),
            "crash_outcomes": dict(self.crash_outcomes),
            "crash_phases": dict(self.crash_phases),
            "faults_injected": dict(self.faults_injected),
            "fault_outcomes": {k: dict(v) for k, v in self.fault_outcomes.items()},
            "load": {
                kind: {
                    "count": len(v),
                    "p50_seconds": round(percentile(v, 50), 4),
                    "p99_seconds": round(percentile(v, 99), 4),
                }
                for kind, v in sorted(self.latencies.items())
            },
            "snapshots_checked": self.snapshots_checked,
            "fuzz_cases": dict(self.fuzz_cases),
            "fuzz_codes": dict(self.fuzz_codes),
            "verifies": self.verifies,
            "verifies_ok": self.verifies_ok,
            "restores_compared": self.restores_compared,
            "lost": self.lost,
            "problems": list(self.problems),
        }

    def summary(self) -> list[tuple[str, str, str]]:
        """The headline rows: one per promise."""
        rows: list[tuple[str, str, str]] = []
        if self.crash_points:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.crash_points.items()))
            rows.append(
                ("crash points survived", "", f"{sum(self.crash_points.values())}  ({kinds})")
            )
        if self.faults_injected:
            ends: Counter[str] = Counter()
            for outcomes in self.fault_outcomes.values():
                for outcome, n in outcomes.items():
                    ends[_end_kind(outcome)] += n
            ended = ", ".join(f"{k} {n}" for k, n in sorted(ends.items()))
            rows.append(
                (
                    "faults injected and survived",
                    "",
                    f"{sum(self.faults_injected.values())} in {sum(ends.values())} runs of "
                    f"{len(self.faults_injected)} cases  ({ended})",
                )
            )
        for kind, v in sorted(self.latencies.items()):
            rows.append(
                (
                    "operations under load",
                    kind,
                    f"{len(v)}  p50 {percentile(v, 50):.3f} s  p99 {percentile(v, 99):.3f} s",
                )
            )
        if self.snapshots_checked:
            rows.append(
                ("snapshots checked against the write log", "", str(self.snapshots_checked))
            )
        fuzz: Counter[str] = Counter()
        for kind, n in self.fuzz_cases.items():
            fuzz[
                "forged repository objects" if kind.startswith("forged") else "random requests"
            ] += n
        for kind, n in sorted(fuzz.items()):
            rows.append(("fuzz cases run", kind, str(n)))
        rows.append(
            ("verify --read-data after faults", "", f"{self.verifies} ({self.verifies_ok} ok)")
        )
        rows.append(("backups restored and compared", "", str(self.restores_compared)))
        for name, n in self.lost.items():
            rows.append(("LOST", name, str(n)))
        return rows

    def details(self) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        for kind, n in sorted(self.crash_points.items()):
            outcomes = ", ".join(
                f"{o.split(':', 1)[1]} {c}"
                for o, c in sorted(self.crash_outcomes.items())
                if o.startswith(kind + ":")
            )
            rows.append(("crash points", kind, f"{n}  ({outcomes})"))
        for phase, n in sorted(self.crash_phases.items()):
            rows.append(("killed in phase", phase, str(n)))
        for case, n in sorted(self.faults_injected.items()):
            outcomes = ", ".join(f"{o} {c}" for o, c in sorted(self.fault_outcomes[case].items()))
            rows.append(("fault", case, f"{n}  ({outcomes})"))
        for kind, n in sorted(self.fuzz_cases.items()):
            rows.append(("fuzz cases", kind, str(n)))
        if self.fuzz_codes:
            codes = ", ".join(f"{c} {n}" for c, n in self.fuzz_codes.most_common())
            rows.append(("fuzz answers", "", codes))
        return rows

    def table(self) -> str:
        lines = _format(self.summary())
        details = self.details()
        if details:
            lines += ["", "details:"] + _format(details)
        if self.problems:
            lines.append("")
            lines.append(f"{len(self.problems)} problem(s):")
            lines.extend(f"  {p}" for p in self.problems[:50])
        return "\n".join(lines)


def _end_kind(outcome: str) -> str:
    if outcome.startswith("failed"):
        return "named failure"
    if outcome in ("succeeded", "retried, succeeded"):
        return "success"
    if outcome == "detected":
        return "short write detected"
    return outcome


def _format(rows: list[tuple[str, str, str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() for a, b, c in rows]

"""Control-number reconciliation on restore (R8).

A restored agreement that keeps the backup's EDI control numbers may issue
numbers a live environment has already sent to the same partners: duplicates
that partners reject or, worse, silently drop. The policy decides what the
restored counters are:

- KEEP (the default): the backup's values; warns for every agreement that a
  matching live environment has issued past.
- LIVE_MAX: for each counter, the higher of the backup's value and that of
  every matching live environment.
- ADVANCE: the backup's values plus a margin; warns where a live environment
  is still ahead.

Partners see numbers per trading relationship, not per environment, so a live
agreement matches when its id and its "host-partner" and "guest-partner"
metadata equal the backed-up agreement's (a missing entry equals only a missing
entry). Counters (interchange, group, transaction set) are taken one by one.
Sandboxes of restore drills are never live.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import manifest_pb2 as mf_pb

from . import names
from .database import Database
from .errors import Collected
from .registry import ControlNumberRecord

Policy = bk_pb.ControlNumberPolicy
KEEP = bk_pb.CONTROL_NUMBER_POLICY_KEEP
LIVE_MAX = bk_pb.CONTROL_NUMBER_POLICY_LIVE_MAX
ADVANCE = bk_pb.CONTROL_NUMBER_POLICY_ADVANCE
HOST, GUEST = "host-partner", "guest-partner"
MAX_MARGIN = 1_000_000_000
W = bk_pb.RestoreWarning

Counters = tuple[int, int, int]  # interchange, group, transaction set
Identity = tuple[str, str, str]  # agreement id, host partner, guest partner


def identity(agreement_id: str, metadata: Mapping[str, str]) -> Identity:
    return agreement_id, metadata.get(HOST, ""), metadata.get(GUEST, "")


def validate(req: bk_pb.RestoreBackupRequest, errors: Collected) -> None:
    if req.control_number_policy not in bk_pb.ControlNumberPolicy.values():
        errors.add("control_number_policy", "unknown policy")
    if req.control_number_policy == ADVANCE:
        if not 1 <= req.control_number_margin <= MAX_MARGIN:
            errors.add("control_number_margin", f"must be 1 to {MAX_MARGIN} with ADVANCE")
    elif req.control_number_margin:
        errors.add("control_number_margin", "only with CONTROL_NUMBER_POLICY_ADVANCE")


@dataclass(frozen=True)
class LiveCounters:
    """A live agreement that has issued numbers."""

    environment: str
    counters: Counters


class LiveAgreements:
    """Reads the counters of live agreements by partner identity (blocking)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def by_identity(self, exclude_env: str = "") -> dict[Identity, list[LiveCounters]]:
        out: dict[Identity, list[LiveCounters]] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT e.name, a.id, a.metadata, c.interchange, c.grp, c.transaction_set "
                "FROM artifacts a JOIN environments e ON e.uid = a.env_uid "
                "JOIN control_numbers c ON c.env_uid = a.env_uid AND c.agreement = a.id "
                "WHERE e.deleted_time IS NULL AND a.kind = ? AND e.name != ? AND e.name NOT GLOB ? "
                "ORDER BY e.name",
                (env_pb.ARTIFACT_KIND_AGREEMENT, exclude_env, names.SANDBOX_GLOB),
            ).fetchall()
        for env_name, agreement, metadata, *counters in rows:
            key = identity(agreement, json.loads(metadata))
            out.setdefault(key, []).append(LiveCounters(env_name, tuple(counters)))  # type: ignore[arg-type]
        return out


@dataclass
class Reconciled:
    """What a restore writes and reports for the control numbers."""

    records: list[ControlNumberRecord] = field(default_factory=list)
    changes: list[bk_pb.ControlNumberChange] = field(default_factory=list)
    warnings: list[bk_pb.RestoreWarning] = field(default_factory=list)


def reconcile(
    manifest: mf_pb.BackupManifest,
    agreements: dict[str, dict[str, str]],
    live: dict[Identity, list[LiveCounters]],
    policy: int,
    margin: int,
    target: str,
    now: float,
) -> Reconciled:
    """The counters of every restored agreement (``agreements``: id -> its
    metadata as restored) under ``policy``."""
    policy = policy or KEEP
    backed_up = {c.agreement.rsplit("/", 1)[-1]: c for c in manifest.control_numbers}
    out = Reconciled()
    for agreement in sorted(agreements):
        before = backed_up.get(agreement)
        before_counters: Counters = (
            (before.interchange, before.group, before.transaction_set) if before else (0, 0, 0)
        )
        matches = live.get(identity(agreement, agreements[agreement]), [])
        if before is None and not matches:
            continue
        live_max = _max([m.counters for m in matches]) if matches else None
        after = before_counters
        if policy == LIVE_MAX and live_max is not None:
            after = _max([before_counters, live_max])
        elif policy == ADVANCE:
            after = (
                before_counters[0] + margin,
                before_counters[1] + margin,
                before_counters[2] + margin,
            )
        ahead = [m for m in matches if _ahead(m.counters, after)]
        source = f"environments/{_source_env(manifest)}/agreements/{agreement}"
        restored = names.artifact_name(target, env_pb.ARTIFACT_KIND_AGREEMENT, agreement)
        change = bk_pb.ControlNumberChange(
            agreement=restored,
            policy=policy,
            before=_message(source, before_counters, before.update_time if before else None),
            after=_message(restored, after, None),
            live_environments=[names.environment_name(m.environment) for m in matches],
            reason=_reason(policy, margin, before_counters, after, matches, ahead),
        )
        if live_max is not None:
            change.live_max.CopyFrom(_message("", live_max, None))
        out.changes.append(change)
        if any(after):
            # Unchanged counters keep their time; changed ones changed now.
            when = (
                before.update_time.ToNanoseconds() / 1e9
                if before and after == before_counters
                else now
            )
            out.records.append(ControlNumberRecord(agreement, *after, when))
        for m in ahead:
            out.warnings.append(
                W(
                    kind=W.KIND_CONTROL_NUMBERS,
                    subject=restored,
                    message=(
                        f"live environment {m.environment} has issued {_text(m.counters)}, past the "
                        f"restored {_text(after)}: numbers may duplicate; restore with "
                        "control-number policy LIVE_MAX or ADVANCE"
                    ),
                )
            )
    return out


def _source_env(manifest: mf_pb.BackupManifest) -> str:
    return manifest.backup.split("/")[1]


def _max(counters: list[Counters]) -> Counters:
    return (
        max(c[0] for c in counters),
        max(c[1] for c in counters),
        max(c[2] for c in counters),
    )


def _ahead(live: Counters, restored: Counters) -> bool:
    return any(a > b for a, b in zip(live, restored, strict=True))


def _text(c: Counters) -> str:
    return f"interchange {c[0]}, group {c[1]}, transaction set {c[2]}"


def _message(agreement: str, c: Counters, when: object) -> env_pb.ControlNumbers:
    out = env_pb.ControlNumbers(
        agreement=agreement, interchange=c[0], group=c[1], transaction_set=c[2]
    )
    if when is not None:
        out.update_time.CopyFrom(when)  # type: ignore[arg-type]
    return out


def _reason(
    policy: int,
    margin: int,
    before: Counters,
    after: Counters,
    matches: list[LiveCounters],
    ahead: list[LiveCounters],
) -> str:
    behind = (
        ": numbers may duplicate ("
        + ", ".join(f"{m.environment} is at {_text(m.counters)}" for m in ahead)
        + ")"
    )
    if policy == LIVE_MAX:
        if after == before:
            return "kept the backup's counters: no matching live environment is past them"
        raised = sorted({m.environment for m in matches if _ahead(m.counters, before)})
        return f"took the live maximum: {', '.join(raised)} had issued past the backup"
    if policy == ADVANCE:
        text = f"advanced the backup's counters by {margin}"
        return text + (behind if ahead else "")
    if ahead:
        return "kept the backup's counters" + behind
    return "kept the backup's counters" + (
        ": no matching live environment is past them" if matches else ""
    )

"""Diffs: what changed from a backup to another backup or to a live
environment, artifact by artifact and setting by setting.

Secrets are compared by their keyed fingerprints (SecretBox: equal values have
equal fingerprints, and a value cannot be recovered from one). Neither values
nor fingerprints leave the server: a changed secret reads "set" on both sides.
Runtime state (control numbers, AS2 records) is not compared: it moves with
every message and would drown what an operator changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from stowage.v1 import common_pb2
from stowage.v1 import diffs_pb2 as df_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage_storage.crypto import DecryptionFailed

from . import manifest as mf
from . import names
from .editions import edition_word
from .errors import DataLoss, InvalidArgument
from .restore import Loaded, RestoreEngine
from .settings import PLAIN_FIELDS, SECRET_FIELDS, SecretBox

Change = df_pb.Change
Key = tuple[int, str]  # artifact kind, id


@dataclass
class Side:
    """One side of a diff, reduced to what is compared."""

    artifacts: dict[Key, tuple[str, int, dict[str, str]]] = field(default_factory=dict)
    # edition, region and settings.{field}: (shown value, compared value)
    values: dict[str, tuple[str, str]] = field(default_factory=dict)


class DiffEngine:
    def __init__(self, restores: RestoreEngine) -> None:
        self.restores = restores
        self.registry = restores.registry

    async def diff(self, req: df_pb.DiffBackupRequest) -> df_pb.DiffBackupResponse:
        bname = names.parse_backup(req.backup, "backup")
        which = req.WhichOneof("other")
        if which is None:
            raise InvalidArgument("other", "give other_backup or live_environment")
        base = _backup_side(await self.restores.load(bname), self.registry.box)
        if which == "other_backup":
            other_name = names.parse_backup(req.other_backup, "other_backup")
            other = _backup_side(await self.restores.load(other_name), self.registry.box)
            other_text = str(other_name)
        else:
            env_id = names.parse_environment(req.live_environment, "live_environment")
            snap = await self.restores._run(lambda: self.registry.snapshot(env_id))
            other = Side(
                artifacts={
                    (a.kind, a.artifact_id): (a.sha256.hex(), a.size, json.loads(a.metadata_json))
                    for a in snap.artifacts
                },
                values=_values(
                    snap.env.edition,
                    snap.env.region,
                    env_pb.EnvironmentSettings.FromString(snap.env.settings),
                    lambda secret: secret.fingerprint,
                ),
            )
            other_text = names.environment_name(env_id)
        return df_pb.DiffBackupResponse(
            backup=str(bname), other=other_text, changes=changes(base, other)
        )


def _backup_side(loaded: Loaded, box: SecretBox) -> Side:
    m = loaded.manifest
    try:
        settings = mf.open_settings(loaded.data_key, m.backup, m.settings)
    except DecryptionFailed as e:
        raise DataLoss(f"the secrets of {m.backup} do not decrypt: {e}") from e
    return Side(
        artifacts={
            (i.kind, i.id): (bytes(i.sha256).hex(), i.size_bytes, dict(i.metadata))
            for i in loaded.items
        },
        values=_values(
            m.edition,
            m.region,
            settings,
            lambda secret: box.fingerprint(secret.value) if secret.value else "",
        ),
    )


def _values(
    edition: int,
    region: str,
    settings: env_pb.EnvironmentSettings,
    fingerprint: Callable[[common_pb2.Secret], str],
) -> dict[str, tuple[str, str]]:
    out = {"edition": (edition_word(edition), str(edition)), "region": (region, region)}
    for name in PLAIN_FIELDS:
        value = str(getattr(settings, name) or "")
        out[f"settings.{name}"] = (value, value)
    for name in SECRET_FIELDS:
        compared = fingerprint(getattr(settings, name)) if settings.HasField(name) else ""
        out[f"settings.{name}"] = ("set" if compared else "", compared)
    return out


def changes(base: Side, other: Side) -> list[Change]:
    """Every difference from ``base`` to ``other``: artifacts in (kind, id)
    order, then edition, region and settings in field order."""
    out = []
    for key in sorted(set(base.artifacts) | set(other.artifacts)):
        kind, artifact_id = key
        subject = names.artifact_label(kind, artifact_id)
        before, after = base.artifacts.get(key), other.artifacts.get(key)
        if before is None:
            out.append(Change(type=Change.TYPE_ADDED, subject=subject, artifact_kind=kind))
        elif after is None:
            out.append(Change(type=Change.TYPE_REMOVED, subject=subject, artifact_kind=kind))
        else:
            fields = _artifact_fields(before, after)
            if fields:
                out.append(
                    Change(
                        type=Change.TYPE_CHANGED, subject=subject, artifact_kind=kind, fields=fields
                    )
                )
    for subject, (shown, compared) in base.values.items():
        other_shown, other_compared = other.values[subject]
        if compared == other_compared:
            continue
        secret = subject.removeprefix("settings.") in SECRET_FIELDS
        change_type = (
            Change.TYPE_ADDED
            if secret and not compared
            else Change.TYPE_REMOVED
            if secret and not other_compared
            else Change.TYPE_CHANGED
        )
        out.append(
            Change(
                type=change_type,
                subject=subject,
                fields=[
                    df_pb.FieldChange(field="value", before=shown, after=other_shown, secret=secret)
                ],
            )
        )
    return out


def _artifact_fields(
    before: tuple[str, int, dict[str, str]], after: tuple[str, int, dict[str, str]]
) -> list[df_pb.FieldChange]:
    out = []
    if before[0] != after[0]:
        out.append(df_pb.FieldChange(field="sha256", before=before[0], after=after[0]))
    if before[1] != after[1]:
        out.append(
            df_pb.FieldChange(field="size_bytes", before=str(before[1]), after=str(after[1]))
        )
    for key in sorted(set(before[2]) | set(after[2])):
        if before[2].get(key) != after[2].get(key):
            out.append(
                df_pb.FieldChange(
                    field=f"metadata.{key}",
                    before=before[2].get(key, ""),
                    after=after[2].get(key, ""),
                )
            )
    return out

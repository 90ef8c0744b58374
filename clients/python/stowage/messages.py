"""The request messages of the client's calls, built once for ``Client`` and
``AsyncClient`` so that both send exactly the same thing.

Writes that the API makes retry-safe with a ``request_id`` always get one here
(a random UUID unless the caller chose it): gRPC then retries them like reads.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator

from google.protobuf import duration_pb2, field_mask_pb2

from stowage.v1 import backup_policy_pb2 as pol_pb
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import diffs_pb2 as df_pb
from stowage.v1 import drills_pb2 as dr_pb
from stowage.v1 import environments_pb2 as env_pb
from stowage.v1 import maintenance_pb2 as mt_pb
from stowage.v1 import operations_pb2 as ops_pb

from .names import (
    COLLECTIONS,
    KINDS,
    artifact_kind,
    artifact_name,
    edition,
    environment_name,
    policy_name,
)

CONTROL_NUMBER_POLICIES: dict[str, bk_pb.ControlNumberPolicy.ValueType] = {
    "keep": bk_pb.CONTROL_NUMBER_POLICY_KEEP,
    "live-max": bk_pb.CONTROL_NUMBER_POLICY_LIVE_MAX,
    "advance": bk_pb.CONTROL_NUMBER_POLICY_ADVANCE,
}

# Content travels in 1 MiB pieces: big enough to keep the stream busy, well
# under the server's 4 MiB per message.
PIECE = 1 << 20
PAGE_SIZE = 500
ALL_ENVIRONMENTS = "environments/-"

Content = bytes | str | os.PathLike[str]


def request_id(given: str = "") -> str:
    return given or str(uuid.uuid4())


def provision(
    env: str,
    edition_: str | int,
    region: str,
    settings: env_pb.EnvironmentSettings | None,
    request_id_: str,
) -> env_pb.ProvisionEnvironmentRequest:
    return env_pb.ProvisionEnvironmentRequest(
        environment_id=env,
        environment=env_pb.Environment(edition=edition(edition_), region=region, settings=settings),
        request_id=request_id(request_id_),
    )


def get_environment(env: str, full: bool) -> env_pb.GetEnvironmentRequest:
    view = env_pb.ENVIRONMENT_VIEW_FULL if full else env_pb.ENVIRONMENT_VIEW_BASIC
    return env_pb.GetEnvironmentRequest(name=environment_name(env), view=view)


def update_environment(
    env: str,
    settings: env_pb.EnvironmentSettings | None,
    setting_fields: Iterable[str],
    edition_: str | int | None,
    region: str | None,
) -> env_pb.UpdateEnvironmentRequest:
    e = env_pb.Environment(name=environment_name(env), settings=settings)
    paths = [f"settings.{f}" for f in setting_fields]
    if edition_ is not None:
        e.edition = edition(edition_)
        paths.append("edition")
    if region is not None:
        e.region = region
        paths.append("region")
    return env_pb.UpdateEnvironmentRequest(
        environment=e, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


def put_artifact(
    env: str,
    kind: str | int,
    artifact_id: str,
    content: Content,
    metadata: dict[str, str] | None,
) -> Iterator[env_pb.PutArtifactRequest]:
    yield env_pb.PutArtifactRequest(
        artifact=env_pb.Artifact(
            name=artifact_name(env, kind, artifact_id), metadata=metadata or {}
        )
    )
    for piece in pieces(content):
        yield env_pb.PutArtifactRequest(data=piece)


def list_artifacts(env: str, kind: str | int, page_token: str) -> env_pb.ListArtifactsRequest:
    return env_pb.ListArtifactsRequest(
        parent=environment_name(env),
        kind=artifact_kind(kind),
        page_token=page_token,
        page_size=1000,
    )


def directory_files(folder: str) -> list[tuple[str, str, str]]:
    """``(kind, artifact id, path)`` of every ``folder/{kind}/{artifact}`` file, sorted."""
    files = []
    for kind in sorted(os.listdir(folder)):
        path = os.path.join(folder, kind)
        if not os.path.isdir(path):
            continue
        if kind not in KINDS:
            raise ValueError(f"{path}: not an artifact kind ({', '.join(KINDS)})")
        for name in sorted(os.listdir(path)):
            if os.path.isfile(os.path.join(path, name)):
                files.append((kind, name, os.path.join(path, name)))
    return files


def import_directory(
    env: str, files: list[tuple[str, str, str]]
) -> Iterator[env_pb.ImportArtifactsRequest]:
    # A small artifact's header and content travel in one message.
    for kind, name, path in files:
        header = env_pb.Artifact(name=artifact_name(env, kind, name))
        first = True
        for piece in pieces(path):
            yield env_pb.ImportArtifactsRequest(artifact=header if first else None, data=piece)
            first = False
        if first:
            yield env_pb.ImportArtifactsRequest(artifact=header)


def issue_control_numbers(
    env: str, agreement_id: str, transaction_sets: int
) -> env_pb.IssueControlNumbersRequest:
    return env_pb.IssueControlNumbersRequest(
        agreement=artifact_name(env, "agreement", agreement_id),
        transaction_sets=transaction_sets,
    )


def create_hybrid_connection(
    env: str, connection_id: str, endpoint: str
) -> env_pb.CreateHybridConnectionRequest:
    return env_pb.CreateHybridConnectionRequest(
        parent=environment_name(env),
        hybrid_connection_id=connection_id,
        hybrid_connection=env_pb.HybridConnection(endpoint=endpoint),
    )


def create_backup(
    env: str, allow_batch_loss: bool, quiesce: bool, request_id_: str
) -> bk_pb.CreateBackupRequest:
    return bk_pb.CreateBackupRequest(
        parent=environment_name(env),
        allow_batch_loss=allow_batch_loss,
        quiesce=quiesce,
        request_id=request_id(request_id_),
    )


def list_backups(env: str | None, page_token: str) -> bk_pb.ListBackupsRequest:
    parent = environment_name(env) if env else ALL_ENVIRONMENTS
    return bk_pb.ListBackupsRequest(parent=parent, page_token=page_token, page_size=1000)


def restore(
    backup: str,
    to: str,
    edition_: str | int,
    region: str,
    settings: env_pb.EnvironmentSettings | None,
    source_ftp_folders: dict[str, str] | None,
    validate_only: bool,
    request_id_: str,
    copy_backup_policy: bool = False,
    control_numbers: str | int = 0,
    control_number_margin: int = 0,
) -> bk_pb.RestoreBackupRequest:
    return bk_pb.RestoreBackupRequest(
        backup=backup,
        environment_id=to,
        edition=edition(edition_),
        region=region,
        settings=settings,
        source_ftp_folders=source_ftp_folders or {},
        validate_only=validate_only,
        request_id=request_id(request_id_),
        copy_backup_policy=copy_backup_policy,
        control_number_policy=control_number_policy(control_numbers),
        control_number_margin=control_number_margin,
    )


def control_number_policy(value: str | int) -> bk_pb.ControlNumberPolicy.ValueType:
    """A control-number policy from its CLI spelling ("live-max") or its enum number."""
    if isinstance(value, str):
        return CONTROL_NUMBER_POLICIES[value]
    return bk_pb.ControlNumberPolicy.ValueType(value)


def artifact_label(text: str) -> str:
    """``{collection}/{artifact}`` from that or the CLI's ``{kind}/{artifact}``."""
    kind, _, artifact_id = text.partition("/")
    if kind in KINDS:
        return f"{COLLECTIONS[KINDS[kind]]}/{artifact_id}"
    return text


def restore_into(
    backup: str,
    env: str,
    kinds: Iterable[str | int],
    artifacts: Iterable[str],
    source_ftp_folders: dict[str, str] | None,
    control_numbers: str | int,
    control_number_margin: int,
    validate_only: bool,
    request_id_: str,
) -> bk_pb.RestoreBackupRequest:
    return bk_pb.RestoreBackupRequest(
        backup=backup,
        environment_id=environment_name(env).removeprefix("environments/"),
        target_existing=True,
        kinds=[artifact_kind(k) for k in kinds],
        artifacts=[artifact_label(a) for a in artifacts],
        source_ftp_folders=source_ftp_folders or {},
        control_number_policy=control_number_policy(control_numbers),
        control_number_margin=control_number_margin,
        validate_only=validate_only,
        request_id=request_id(request_id_),
    )


def drill_backup(name: str, request_id_: str) -> dr_pb.DrillBackupRequest:
    return dr_pb.DrillBackupRequest(backup=name, request_id=request_id(request_id_))


def diff_backup(
    name: str, other_backup: str | None, live_environment: str | None
) -> df_pb.DiffBackupRequest:
    if (other_backup is None) == (live_environment is None):
        raise ValueError("give exactly one of other_backup and live_environment")
    if other_backup is not None:
        return df_pb.DiffBackupRequest(backup=name, other_backup=other_backup)
    return df_pb.DiffBackupRequest(
        backup=name, live_environment=environment_name(live_environment or "")
    )


def checklist_item_name(env: str, item_id: str) -> str:
    return f"{environment_name(env)}/checklistItems/{item_id}"


def batch_name(env: str, batch: str) -> str:
    return f"{environment_name(env)}/batches/{batch}"


def hybrid_connection_name(env: str, connection_id: str) -> str:
    return f"{environment_name(env)}/hybridConnections/{connection_id}"


def backup_status(env: str | None) -> bk_pb.GetBackupStatusRequest:
    return bk_pb.GetBackupStatusRequest(parent=environment_name(env) if env else ALL_ENVIRONMENTS)


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def set_backup_policy(
    env: str,
    every: float | None,
    cron: str,
    keep: tuple[int, int, int, int],
    max_age: float | None,
    retention: bool | None,
    validate_only: bool,
    drill_every: float | None = None,
) -> pol_pb.SetBackupPolicyRequest:
    """``keep`` is (last, daily, weekly, monthly). Retention is sent when a rule
    is given (or ``retention`` is True, to have a rule of 0 checked too)."""
    policy = pol_pb.BackupPolicy(name=policy_name(env))
    if every is not None:
        policy.every.CopyFrom(duration(every))
    if cron:
        policy.cron = cron
    if drill_every is not None:
        policy.drill_every.CopyFrom(duration(drill_every))
    if retention or (retention is None and (any(keep) or max_age is not None)):
        r = policy.retention
        r.keep_last, r.keep_daily, r.keep_weekly, r.keep_monthly = keep
        if max_age is not None:
            r.max_age.CopyFrom(duration(max_age))
        policy.retention.SetInParent()
    return pol_pb.SetBackupPolicyRequest(policy=policy, validate_only=validate_only)


def list_operations(target: str, kind: int, page_token: str) -> ops_pb.ListOperationsRequest:
    return ops_pb.ListOperationsRequest(
        target=target,
        kind=ops_pb.Operation.Kind.ValueType(kind),
        page_token=page_token,
        page_size=PAGE_SIZE,
    )


def pieces(content: Content) -> Iterator[bytes]:
    """Content in PIECE-sized parts, from bytes or a file path."""
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content)
        for i in range(0, len(data), PIECE):
            yield data[i : i + PIECE]
        return
    with open(content, "rb") as f:
        while piece := f.read(PIECE):
            yield piece


def copy_backup(name: str, destination: str, request_id_: str) -> mt_pb.CopyBackupRequest:
    return mt_pb.CopyBackupRequest(
        name=name, destination_repository=destination, request_id=request_id(request_id_)
    )


def verify_repository(read_data: bool, request_id_: str) -> mt_pb.VerifyRepositoryRequest:
    return mt_pb.VerifyRepositoryRequest(read_data=read_data, request_id=request_id(request_id_))


def prune_repository(request_id_: str) -> mt_pb.PruneRepositoryRequest:
    return mt_pb.PruneRepositoryRequest(request_id=request_id(request_id_))


def rotate_key(request_id_: str) -> mt_pb.RotateKeyRequest:
    return mt_pb.RotateKeyRequest(request_id=request_id(request_id_))

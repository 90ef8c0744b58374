"""``stowage backup ...``: take, list, inspect and delete backups, and see
each environment's backup status."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client
from stowage.errors import from_status
from stowage.v1 import backups_pb2 as bk_pb

from . import diffs, drills, policies
from .environments import environment_id
from .operations import wait_and_report
from .output import (
    edition_text,
    enum_text,
    human_bytes,
    human_duration,
    print_fields,
    print_json,
    print_json_items,
    print_table,
    short_id,
    utc,
)

BACKUP_HELP = "a backup's name, environments/ENV/backups/ID"
ERROR_WIDTH = 60


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser(
        "backup",
        parents=common,
        help="take and manage backups",
        description="Take and manage backups. Restore one with 'stowage restore'.",
    )
    sub = backup.add_subparsers(dest="backup_command", metavar="COMMAND", required=True)

    p = sub.add_parser("create", parents=common, help="back up an environment")
    p.add_argument("env", metavar="ENV")
    p.add_argument("--wait", action="store_true", help="show progress and wait for the end")
    p.add_argument(
        "--allow-batch-loss",
        action="store_true",
        help="back up even when batches hold messages (they are lost)",
    )
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.add_argument(
        "--quiesce",
        action="store_true",
        help="refuse management writes to the environment while it runs",
    )
    p.set_defaults(handler=create)

    p = sub.add_parser("list", parents=common, help="list backups, newest first")
    p.add_argument(
        "env",
        metavar="ENV",
        nargs="?",
        help="only this environment's (default: every environment, deleted ones too)",
    )
    p.set_defaults(handler=list_backups)

    p = sub.add_parser("get", parents=common, help="show one backup")
    p.add_argument("backup", metavar="BACKUP", help=BACKUP_HELP)
    p.set_defaults(handler=get)

    p = sub.add_parser("delete", parents=common, help="delete a backup")
    p.add_argument("backup", metavar="BACKUP", help=BACKUP_HELP)
    p.set_defaults(handler=delete)

    p = sub.add_parser("copy", parents=common, help="copy a backup to a second repository")
    p.add_argument("backup", metavar="BACKUP", help=BACKUP_HELP)
    p.add_argument(
        "--to-repository",
        required=True,
        metavar="URL",
        help="abfs://CONTAINER/PREFIX, a path or file:// URL (among the server's "
        "--copy-destinations)",
    )
    p.add_argument("--wait", action="store_true", help="show progress and wait for the end")
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=copy_backup)

    p = sub.add_parser(
        "status",
        parents=common,
        help="last backup, last success, last scheduled backup and next run per environment",
    )
    p.add_argument("env", metavar="ENV", nargs="?", help="only this environment")
    p.set_defaults(handler=status)

    policies.register(sub, common)
    drills.register(sub, common)
    diffs.register(sub, common)


def trigger_text(trigger: int) -> str:
    return enum_text(bk_pb.Backup.Trigger, trigger, "TRIGGER_").lower()


def create(args: argparse.Namespace, client: Client) -> int:
    handle = client.create_backup(
        environment_id(args.env),
        allow_batch_loss=args.allow_batch_loss,
        quiesce=args.quiesce,
        request_id=args.request_id,
    )
    if args.wait:
        wait_and_report(handle, json_lines=args.json)
    elif args.json:
        print_json(handle.operation)
    else:
        print(handle.name)
    return 0


def list_backups(args: argparse.Namespace, client: Client) -> int:
    backups = list(client.list_backups(environment_id(args.env) if args.env else None))
    if args.json:
        print_json_items(backups)
        return 0
    if not backups:
        print("no backups")
        return 0
    print_table(
        ["NAME", "CREATED", "ARTIFACTS", "SIZE", "ADDED", "TRIGGER"],
        [
            (
                b.name,
                utc(b.create_time),
                b.artifact_count,
                human_bytes(b.size_bytes),
                human_bytes(b.added_bytes),
                trigger_text(b.trigger),
            )
            for b in backups
        ],
        right=(2, 3, 4),
    )
    return 0


def get(args: argparse.Namespace, client: Client) -> int:
    b = client.get_backup(args.backup)
    if args.json:
        print_json(b)
        return 0
    print_fields(
        [
            ("name", b.name),
            ("environment uid", b.environment_uid),
            ("edition", edition_text(b.edition)),
            ("region", b.region),
            ("product version", b.product_version),
            ("created", utc(b.create_time)),
            ("completed", utc(b.complete_time)),
            ("trigger", trigger_text(b.trigger)),
            ("artifacts", b.artifact_count),
            ("size", human_bytes(b.size_bytes)),
            ("added", human_bytes(b.added_bytes)),
            ("manifest sha256", b.manifest_sha256),
            ("operation", b.operation),
        ]
    )
    for ex in b.excluded:
        kind = enum_text(bk_pb.ExcludedItem.Kind, ex.kind, "KIND_")
        count = f" ({ex.message_count} message(s))" if ex.message_count else ""
        subject = f" {ex.name}" if ex.name else ""
        print(f"excluded: {kind}{subject}{count}: {ex.reason}")
    for w in b.warnings:
        print(f"warning: {w}")
    return 0


def delete(args: argparse.Namespace, client: Client) -> int:
    client.delete_backup(args.backup)
    if args.json:
        print_json({})
    else:
        print(f"deleted {args.backup}")
    return 0


def status(args: argparse.Namespace, client: Client) -> int:
    statuses = client.backup_status(environment_id(args.env) if args.env else None)
    if args.json:
        print_json(bk_pb.GetBackupStatusResponse(statuses=statuses))
        return 0
    if not statuses:
        print("no environments")
        return 0
    rows = []
    for s in statuses:
        last = s.last_backup if s.HasField("last_backup") else None
        ok = s.last_successful_backup if s.HasField("last_successful_backup") else None
        scheduled = s.last_scheduled_backup if s.HasField("last_scheduled_backup") else None
        rows.append(
            (
                short_id(s.environment),
                short_id(last.backup) if last and last.backup else "-",
                last.state if last else "never",
                utc(last.start_time) if last else "-",
                human_bytes(last.size_bytes) if last and last.state == "SUCCEEDED" else "-",
                human_duration(last.start_time, last.end_time) if last else "-",
                utc(ok.end_time if ok.HasField("end_time") else ok.start_time) if ok else "-",
                scheduled.state if scheduled else "-",
                utc(s.next_run_time) if s.HasField("next_run_time") else "-",
                policies.policy_text(s.backup_policy) if s.HasField("backup_policy") else "none",
                _drill_text(s.last_drill) if s.HasField("last_drill") else "-",
                _short_error(last),
            )
        )
    print_table(
        [
            "ENVIRONMENT",
            "LAST BACKUP",
            "STATE",
            "TIME",
            "SIZE",
            "DURATION",
            "LAST SUCCESS",
            "SCHEDULED",
            "NEXT RUN",
            "POLICY",
            "LAST DRILL",
            "ERROR",
        ],
        rows,
        right=(4, 5),
    )
    return 0


def _drill_text(d: bk_pb.DrillAttempt) -> str:
    """'passed 2026-01-02 03:04:05 (1.2s)', 'FAILED ...', or the state while it has no verdict."""
    if d.HasField("result"):
        verdict = "passed" if d.passed else "FAILED"
        seconds = d.result.duration.ToNanoseconds() / 1e9
        return f"{verdict} {utc(d.end_time)} ({seconds:.1f}s)"
    return f"{d.state} {utc(d.start_time)}"


def _short_error(attempt: bk_pb.BackupAttempt | None) -> str:
    if attempt is None or not attempt.error.code:
        return "-"
    e = from_status(attempt.error)
    text = f"{e.reason or e.code.name}: {e.message}"
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 3] + "..."


def copy_backup(args: argparse.Namespace, client: Client) -> int:
    handle = client.copy_backup(args.backup, args.to_repository, request_id=args.request_id)
    if args.wait:
        wait_and_report(handle, json_lines=args.json)
    elif args.json:
        print_json(handle.operation)
    else:
        print(handle.name)
    return 0

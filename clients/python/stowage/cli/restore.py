"""``stowage restore``: a backup into a new, SUSPENDED environment, or with
``--dry-run`` the plan of every check and warning."""

from __future__ import annotations

import argparse
from typing import Any

import grpc

from stowage.client import EDITIONS, Client
from stowage.errors import StowageError
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import error_reason_pb2

from .environments import environment_id
from .operations import wait_and_report, warning_text
from .output import check_mark, edition_text, human_bytes, print_json, print_table
from .policies import policy_text
from .settings import SETTINGS_BY_KEY, build_settings, parse_pairs


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "restore",
        parents=common,
        help="restore a backup into a new environment",
        description="Restore a backup into a new environment, which starts SUSPENDED. "
        "Every check runs before anything changes; --dry-run shows them.",
    )
    p.add_argument("backup", metavar="BACKUP", help="environments/ENV/backups/ID")
    p.add_argument("--to", required=True, metavar="NAME", help="the new environment's name")
    p.add_argument(
        "--edition",
        choices=list(EDITIONS),
        help="the new environment's edition (default: the backup's; never lower)",
    )
    p.add_argument("--region", default="", metavar="R", help="default: the backup's")
    p.add_argument("--dry-run", action="store_true", help="check everything, change nothing")
    p.add_argument("--wait", action="store_true", help="show progress and wait for the end")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="settings",
        help="replace a backed-up setting, repeatable; KEY is one of: "
        + ", ".join(SETTINGS_BY_KEY),
    )
    p.add_argument(
        "--ftp-folder",
        action="append",
        metavar="AGREEMENT=FOLDER",
        help="a new source FTP folder for an agreement, repeatable",
    )
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.add_argument(
        "--copy-policy",
        action="store_true",
        help="give the new environment the source's backup policy, as recorded "
        "in the backup (otherwise it has no automatic backups)",
    )
    p.set_defaults(handler=restore)


def restore(args: argparse.Namespace, client: Client) -> int:
    settings, _ = build_settings(args.settings)
    handle = client.restore(
        args.backup,
        environment_id(args.to),
        edition=args.edition or 0,
        region=args.region,
        settings=settings,
        source_ftp_folders=dict(parse_pairs(args.ftp_folder, "--ftp-folder")),
        validate_only=args.dry_run,
        request_id=args.request_id,
        copy_backup_policy=args.copy_policy,
    )
    if args.dry_run:
        result = handle.operation.restore
        if args.json:
            print_json(handle.operation)
        else:
            print_plan(result)
        failed = [c for c in result.checks if not c.passed]
        if failed:
            raise refusal(failed)
        return 0
    if args.wait:
        wait_and_report(handle, json_lines=args.json)
    elif args.json:
        print_json(handle.operation)
    else:
        print(handle.name)
    return 0


def print_plan(result: bk_pb.RestoreResult) -> None:
    print(
        f"restore {result.backup} to {result.environment} ({edition_text(result.edition)}): "
        f"{result.artifact_count} artifact(s), {human_bytes(result.size_bytes)}"
    )
    print_table(
        ["", "CHECK", "RULE", "DETAIL"],
        [(check_mark(c.passed), c.check, c.rule, c.detail) for c in result.checks],
    )
    if result.HasField("backup_policy"):
        print(f"backup policy copied: {policy_text(result.backup_policy)}")
    for w in result.warnings:
        print(warning_text(w))


def refusal(failed: list[bk_pb.RestoreCheck]) -> StowageError:
    """The error the real restore would fail with, for a dry run's exit line."""
    reason = error_reason_pb2.ErrorReason.Name(failed[0].reason) if failed[0].reason else ""
    code = (
        grpc.StatusCode.DATA_LOSS
        if reason == "CORRUPT_DATA"
        else grpc.StatusCode.FAILED_PRECONDITION
    )
    detail = "; ".join(f"{c.check} ({c.rule}): {c.detail}" for c in failed)
    return StowageError(code, reason, f"dry run: restore would be refused: {detail}")

"""``stowage restore``: a backup into a new, SUSPENDED environment, chosen
artifacts of it into an existing SUSPENDED one (``--into``), or with
``--dry-run`` the plan of every check and warning."""

from __future__ import annotations

import argparse
from typing import Any

import grpc

from stowage.client import EDITIONS, KINDS, Client
from stowage.errors import StowageError
from stowage.messages import CONTROL_NUMBER_POLICIES
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import error_reason_pb2

from .environments import environment_id
from .operations import print_restore_details, wait_and_report
from .output import CommandError, check_mark, edition_text, human_bytes, print_json, print_table
from .policies import policy_text
from .settings import SETTINGS_BY_KEY, build_settings, parse_pairs


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "restore",
        parents=common,
        help="restore a backup into a new environment",
        description="Restore a backup into a new environment, which starts SUSPENDED, or "
        "chosen artifacts of it into an existing SUSPENDED environment (--into). Every check "
        "runs before anything changes; --dry-run shows them.",
    )
    p.add_argument("backup", metavar="BACKUP", help="environments/ENV/backups/ID")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", metavar="NAME", help="the new environment's name")
    where.add_argument(
        "--into",
        metavar="ENV",
        help="an existing SUSPENDED environment: write only the artifacts chosen with "
        "--kind and --artifact into it",
    )
    p.add_argument(
        "--kind",
        action="append",
        choices=list(KINDS),
        default=[],
        help="with --into: restore every artifact of this kind, repeatable",
    )
    p.add_argument(
        "--artifact",
        action="append",
        default=[],
        metavar="KIND/NAME",
        help="with --into: restore this artifact (agreement/Contoso-X12), repeatable",
    )
    p.add_argument(
        "--control-numbers",
        choices=list(CONTROL_NUMBER_POLICIES),
        default="keep",
        help="the restored EDI control numbers: the backup's (keep, the default), the "
        "higher of the backup's and those of matching live agreements (live-max), or the "
        "backup's plus --margin (advance)",
    )
    p.add_argument(
        "--margin", type=int, default=0, metavar="N", help="with --control-numbers advance"
    )
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
    if args.control_numbers == "advance" and args.margin <= 0:
        raise CommandError("--control-numbers advance needs --margin N (1 or more)")
    if args.margin and args.control_numbers != "advance":
        raise CommandError("--margin goes with --control-numbers advance")
    folders = dict(parse_pairs(args.ftp_folder, "--ftp-folder"))
    if args.into:
        unused = [
            flag
            for flag, given in (
                ("--edition", args.edition),
                ("--region", args.region),
                ("--set", args.settings),
                ("--copy-policy", args.copy_policy),
            )
            if given
        ]
        if unused:
            raise CommandError(f"{', '.join(unused)}: not with --into (the environment keeps its own)")
        if not args.kind and not args.artifact:
            raise CommandError("--into needs --kind or --artifact: what to restore")
        handle = client.restore_into(
            args.backup,
            environment_id(args.into),
            kinds=args.kind,
            artifacts=args.artifact,
            source_ftp_folders=folders,
            control_numbers=args.control_numbers,
            control_number_margin=args.margin,
            validate_only=args.dry_run,
            request_id=args.request_id,
        )
    else:
        if args.kind or args.artifact:
            raise CommandError("--kind and --artifact go with --into")
        settings, _ = build_settings(args.settings)
        handle = client.restore(
            args.backup,
            environment_id(args.to),
            edition=args.edition or 0,
            region=args.region,
            settings=settings,
            source_ftp_folders=folders,
            validate_only=args.dry_run,
            request_id=args.request_id,
            copy_backup_policy=args.copy_policy,
            control_numbers=args.control_numbers,
            control_number_margin=args.margin,
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
    into = "into" if result.target_existing else "to"
    print(
        f"restore {result.backup} {into} {result.environment} ({edition_text(result.edition)}): "
        f"{result.artifact_count} artifact(s), {human_bytes(result.size_bytes)}"
    )
    print_table(
        ["", "CHECK", "RULE", "DETAIL"],
        [(check_mark(c.passed), c.check, c.rule, c.detail) for c in result.checks],
    )
    if result.HasField("backup_policy"):
        print(f"backup policy copied: {policy_text(result.backup_policy)}")
    print_restore_details(result)


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

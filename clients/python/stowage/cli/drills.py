"""``stowage backup drill``: restore a backup into a sandbox, check everything
against its manifest, delete the sandbox, and say whether it passed."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client

from .operations import wait_and_report
from .output import CommandError, print_json


def register(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "drill",
        parents=common,
        help="restore a backup into a sandbox and check it (a restore drill)",
        description="Restore a backup into a temporary sandbox environment, check every "
        "artifact and setting against the backup's manifest, and delete the sandbox, "
        "whatever the outcome. Waits for the verdict and exits 1 when the drill fails.",
    )
    p.add_argument("backup", metavar="BACKUP", help="environments/ENV/backups/ID")
    p.add_argument("--no-wait", action="store_true", help="print the operation and return")
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=drill)


def drill(args: argparse.Namespace, client: Client) -> int:
    handle = client.drill_backup(args.backup, request_id=args.request_id)
    if args.no_wait:
        if args.json:
            print_json(handle.operation)
        else:
            print(handle.name)
        return 0
    op = wait_and_report(handle, json_lines=args.json)
    if not op.drill.passed:
        if args.json:
            print_json(op)
        raise CommandError(
            f"drill failed: {args.backup} did not restore exactly "
            f"({len(op.drill.problems)} problem(s))",
            status=1,
        )
    return 0


"""``stowage backup diff``: what changed from a backup to another backup or to
a live environment. Secrets show as set or not, never their values."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client
from stowage.v1 import diffs_pb2 as df_pb

from .environments import environment_id
from .output import CommandError, enum_text, print_json, print_table


def register(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "diff",
        parents=common,
        help="artifacts and settings added, removed and changed since a backup",
        description="List the artifacts and settings added, removed and changed from BACKUP "
        "to BACKUP2, or to a live environment as it is now (--live). Secrets are compared "
        "inside the server and shown only as set.",
    )
    p.add_argument("backup", metavar="BACKUP", help="environments/ENV/backups/ID")
    p.add_argument("other", metavar="BACKUP2", nargs="?", help="the backup to compare with")
    p.add_argument("--live", metavar="ENV", help="compare with this environment as it is now")
    p.set_defaults(handler=diff)


def change_text(change_type: int) -> str:
    return enum_text(df_pb.Change.Type, change_type, "TYPE_").lower()


def diff(args: argparse.Namespace, client: Client) -> int:
    if (args.other is None) == (args.live is None):
        raise CommandError("give BACKUP2 or --live ENV (one of them)")
    resp = client.diff_backup(
        args.backup,
        other_backup=args.other,
        live_environment=environment_id(args.live) if args.live else None,
    )
    if args.json:
        print_json(resp)
        return 0
    if not resp.changes:
        print(f"no differences between {resp.backup} and {resp.other}")
        return 0
    print(f"from {resp.backup} to {resp.other}:")
    rows = []
    for c in resp.changes:
        if not c.fields:
            rows.append((change_text(c.type), c.subject, "", "", ""))
        for f in c.fields:
            rows.append((change_text(c.type), c.subject, f.field, f.before, f.after))
    print_table(["CHANGE", "SUBJECT", "FIELD", "BEFORE", "AFTER"], rows)
    return 0

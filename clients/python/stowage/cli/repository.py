"""``stowage repo ...``: check the repository and reclaim what no backup uses."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client

from .operations import wait_and_report
from .output import CommandError, print_json


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    repo = commands.add_parser(
        "repo",
        parents=common,
        help="verify and prune the backup repository",
        description="Verify and prune the server's backup repository.",
    )
    sub = repo.add_subparsers(dest="repo_command", metavar="COMMAND", required=True)

    p = sub.add_parser("verify", parents=common, help="check that every backup is restorable")
    p.add_argument(
        "--read-data", action="store_true", help="also read and re-hash every stored blob"
    )
    p.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="print the operation and return at once",
    )
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=verify)

    p = sub.add_parser("prune", parents=common, help="delete what no backup references")
    p.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="print the operation and return at once",
    )
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=prune)

    p = sub.add_parser(
        "rotate-key",
        parents=common,
        help="re-wrap every backup's key under a new master key (admin)",
        description="Rotate the repository key: the server makes a new master key (in its key "
        "file; the old one is kept as stowage.key.old), re-wraps every backup's data key and "
        "seals the registry's secrets again, without rewriting blob data. The old key then "
        "opens nothing in this repository. Refused when the key comes from STOWAGE_KEY. A "
        "rotation cut short is completed by running it again.",
    )
    p.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="print the operation and return at once",
    )
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=rotate_key)


def verify(args: argparse.Namespace, client: Client) -> int:
    handle = client.verify_repository(read_data=args.read_data, request_id=args.request_id)
    if not args.wait:
        print_json(handle.operation) if args.json else print(handle.name)
        return 0
    op = wait_and_report(handle, json_lines=args.json)
    if not op.verify.ok:
        raise CommandError(f"the repository has {len(op.verify.problems)} problem(s)", 1)
    return 0


def prune(args: argparse.Namespace, client: Client) -> int:
    handle = client.prune_repository(request_id=args.request_id)
    if not args.wait:
        print_json(handle.operation) if args.json else print(handle.name)
        return 0
    wait_and_report(handle, json_lines=args.json)
    return 0


def rotate_key(args: argparse.Namespace, client: Client) -> int:
    handle = client.rotate_key(request_id=args.request_id)
    if not args.wait:
        print_json(handle.operation) if args.json else print(handle.name)
        return 0
    wait_and_report(handle, json_lines=args.json)
    return 0

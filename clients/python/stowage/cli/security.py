"""``stowage token ...`` and ``stowage audit tail``: the server's tokens file and
audit log, on the server's machine (they read and write files, not the API).

The files are found as the server finds them: ``--tokens-file`` or
``STOWAGE_TOKENS_FILE``, ``--audit-log`` or ``STOWAGE_AUDIT_LOG`` (else
DATA_DIR/audit.log), or the keys of a ``--config`` TOML file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .output import CommandError, print_json, print_table
from .serve import load_config


def register(commands: Any, common: list[argparse.ArgumentParser], with_options: bool) -> None:
    token = commands.add_parser(
        "token",
        parents=common,
        help="create, revoke and list bearer tokens",
        description="Manage the server's tokens file: each token has a name and a role "
        "(viewer, operator, admin). Only SHA-256 digests are stored; a new token is printed "
        "once. The running server picks changes up at the next call.",
    )
    sub = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = sub.add_parser("create", parents=common, help="add a token and print it once")
    create.add_argument("--name", required=True, metavar="WHO", help="who holds it (unique)")
    create.add_argument(
        "--role", required=True, choices=("viewer", "operator", "admin"), help="what it may do"
    )
    create.set_defaults(handler=token_create, uses_server=False)
    revoke = sub.add_parser("revoke", parents=common, help="remove a token by name")
    revoke.add_argument("--name", required=True, metavar="WHO")
    revoke.set_defaults(handler=token_revoke, uses_server=False)
    listing = sub.add_parser("list", parents=common, help="names and roles (never tokens)")
    listing.set_defaults(handler=token_list, uses_server=False)
    for p in (create, revoke, listing):
        p.add_argument("--tokens-file", dest="tokens_file", metavar="FILE", default=None)
        p.add_argument("--config", metavar="FILE", help="the server's TOML file")

    audit = commands.add_parser(
        "audit", parents=common, help="read the audit log", description="Read the audit log."
    )
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    tail = audit_sub.add_parser(
        "tail",
        parents=common,
        help="the last lines of the audit log",
        description="Print the last lines of the audit log: time, caller, role, method, "
        "resource and result of every backup, restore, delete, prune, key rotation and "
        "secret read.",
    )
    tail.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="default: 20")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    tail.add_argument("--audit-log", dest="audit_log", metavar="FILE", default=None)
    tail.add_argument("--data-dir", dest="data_dir", metavar="DIR", default=None)
    tail.add_argument("--config", metavar="FILE", help="the server's TOML file")
    tail.set_defaults(handler=audit_tail, uses_server=False)


def _tokens_path(args: argparse.Namespace) -> str:
    path: str = load_config(args).tokens_file
    if not path:
        raise CommandError("name the tokens file: --tokens-file FILE or STOWAGE_TOKENS_FILE")
    return path


def token_create(args: argparse.Namespace) -> int:
    from stowage_server import tokens
    from stowage_server.roles import Role

    path = _tokens_path(args)
    try:
        secret = tokens.create(path, args.name, Role.parse(args.role))
    except tokens.TokensError as e:
        raise CommandError(str(e), 1) from None
    if args.json:
        print_json({"name": args.name, "role": args.role, "token": secret})
    else:
        print(secret)
    return 0


def token_revoke(args: argparse.Namespace) -> int:
    from stowage_server import tokens

    try:
        tokens.revoke(_tokens_path(args), args.name)
    except tokens.TokensError as e:
        raise CommandError(str(e), 1) from None
    return 0


def token_list(args: argparse.Namespace) -> int:
    from stowage_server import tokens

    try:
        entries = tokens.read(_tokens_path(args))
    except tokens.TokensError as e:
        raise CommandError(str(e), 1) from None
    rows = [(e.name, e.role.word, e.create_time) for e in entries]
    if args.json:
        print_json(
            {"tokens": [dict(zip(("name", "role", "created"), r, strict=True)) for r in rows]}
        )
    else:
        print_table(["NAME", "ROLE", "CREATED"], rows)
    return 0


def audit_tail(args: argparse.Namespace) -> int:
    import os

    from stowage_server import audit

    path = load_config(args).audit_path
    try:
        lines = audit.tail(path, args.lines)
        offset = os.path.getsize(path)
    except FileNotFoundError:
        raise CommandError(f"no audit log at {path} (nothing audited yet?)", 1) from None
    for line in lines:
        _print(line, args.json)
    if args.follow:
        for line in audit.follow(path, offset):
            _print(line, args.json)
    return 0


FIELDS = ("time", "caller", "role", "method", "resource", "result")


def _print(line: str, as_json: bool) -> None:
    if as_json:
        print(line, flush=True)
        return
    try:
        entry = json.loads(line)
    except ValueError:
        print(line, flush=True)
        return
    method = str(entry.get("method", "")).rsplit("/", 1)[-1]
    values = [str(entry.get(f, "") or "-") for f in FIELDS]
    values[3] = method or "-"
    extra = f" {entry['operation']}" if entry.get("operation") else ""
    print("  ".join(values) + extra, flush=True)

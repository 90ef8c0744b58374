"""``stowage backup policy ...``: an environment's automatic backups (a
schedule, and which of its backups are kept)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from stowage.client import Client
from stowage.v1 import backup_policy_pb2 as pol_pb

from .environments import environment_id
from .output import CommandError, print_fields, print_json, utc

_SCALE = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'90s', '5m', '2h', '1d', '1h30m' or plain seconds, as the server's options."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(
            f"invalid duration {text!r}: use s, m, h or d, as in 90s, 5m, 2h, 1d"
        )
    return sum(float(n) * _SCALE[u] for n, u in parts)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: a whole number")
    return int(text)


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:g}s"
    out, left = "", int(round(seconds))
    for unit in ("d", "h", "m", "s"):
        size = _SCALE[unit]
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


def schedule_text(policy: pol_pb.BackupPolicy, zone: str = " (UTC)") -> str:
    kind = policy.WhichOneof("schedule")
    if kind == "every":
        return f"every {duration_text(policy.every.ToNanoseconds() / 1e9)}"
    if kind == "cron":
        return f"cron {policy.cron}{zone}"
    return "-"


def retention_text(policy: pol_pb.BackupPolicy) -> str:
    if not policy.HasField("retention"):
        return "keep every backup"
    r = policy.retention
    rules = [
        f"{name} {value}"
        for name, value in (
            ("last", r.keep_last),
            ("daily", r.keep_daily),
            ("weekly", r.keep_weekly),
            ("monthly", r.keep_monthly),
        )
        if value
    ]
    if r.max_age.ToNanoseconds():
        rules.append(f"max-age {duration_text(r.max_age.ToNanoseconds() / 1e9)}")
    return "keep " + ", ".join(rules)


def drill_text(policy: pol_pb.BackupPolicy) -> str:
    if not policy.HasField("drill_every"):
        return "no scheduled drills"
    return f"drill every {duration_text(policy.drill_every.ToNanoseconds() / 1e9)}"


def policy_text(policy: pol_pb.BackupPolicy) -> str:
    """One line for tables: 'every 2h; keep last 3' (and '; drill every 1d')."""
    drills = f"; {drill_text(policy)}" if policy.HasField("drill_every") else ""
    return f"{schedule_text(policy, zone='')}; {retention_text(policy)}{drills}"


def register(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    policy = sub.add_parser(
        "policy",
        parents=common,
        help="automatic backups of an environment",
        description="An environment's backup policy: when it is backed up automatically "
        "(an interval, or a cron expression in UTC) and which of those backups are kept. "
        "Retention keeps the union of what each --keep rule keeps, and always the newest "
        "backup; without any --keep or --max-age every backup is kept. Manual backups are "
        "never deleted by retention.",
    )
    commands = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)

    p = commands.add_parser("set", parents=common, help="set (or replace) the policy")
    p.add_argument("env", metavar="ENV")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--every",
        type=parse_duration,
        metavar="DURATION",
        help="back up at this interval, counted from now (s, m, h, d: 6h, 1d)",
    )
    when.add_argument(
        "--cron",
        metavar="EXPR",
        help="back up on a 5-field cron expression in UTC, as in '0 2 * * *'",
    )
    for rule, what in (
        ("last", "the N newest backups"),
        ("daily", "the newest backup of each of the last N days with backups"),
        ("weekly", "the newest backup of each of the last N weeks with backups"),
        ("monthly", "the newest backup of each of the last N months with backups"),
    ):
        p.add_argument(f"--keep-{rule}", type=_count, metavar="N", help=f"keep {what}")
    p.add_argument(
        "--max-age",
        type=parse_duration,
        metavar="DURATION",
        help="keep every backup younger than this",
    )
    p.add_argument(
        "--drill-every",
        type=parse_duration,
        metavar="DURATION",
        help="also run a restore drill of the newest backup at this interval "
        "(see 'stowage backup drill')",
    )
    p.add_argument("--dry-run", action="store_true", help="check the policy, change nothing")
    p.set_defaults(handler=set_policy)

    p = commands.add_parser("get", parents=common, help="show the policy")
    p.add_argument("env", metavar="ENV")
    p.set_defaults(handler=get_policy)

    p = commands.add_parser(
        "clear", parents=common, help="remove the policy: no more automatic backups (backups stay)"
    )
    p.add_argument("env", metavar="ENV")
    p.set_defaults(handler=clear_policy)


def set_policy(args: argparse.Namespace, client: Client) -> int:
    keeps = (args.keep_last, args.keep_daily, args.keep_weekly, args.keep_monthly)
    if args.every is not None and args.every <= 0:
        raise CommandError("--every must be more than 0")
    policy = client.set_backup_policy(
        environment_id(args.env),
        every=args.every,
        cron=args.cron or "",
        keep_last=args.keep_last or 0,
        keep_daily=args.keep_daily or 0,
        keep_weekly=args.keep_weekly or 0,
        keep_monthly=args.keep_monthly or 0,
        max_age=args.max_age,
        # Any rule given, even 0, asks for retention: the server refuses one that keeps nothing.
        retention=any(k is not None for k in keeps) or args.max_age is not None,
        validate_only=args.dry_run,
        drill_every=args.drill_every,
    )
    show(args, policy)
    return 0


def get_policy(args: argparse.Namespace, client: Client) -> int:
    show(args, client.get_backup_policy(environment_id(args.env)))
    return 0


def clear_policy(args: argparse.Namespace, client: Client) -> int:
    env = environment_id(args.env)
    client.delete_backup_policy(env, allow_missing=True)
    if args.json:
        print_json({})
    else:
        print(f"environments/{env}: no backup policy; no automatic backups")
    return 0


def show(args: argparse.Namespace, policy: pol_pb.BackupPolicy) -> None:
    if args.json:
        print_json(policy)
        return
    print_fields(
        [
            ("name", policy.name),
            ("schedule", schedule_text(policy)),
            ("retention", retention_text(policy)),
            ("drills", drill_text(policy)),
            ("updated", utc(policy.update_time)),
            ("next run", utc(policy.next_run_time)),
            ("next drill", utc(policy.next_drill_time)),
        ]
    )

"""``stowage op ...``: list, inspect, watch and cancel long-running operations,
and how every command that waits prints an operation's outcome."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client, Operation
from stowage.operation import operation_error
from stowage.v1 import backups_pb2 as bk_pb
from stowage.v1 import drills_pb2 as dr_pb
from stowage.v1 import operations_pb2 as ops_pb

from .environments import environment_id
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
from .policies import policy_text
from .progress import ProgressView, watch

KIND_CHOICES = {
    "backup": ops_pb.Operation.KIND_BACKUP,
    "restore": ops_pb.Operation.KIND_RESTORE,
    "verify": ops_pb.Operation.KIND_VERIFY,
    "prune": ops_pb.Operation.KIND_PRUNE,
    "copy": ops_pb.Operation.KIND_COPY,
    "drill": ops_pb.Operation.KIND_DRILL,
}


def operation_name(text: str) -> str:
    return text if text.startswith("operations/") else f"operations/{text}"


def kind_text(kind: int) -> str:
    return enum_text(ops_pb.Operation.Kind, kind, "KIND_").lower()


def state_text(state: int) -> str:
    return enum_text(ops_pb.Operation.State, state, "STATE_")


def warning_text(w: bk_pb.RestoreWarning) -> str:
    kind = enum_text(bk_pb.RestoreWarning.Kind, w.kind, "KIND_")
    subject = f" {w.subject}" if w.subject else ""
    return f"warning: {kind}{subject}: {w.message}"


def counters_text(c: Any) -> str:
    return f"{c.interchange}/{c.group}/{c.transaction_set}"


def print_restore_details(result: bk_pb.RestoreResult) -> None:
    """Control numbers, restored artifacts, checklist and warnings of a restore."""
    if result.target_existing:
        print("artifacts: " + ", ".join(result.restored_artifacts))
    if result.control_numbers:
        print("control numbers (interchange/group/transaction set):")
        print_table(
            ["AGREEMENT", "BACKUP", "RESTORED", "WHY"],
            [
                (short_id(c.agreement), counters_text(c.before), counters_text(c.after), c.reason)
                for c in result.control_numbers
            ],
        )
    if result.checklist:
        left = [i for i in result.checklist if i.state == i.STATE_OPEN]
        print(f"checklist: {len(left)} item(s) to do before resuming:")
        for i in left:
            print(f"  {'[blocking] ' if i.blocking else ''}{i.id}: {i.description}")
    for w in result.warnings:
        print(warning_text(w))


def print_drill(d: dr_pb.DrillResult) -> None:
    for p in d.problems:
        print(f"problem: {p.item}: {p.description}")
    seconds = d.duration.ToNanoseconds() / 1e9
    print(
        f"{'PASSED' if d.passed else 'FAILED'}: {d.backup} restored into {short_id(d.sandbox)} "
        f"in {seconds:.1f}s; {d.artifacts_checked} artifact(s) ({human_bytes(d.bytes_checked)}) "
        f"and {d.settings_checked} setting(s) checked; sandbox "
        f"{'deleted' if d.sandbox_deleted else 'NOT deleted'}"
    )


def progress_text(p: ops_pb.Progress) -> str:
    if p.bytes_total:
        return f"{p.phase} {100 * p.bytes_done // p.bytes_total}%"
    if p.items_total:
        return f"{p.phase} {p.items_done}/{p.items_total}"
    return p.phase or "-"


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    op = commands.add_parser(
        "op",
        parents=common,
        help="watch and control operations",
        description="Watch and control long-running operations (backups, restores, drills "
        "and repository maintenance).",
    )
    sub = op.add_subparsers(dest="op_command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", parents=common, help="list operations, newest first")
    p.add_argument(
        "--target", metavar="NAME", help="only those acting on this environment or backup"
    )
    p.add_argument("--kind", choices=list(KIND_CHOICES))
    p.set_defaults(handler=list_operations)

    p = sub.add_parser("get", parents=common, help="show one operation")
    p.add_argument("operation", metavar="OPERATION")
    p.set_defaults(handler=get)

    p = sub.add_parser("watch", parents=common, help="follow an operation to its end")
    p.add_argument("operation", metavar="OPERATION")
    p.set_defaults(handler=watch_operation)

    p = sub.add_parser("cancel", parents=common, help="ask a running operation to stop")
    p.add_argument("operation", metavar="OPERATION")
    p.set_defaults(handler=cancel)


def wait_and_report(handle: Operation, *, json_lines: bool) -> ops_pb.Operation:
    """Shows progress to the end, then the outcome: the backup made, or the
    restored environment and what to do about it. Raises if it did not succeed."""
    op = handle.operation
    view = ProgressView(
        json_lines=json_lines,
        show_warnings=op.kind not in (ops_pb.Operation.KIND_RESTORE, ops_pb.Operation.KIND_DRILL),
    )
    # Restore warnings and drill problems arrive as events too; they are
    # printed once, typed, at the end.
    view.start(f"{op.name}: {kind_text(op.kind)} of {op.target}")
    op = watch(handle, view)
    if not json_lines:
        print_outcome(op)
    return op


def print_outcome(op: ops_pb.Operation) -> None:
    if op.HasField("backup"):
        print(op.backup.name)
    elif op.HasField("restore"):
        print(op.restore.environment)
        if op.restore.HasField("backup_policy"):
            print(f"backup policy copied: {policy_text(op.restore.backup_policy)}")
        print_restore_details(op.restore)
    elif op.HasField("drill"):
        print_drill(op.drill)
    elif op.HasField("verify"):
        v = op.verify
        for p in v.problems:
            where = " ".join(
                x for x in (p.backup, p.item, p.object, f"blob {p.blob}" if p.blob else "") if x
            )
            print(f"problem: {where}: {p.description}")
        print(
            f"{'ok' if v.ok else 'PROBLEMS'}: {v.backups_checked} backup(s), {v.packs_checked} pack(s), "
            f"{v.blobs_checked} blob(s) checked, {human_bytes(v.bytes_read)} read"
        )
    elif op.HasField("prune"):
        pr = op.prune
        print(
            f"removed {pr.blobs_removed} blob(s) in {pr.packs_deleted} pack(s) "
            f"({pr.packs_repacked} repacked), {pr.manifests_deleted} manifest(s) and key(s), "
            f"{pr.locks_removed} lapsed lock(s); freed {human_bytes(pr.bytes_freed)}"
        )
    elif op.HasField("copy"):
        c = op.copy
        print(
            f"{c.backup} -> {c.destination_repository}: {c.blobs_copied} blob(s) sent "
            f"({human_bytes(c.bytes_copied)}), {c.blobs_present} already there"
        )
    elif op.HasField("rotate_key"):
        r = op.rotate_key
        print(
            f"new repository key {r.key_id}: {r.data_keys_rewrapped} data key(s) re-wrapped "
            f"({r.data_keys_current} already), secrets of {r.secrets_resealed} environment(s) "
            "sealed again"
        )


def list_operations(args: argparse.Namespace, client: Client) -> int:
    target = args.target or ""
    if target and "/" not in target:
        target = f"environments/{environment_id(target)}"
    ops = list(client.list_operations(target, KIND_CHOICES.get(args.kind, 0)))
    if args.json:
        print_json_items(ops)
        return 0
    if not ops:
        print("no operations")
        return 0
    print_table(
        ["NAME", "KIND", "STATE", "PROGRESS", "TARGET", "CREATED", "DURATION"],
        [
            (
                o.name,
                kind_text(o.kind),
                state_text(o.state),
                progress_text(o.progress),
                o.target,
                utc(o.create_time),
                human_duration(o.start_time, o.end_time),
            )
            for o in ops
        ],
    )
    return 0


def get(args: argparse.Namespace, client: Client) -> int:
    op = client.get_operation(operation_name(args.operation))
    if args.json:
        print_json(op)
        return 0
    p = op.progress
    fields = [
        ("name", op.name),
        ("kind", kind_text(op.kind)),
        ("target", op.target),
        ("state", state_text(op.state)),
        (
            "progress",
            f"{progress_text(p)}, {p.items_done}/{p.items_total or '?'} items, "
            f"{human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total) if p.bytes_total else '?'}",
        ),
        ("current item", p.current_item),
        ("created", utc(op.create_time)),
        ("started", utc(op.start_time)),
        ("ended", utc(op.end_time)),
        ("duration", human_duration(op.start_time, op.end_time)),
        ("request id", op.request_id),
        ("last event", op.last_sequence),
    ]
    if op.error.code:
        fields.append(("error", str(operation_error(op))))
    if op.HasField("backup"):
        b = op.backup
        fields += [
            ("backup", b.name),
            (
                "backed up",
                f"{b.artifact_count} artifact(s), {human_bytes(b.size_bytes)}, "
                f"added {human_bytes(b.added_bytes)}",
            ),
        ]
    if op.HasField("restore"):
        r = op.restore
        fields += [
            ("environment", r.environment),
            ("from backup", r.backup),
            (
                "restored",
                f"{r.artifact_count} artifact(s), {human_bytes(r.size_bytes)}, "
                f"{edition_text(r.edition)}",
            ),
            ("dry run", "yes" if r.validate_only else "no"),
        ]
    if op.HasField("drill"):
        d = op.drill
        fields += [
            ("drill", "passed" if d.passed else f"FAILED, {len(d.problems)} problem(s)"),
            ("sandbox", f"{d.sandbox} ({'deleted' if d.sandbox_deleted else 'NOT deleted'})"),
            ("checked", f"{d.artifacts_checked} artifact(s), {human_bytes(d.bytes_checked)}, "
             f"{d.settings_checked} setting(s)"),
        ]
    print_fields(fields)
    for w in op.warnings:
        print(f"warning: {w}")
    return 0


def watch_operation(args: argparse.Namespace, client: Client) -> int:
    handle = client.operation(operation_name(args.operation))
    wait_and_report(handle, json_lines=args.json)
    return 0


def cancel(args: argparse.Namespace, client: Client) -> int:
    handle = Operation(client, ops_pb.Operation(name=operation_name(args.operation)))
    op = handle.cancel()
    if args.json:
        print_json(op)
    else:
        print(
            f"cancel requested: {op.name} is {state_text(op.state)}; "
            f"'stowage op watch {short_id(op.name)}' shows its end"
        )
    return 0

"""``stowage runtime ...``: the runtime state that backup and restore rules
depend on, driven by hand: EDI control numbers, AS2 message records, batches
and hybrid connections."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import Client
from stowage.v1 import environments_pb2 as env_pb

from .environments import environment_id
from .output import print_json, print_json_items, print_table, short_id, utc


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    runtime = commands.add_parser(
        "runtime",
        parents=common,
        help="control numbers, AS2 records, batches and hybrid connections",
        description="The runtime state of an environment that the backup and restore rules "
        "depend on. Issuing numbers, recording messages and adding batch messages need an "
        "ACTIVE environment.",
    )
    sub = runtime.add_subparsers(dest="runtime_command", metavar="COMMAND", required=True)

    numbers = sub.add_parser(
        "control-numbers", parents=common, help="EDI control numbers of agreements"
    )
    ncmd = numbers.add_subparsers(dest="numbers_command", metavar="COMMAND", required=True)
    p = ncmd.add_parser("issue", parents=common, help="issue the next numbers of an agreement")
    p.add_argument("env", metavar="ENV")
    p.add_argument("agreement", metavar="AGREEMENT", help="the agreement's id")
    p.add_argument(
        "--sets", type=int, default=1, metavar="N", help="transaction sets in the interchange"
    )
    p.set_defaults(handler=issue_numbers)
    p = ncmd.add_parser("list", parents=common, help="the counters of every agreement")
    p.add_argument("env", metavar="ENV")
    p.set_defaults(handler=list_numbers)

    as2 = sub.add_parser("as2", parents=common, help="AS2 message records (duplicate detection)")
    acmd = as2.add_subparsers(dest="as2_command", metavar="COMMAND", required=True)
    p = acmd.add_parser(
        "record",
        parents=common,
        help="record a message id and its MIC; says whether it is a duplicate",
    )
    p.add_argument("env", metavar="ENV")
    p.add_argument("message_id", metavar="MESSAGE_ID")
    p.add_argument("--mic", default="", help="the MIC value; without it, only ask")
    p.set_defaults(handler=record_as2)

    batch = sub.add_parser("batch", parents=common, help="batches and their messages")
    bcmd = batch.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    p = bcmd.add_parser("add", parents=common, help="add a message to a batch")
    p.add_argument("env", metavar="ENV")
    p.add_argument("batch", metavar="BATCH")
    p.add_argument("message_id", metavar="MESSAGE_ID")
    p.set_defaults(handler=add_batch_message)
    p = bcmd.add_parser("release", parents=common, help="release a batch's messages")
    p.add_argument("env", metavar="ENV")
    p.add_argument("batch", metavar="BATCH")
    p.set_defaults(handler=release_batch)
    p = bcmd.add_parser("list", parents=common, help="batches and their active messages")
    p.add_argument("env", metavar="ENV")
    p.set_defaults(handler=list_batches)

    hybrid = sub.add_parser(
        "hybrid-connection", parents=common, help="hybrid connections (never backed up)"
    )
    hcmd = hybrid.add_subparsers(dest="hybrid_command", metavar="COMMAND", required=True)
    p = hcmd.add_parser("add", parents=common, help="add a hybrid connection")
    p.add_argument("env", metavar="ENV")
    p.add_argument("connection", metavar="NAME")
    p.add_argument("endpoint", metavar="HOST:PORT")
    p.set_defaults(handler=add_hybrid_connection)
    p = hcmd.add_parser("remove", parents=common, help="remove a hybrid connection")
    p.add_argument("env", metavar="ENV")
    p.add_argument("connection", metavar="NAME")
    p.set_defaults(handler=remove_hybrid_connection)
    p = hcmd.add_parser("list", parents=common, help="the hybrid connections")
    p.add_argument("env", metavar="ENV")
    p.set_defaults(handler=list_hybrid_connections)


def counters_text(c: env_pb.ControlNumbers) -> str:
    return f"interchange {c.interchange}, group {c.group}, transaction set {c.transaction_set}"


def issue_numbers(args: argparse.Namespace, client: Client) -> int:
    c = client.issue_control_numbers(
        environment_id(args.env), args.agreement, transaction_sets=args.sets
    )
    if args.json:
        print_json(c)
    else:
        print(f"{c.agreement}: {counters_text(c)}")
    return 0


def list_numbers(args: argparse.Namespace, client: Client) -> int:
    numbers = client.list_control_numbers(environment_id(args.env))
    if args.json:
        print_json_items(numbers)
        return 0
    if not numbers:
        print("no control numbers issued")
        return 0
    print_table(
        ["AGREEMENT", "INTERCHANGE", "GROUP", "TRANSACTION SET", "UPDATED"],
        [
            (short_id(c.agreement), c.interchange, c.group, c.transaction_set, utc(c.update_time))
            for c in numbers
        ],
        right=(1, 2, 3),
    )
    return 0


def record_as2(args: argparse.Namespace, client: Client) -> int:
    r = client.record_as2_message(environment_id(args.env), args.message_id, args.mic)
    if args.json:
        print_json(r)
    elif r.duplicate:
        print(f"duplicate: {args.message_id} was first seen {utc(r.first_seen_time)} (MIC {r.mic})")
    elif args.mic:
        print(f"recorded: {args.message_id}")
    else:
        print(f"new: {args.message_id} has not been seen")
    return 0


def add_batch_message(args: argparse.Namespace, client: Client) -> int:
    b = client.add_batch_message(environment_id(args.env), args.batch, args.message_id)
    _show_batch(args, b)
    return 0


def release_batch(args: argparse.Namespace, client: Client) -> int:
    b = client.release_batch(environment_id(args.env), args.batch)
    _show_batch(args, b)
    return 0


def _show_batch(args: argparse.Namespace, b: env_pb.Batch) -> None:
    if args.json:
        print_json(b)
    else:
        print(f"{b.name}: {b.active_message_count} active message(s)")


def list_batches(args: argparse.Namespace, client: Client) -> int:
    batches = client.list_batches(environment_id(args.env))
    if args.json:
        print_json_items(batches)
    elif not batches:
        print("no batches")
    else:
        print_table(
            ["BATCH", "ACTIVE MESSAGES"],
            [(short_id(b.name), b.active_message_count) for b in batches],
            right=(1,),
        )
    return 0


def add_hybrid_connection(args: argparse.Namespace, client: Client) -> int:
    hc = client.create_hybrid_connection(environment_id(args.env), args.connection, args.endpoint)
    if args.json:
        print_json(hc)
    else:
        print(f"added {hc.name} ({hc.endpoint})")
    return 0


def remove_hybrid_connection(args: argparse.Namespace, client: Client) -> int:
    env = environment_id(args.env)
    client.delete_hybrid_connection(env, args.connection)
    if args.json:
        print_json({})
    else:
        print(f"removed environments/{env}/hybridConnections/{args.connection}")
    return 0


def list_hybrid_connections(args: argparse.Namespace, client: Client) -> int:
    hcs = client.list_hybrid_connections(environment_id(args.env))
    if args.json:
        print_json_items(hcs)
    elif not hcs:
        print("no hybrid connections")
    else:
        print_table(["NAME", "ENDPOINT"], [(short_id(h.name), h.endpoint) for h in hcs])
    return 0

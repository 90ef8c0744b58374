"""``stowage env ...``: provision, inspect, change and delete environments."""

from __future__ import annotations

import argparse
from typing import Any

from stowage.client import EDITIONS, Client
from stowage.v1 import environments_pb2 as env_pb

from .output import (
    CommandError,
    edition_text,
    enum_text,
    human_bytes,
    print_fields,
    print_json,
    print_json_items,
    print_table,
    short_id,
    utc,
)
from .settings import SETTINGS_BY_KEY, build_settings, setting_rows

SET_HELP = "a setting, repeatable; KEY is one of: " + ", ".join(SETTINGS_BY_KEY)


def environment_id(text: str) -> str:
    """The bare id: commands take ``NAME`` or ``environments/NAME``."""
    return text.removeprefix("environments/")


def state_text(state: int) -> str:
    return enum_text(env_pb.Environment.State, state, "STATE_")


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    env = commands.add_parser(
        "env", parents=common, help="manage environments", description="Manage environments."
    )
    sub = env.add_subparsers(dest="env_command", metavar="COMMAND", required=True)

    p = sub.add_parser("provision", parents=common, help="create an environment (ACTIVE at once)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--edition", required=True, choices=list(EDITIONS))
    p.add_argument("--region", default="", metavar="R")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", dest="settings", help=SET_HELP)
    p.add_argument("--request-id", default="", metavar="ID", help="makes a retry safe")
    p.set_defaults(handler=provision)

    p = sub.add_parser("list", parents=common, help="list live environments")
    p.set_defaults(handler=list_environments)

    p = sub.add_parser("get", parents=common, help="show one environment")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--show-secrets", action="store_true", help="print secret values in plaintext")
    p.set_defaults(handler=get)

    p = sub.add_parser("suspend", parents=common, help="stop an ACTIVE environment")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=suspend)

    p = sub.add_parser("resume", parents=common, help="start a SUSPENDED environment")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="resume despite blocking conflicts")
    p.set_defaults(handler=resume)

    p = sub.add_parser(
        "checklist",
        parents=common,
        help="what to do on a restored environment before resuming it",
        description="A restored environment's checklist. Items close themselves when the fix "
        "is seen; blocking items keep 'env resume' from starting it until then (or until "
        "acknowledged with 'env ack').",
    )
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=checklist)

    p = sub.add_parser("ack", parents=common, help="acknowledge a checklist item (closes it)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("item", metavar="ITEM", help="the item's id, as 'env checklist' shows it")
    p.add_argument("--note", default="", metavar="TEXT", help="why, kept with the item")
    p.set_defaults(handler=acknowledge)

    p = sub.add_parser("delete", parents=common, help="delete an environment (its backups stay)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=delete)

    p = sub.add_parser("update", parents=common, help="change settings, edition or region")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="settings",
        help=SET_HELP + "; an empty secret clears it",
    )
    p.add_argument("--edition", choices=list(EDITIONS))
    p.add_argument("--region", metavar="R")
    p.set_defaults(handler=update)


def print_environment(env: env_pb.Environment, *, reveal: bool = False) -> None:
    print_fields(
        [
            ("name", env.name),
            ("uid", env.uid),
            ("edition", edition_text(env.edition)),
            ("region", env.region),
            ("state", state_text(env.state)),
            ("created", utc(env.create_time)),
            ("updated", utc(env.update_time)),
            ("restored from", env.restored_from),
            ("artifacts", f"{env.artifact_count} ({human_bytes(env.artifact_bytes)})"),
        ]
    )
    print("settings:")
    print_fields(setting_rows(env.settings, reveal=reveal), indent="  ")
    if env.checklist:
        left = [i for i in env.checklist if i.state == env_pb.ChecklistItem.STATE_OPEN]
        blocking = sum(1 for i in left if i.blocking)
        print(
            f"checklist: {len(left)} of {len(env.checklist)} item(s) open, {blocking} blocking "
            f"('stowage env checklist {short_id(env.name)}')"
        )


def item_state_text(item: env_pb.ChecklistItem) -> str:
    return enum_text(env_pb.ChecklistItem.State, item.state, "STATE_")


def print_checklist(items: list[env_pb.ChecklistItem]) -> None:
    print_table(
        ["ITEM", "STATE", "BLOCKING", "WHAT", "RESOLUTION"],
        [
            (
                i.id,
                item_state_text(i),
                "yes" if i.blocking else "no",
                i.description,
                i.resolution,
            )
            for i in items
        ],
    )


def summary(env: env_pb.Environment) -> str:
    region = f", {env.region}" if env.region else ""
    return f"{env.name} ({edition_text(env.edition)}{region}, {state_text(env.state)})"


def provision(args: argparse.Namespace, client: Client) -> int:
    settings, _ = build_settings(args.settings)
    env = client.provision(
        environment_id(args.name),
        args.edition,
        region=args.region,
        settings=settings,
        request_id=args.request_id,
    )
    if args.json:
        print_json(env)
    else:
        print(f"provisioned {summary(env)}")
    return 0


def list_environments(args: argparse.Namespace, client: Client) -> int:
    envs = list(client.list_environments())
    if args.json:
        print_json_items(envs)
        return 0
    if not envs:
        print("no environments")
        return 0
    print_table(
        ["NAME", "EDITION", "REGION", "STATE", "ARTIFACTS", "SIZE", "CREATED", "RESTORED FROM"],
        [
            (
                short_id(e.name),
                edition_text(e.edition),
                e.region,
                state_text(e.state),
                e.artifact_count,
                human_bytes(e.artifact_bytes),
                utc(e.create_time),
                e.restored_from,
            )
            for e in envs
        ],
        right=(4, 5),
    )
    return 0


def get(args: argparse.Namespace, client: Client) -> int:
    env = client.get_environment(environment_id(args.name), full=args.show_secrets)
    if args.json:
        print_json(env)
    else:
        print_environment(env, reveal=args.show_secrets)
    return 0


def checklist(args: argparse.Namespace, client: Client) -> int:
    env = client.get_environment(environment_id(args.name))
    if args.json:
        print_json_items(env.checklist)
    elif not env.checklist:
        print(f"{env.name} has no checklist (it was not restored)")
    else:
        print_checklist(list(env.checklist))
    return 0


def acknowledge(args: argparse.Namespace, client: Client) -> int:
    item = client.acknowledge_checklist_item(
        environment_id(args.name), args.item, note=args.note
    )
    if args.json:
        print_json(item)
    else:
        print(f"{item.name}: {item_state_text(item)} ({item.resolution})")
    return 0


def suspend(args: argparse.Namespace, client: Client) -> int:
    env = client.suspend(environment_id(args.name))
    if args.json:
        print_json(env)
    else:
        print(f"suspended {summary(env)}")
    return 0


def resume(args: argparse.Namespace, client: Client) -> int:
    env = client.resume(environment_id(args.name), force=args.force)
    if args.json:
        print_json(env)
    else:
        print(f"resumed {summary(env)}")
    return 0


def delete(args: argparse.Namespace, client: Client) -> int:
    name = environment_id(args.name)
    client.delete_environment(name)
    if args.json:
        print_json({})
    else:
        print(f"deleted environments/{name}")
    return 0


def update(args: argparse.Namespace, client: Client) -> int:
    settings, fields = build_settings(args.settings)
    if not fields and args.edition is None and args.region is None:
        raise CommandError("nothing to update: give --set, --edition or --region")
    env = client.update_environment(
        environment_id(args.name),
        settings=settings,
        setting_fields=fields,
        edition=args.edition,
        region=args.region,
    )
    if args.json:
        print_json(env)
    else:
        print_environment(env)
    return 0

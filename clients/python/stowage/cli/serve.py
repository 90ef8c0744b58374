"""``stowage serve`` and ``stowage config show``: the server's options as flags.

The flags come from ``stowage_server.config.OPTIONS``, so a new server option is
a new flag with no change here. The server package is imported only when one
of these commands runs (see ``main.wants_server_options``): client commands
stay fast.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .output import CommandError, print_json, print_table

METAVARS = {
    "listen": "ADDR",
    "data_dir": "DIR",
    "repository": "URL",
    "key_file": "FILE",
    "storage": "ADDR",
    "tls_cert": "FILE",
    "tls_key": "FILE",
    "tls_client_ca": "FILE",
    "tokens_file": "FILE",
    "audit_log": "FILE",
    "max_message_size": "SIZE",
    "max_stream_size": "SIZE",
    "max_concurrent_streams": "N",
}


def add_server_options(parser: argparse.ArgumentParser) -> None:
    from stowage_server.config import OPTIONS

    group = parser.add_argument_group(
        "server options (flag, then variable, then file, then default)"
    )
    for option in OPTIONS:
        default = "" if "default:" in option.help else f"; default: {option.default or 'none'}"
        if option.switch:
            group.add_argument(
                option.flag,
                dest=option.name,
                action="store_const",
                const="true",
                default=None,
                help=f"{option.help} [{option.env}]".replace("%", "%%"),
            )
            continue
        group.add_argument(
            option.flag,
            dest=option.name,
            default=None,
            metavar=METAVARS.get(option.name, option.name.upper()),
            # argparse formats help with %
            help=f"{option.help} [{option.env}{default}]".replace("%", "%%"),
        )
    group.add_argument("--config", metavar="FILE", help="a TOML file of option_name = value lines")


def register(commands: Any, common: list[argparse.ArgumentParser], with_options: bool) -> None:
    serve = commands.add_parser(
        "serve",
        parents=common,
        help="run the Stowage server",
        description="Run the Stowage server.",
    )
    config = commands.add_parser(
        "config",
        parents=common,
        help="show the server configuration",
        description="The server configuration.",
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    show = config_commands.add_parser(
        "show",
        parents=common,
        help="every option with its value and where it came from",
        description="Print every server option with its value and its source "
        "(flag, variable, file or default); secrets are masked.",
    )
    if with_options:
        add_server_options(serve)
        add_server_options(show)
    serve.set_defaults(handler=run_serve, uses_server=False)
    show.set_defaults(handler=run_config_show, uses_server=False)

    sidecar = commands.add_parser(
        "storage-sidecar",
        parents=common,
        help="run the storage sidecar",
        description="Serve a repository's storage (BlobService) on a Unix socket or a loopback "
        "port, so that servers reach it with --storage and hold no storage credentials.",
    )
    sidecar.add_argument(
        "--repository",
        required=True,
        metavar="URL",
        help="a path, file:// or abfs://CONTAINER/PREFIX (credentials from AZURE_STORAGE_*)",
    )
    sidecar.add_argument(
        "--listen",
        required=True,
        metavar="ADDR",
        help="unix:PATH, or HOST:PORT on loopback (port 0 picks one)",
    )
    sidecar.add_argument("--log-level", default="info", metavar="LEVEL")
    sidecar.set_defaults(handler=run_sidecar, uses_server=False)


def load_config(args: argparse.Namespace) -> Any:
    from stowage_server.config import OPTIONS, ConfigError, load

    flags = {o.name: getattr(args, o.name, None) for o in OPTIONS}
    try:
        return load(flags, os.environ, getattr(args, "config", None))
    except ConfigError as e:
        raise CommandError(str(e), 2) from None


def run_serve(args: argparse.Namespace) -> int:
    config = load_config(args)
    from stowage_server import app

    status: int = app.main(config)
    return status


def run_config_show(args: argparse.Namespace) -> int:
    config = load_config(args)
    shown = config.shown()
    if args.json:
        print_json({name: {"value": value, "source": source} for name, value, source in shown})
    else:
        print_table(["NAME", "VALUE", "SOURCE"], shown)
    return 0


def run_sidecar(args: argparse.Namespace) -> int:
    from stowage_storage import sidecar

    status: int = sidecar.main(args.repository, args.listen, args.log_level)
    return status

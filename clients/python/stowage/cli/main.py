"""The ``stowage`` command: the parser, dispatch, and the exit-status rules.

Exit status 0 on success, 1 when a call or an operation failed, 2 for usage
errors, 130 when interrupted. A failure prints exactly one line on stderr,
``error: <GRPC_CODE> <REASON>: <message>`` for server errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import grpc

from stowage.client import DEFAULT_SERVER, Client
from stowage.errors import StowageError, from_rpc_error

from . import (
    artifacts,
    backups,
    demo,
    environments,
    operations,
    repository,
    restore,
    runtime,
    security,
    serve,
)
from .output import CommandError, error_line


class Parser(argparse.ArgumentParser):
    """Usage errors as one ``error:`` line and exit status 2, like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def global_options(*, top: bool, client: bool = True) -> Parser:
    """--server and --json, and (``client``) the token and TLS settings,
    accepted before and after the subcommand.

    The copies on subcommands default to SUPPRESS: when the flag is not
    repeated after the subcommand, the value parsed before it survives. The
    server's own commands (serve, config, token, audit) take no client TLS
    flags: `serve --tls-cert` is the server's certificate.
    """
    p = Parser(add_help=False)
    p.add_argument(
        "--server",
        metavar="ADDR",
        default=(os.environ.get("STOWAGE_SERVER") or DEFAULT_SERVER) if top else argparse.SUPPRESS,
        help=f"the server's host:port (default: $STOWAGE_SERVER, else {DEFAULT_SERVER})",
    )
    p.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print responses as JSON (streams: one object per line)",
    )
    if not client:
        return p

    def env(name: str) -> str | None:
        return (os.environ.get(name) or None) if top else argparse.SUPPRESS

    p.add_argument(
        "--token",
        dest="client_token",
        metavar="TOKEN",
        default=env("STOWAGE_TOKEN"),
        help="bearer token sent with every call (default: $STOWAGE_TOKEN, better than the flag, "
        "which process listings show)",
    )
    p.add_argument(
        "--tls",
        dest="client_tls",
        action="store_true",
        default=bool(os.environ.get("STOWAGE_TLS")) if top else argparse.SUPPRESS,
        help="use TLS, checking the server against the system's CAs unless --tls-ca "
        "(default: $STOWAGE_TLS; implied by the flags below)",
    )
    p.add_argument(
        "--tls-ca",
        dest="client_tls_ca",
        metavar="FILE",
        default=env("STOWAGE_TLS_CA"),
        help="PEM CA bundle that signed the server's certificate (default: $STOWAGE_TLS_CA)",
    )
    p.add_argument(
        "--tls-cert",
        dest="client_tls_cert",
        metavar="FILE",
        default=env("STOWAGE_TLS_CERT"),
        help="PEM client certificate, for servers that ask for one (default: $STOWAGE_TLS_CERT)",
    )
    p.add_argument(
        "--tls-key",
        dest="client_tls_key",
        metavar="FILE",
        default=env("STOWAGE_TLS_KEY"),
        help="PEM key of --tls-cert (default: $STOWAGE_TLS_KEY)",
    )
    return p


def wants_server_options(argv: Sequence[str]) -> bool:
    # The server's option list lives in the server package, which client
    # commands should neither import nor depend on: only a command line that
    # mentions `serve` or `config` builds those flags.
    return any(a in ("serve", "config", "token", "audit") for a in argv)


def build_parser(*, server_options: bool = True) -> Parser:
    parser = Parser(
        prog="stowage",
        description="Back up and restore integration environments with a Stowage server.",
        parents=[global_options(top=True)],
    )
    common: list[argparse.ArgumentParser] = [global_options(top=False)]
    local: list[argparse.ArgumentParser] = [global_options(top=False, client=False)]
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve.register(commands, local, server_options)
    security.register(commands, local, server_options)
    environments.register(commands, common)
    artifacts.register(commands, common)
    runtime.register(commands, common)
    backups.register(commands, common)
    restore.register(commands, common)
    operations.register(commands, common)
    repository.register(commands, common)
    demo.register(commands, common)
    return parser


def run(args: argparse.Namespace) -> int:
    status: int
    if not getattr(args, "uses_server", True):
        status = args.handler(args)
        return status
    try:
        client = Client(
            args.server,
            token=args.client_token,
            tls=args.client_tls,
            tls_ca=args.client_tls_ca,
            tls_cert=args.client_tls_cert,
            tls_key=args.client_tls_key,
        )
    except ValueError as e:
        raise CommandError(str(e)) from None
    with client:
        status = args.handler(args, client)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(server_options=wants_server_options(argv)).parse_args(argv)
    try:
        return run(args)
    except StowageError as e:
        error_line(str(e))
        return 1
    except grpc.RpcError as e:  # a stream the client did not wrap
        error_line(str(from_rpc_error(e)))
        return 1
    except CommandError as e:
        error_line(e.message)
        return e.status
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`); not an error worth a traceback.
        _silence_stdout()
        return 1
    except OSError as e:
        error_line(f"{e.filename}: {e.strerror}" if e.filename else str(e))
        return 1


def _silence_stdout() -> None:
    # Python flushes stdout at exit and would report the broken pipe again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())

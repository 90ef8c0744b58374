"""``stowage artifact ...``: write, read, list and delete artifacts, one at a
time or a whole folder (a sub-folder per kind, a file per artifact)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stowage.client import KIND_NAMES, KINDS, Client
from stowage.v1 import environments_pb2 as env_pb

from .environments import environment_id
from .output import (
    CommandError,
    human_bytes,
    print_json,
    print_json_items,
    print_table,
    short_id,
    utc,
)
from .settings import parse_pairs


def register(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    artifact = commands.add_parser(
        "artifact",
        parents=common,
        help="manage artifacts",
        description=f"Manage artifacts. KIND is one of: {', '.join(KINDS)}.",
    )
    sub = artifact.add_subparsers(dest="artifact_command", metavar="COMMAND", required=True)

    def addressed(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, parents=common, help=help_text)
        p.add_argument("env", metavar="ENV")
        p.add_argument("kind", metavar="KIND", choices=list(KINDS), help=", ".join(KINDS))
        p.add_argument("artifact", metavar="NAME")
        return p

    p = addressed("put", "create or replace an artifact from a file")
    p.add_argument("--file", required=True, metavar="PATH", help="the content")
    p.add_argument(
        "--meta", action="append", metavar="KEY=VALUE", help="a metadata entry, repeatable"
    )
    p.set_defaults(handler=put)

    p = addressed("get", "download an artifact's content")
    p.add_argument("--output", "-o", metavar="PATH", help="write here instead of stdout")
    p.set_defaults(handler=get)

    p = sub.add_parser("list", parents=common, help="list an environment's artifacts")
    p.add_argument("env", metavar="ENV")
    p.add_argument("--kind", choices=list(KINDS))
    p.set_defaults(handler=list_artifacts)

    p = addressed("delete", "delete an artifact")
    p.set_defaults(handler=delete)

    p = sub.add_parser("import", parents=common, help="upload a folder: DIR/KIND/NAME files")
    p.add_argument("env", metavar="ENV")
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(handler=import_directory)

    p = sub.add_parser("export", parents=common, help="download every artifact to DIR/KIND/NAME")
    p.add_argument("env", metavar="ENV")
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(handler=export_directory)


def put(args: argparse.Namespace, client: Client) -> int:
    metadata = dict(parse_pairs(args.meta, "--meta"))
    if not os.path.isfile(args.file):
        raise CommandError(f"--file {args.file}: no such file")
    artifact = client.put_artifact(
        environment_id(args.env), args.kind, args.artifact, args.file, metadata=metadata
    )
    if args.json:
        print_json(artifact)
    else:
        print(
            f"put {artifact.name} ({human_bytes(artifact.size_bytes)}, sha256 {artifact.sha256[:12]})"
        )
    return 0


def get(args: argparse.Namespace, client: Client) -> int:
    env = environment_id(args.env)
    if args.json:
        # The header only, unless a file was asked for as well.
        header = client.get_artifact(env, args.kind, args.artifact)
        if args.output:
            _download(client, env, args.kind, args.artifact, args.output)
        print_json(header)
        return 0
    if args.output:
        size = _download(client, env, args.kind, args.artifact, args.output)
        print(f"wrote {human_bytes(size)} to {args.output}")
        return 0
    out = sys.stdout.buffer
    for piece in client.read_artifact(env, args.kind, args.artifact):
        out.write(piece)
    out.flush()
    return 0


def _download(client: Client, env: str, kind: str, artifact: str, path: str) -> int:
    # Written beside the target and renamed at the end: a failed download
    # never leaves a truncated file under the requested name.
    partial = f"{path}.part"
    size = 0
    try:
        with open(partial, "wb") as f:
            for piece in client.read_artifact(env, kind, artifact):
                f.write(piece)
                size += len(piece)
        os.replace(partial, path)
    except OSError as e:
        raise CommandError(f"--output {path}: {e.strerror}", 1) from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return size


def list_artifacts(args: argparse.Namespace, client: Client) -> int:
    artifacts = list(client.list_artifacts(environment_id(args.env), args.kind or 0))
    if args.json:
        print_json_items(artifacts)
        return 0
    if not artifacts:
        print("no artifacts")
        return 0
    print_table(
        ["KIND", "NAME", "SIZE", "SHA256", "UPDATED", "METADATA"],
        [
            (
                KIND_NAMES.get(a.kind, str(a.kind)),
                short_id(a.name),
                human_bytes(a.size_bytes),
                a.sha256[:12],
                utc(a.update_time),
                " ".join(f"{k}={v}" for k, v in sorted(a.metadata.items())),
            )
            for a in artifacts
        ],
        right=(2,),
    )
    return 0


def delete(args: argparse.Namespace, client: Client) -> int:
    env = environment_id(args.env)
    client.delete_artifact(env, args.kind, args.artifact)
    if args.json:
        print_json({})
    else:
        print(f"deleted {args.kind} {args.artifact} from environments/{env}")
    return 0


def import_directory(args: argparse.Namespace, client: Client) -> int:
    if not os.path.isdir(args.directory):
        raise CommandError(f"{args.directory}: not a folder")
    try:
        result = client.import_directory(environment_id(args.env), args.directory)
    except ValueError as e:  # a sub-folder that is not a kind
        raise CommandError(str(e)) from None
    if args.json:
        print_json(result)
    else:
        print(
            f"imported {result.artifact_count} artifact(s), {human_bytes(result.total_bytes)}, "
            f"from {args.directory}"
        )
    return 0


def export_directory(args: argparse.Namespace, client: Client) -> int:
    env = environment_id(args.env)
    try:
        count = client.export_directory(env, args.directory)
    except OSError as e:
        raise CommandError(f"{args.directory}: {e.strerror}: {e.filename}", 1) from None
    # The export returns a count only; the bytes are what landed on disk.
    total = 0
    for a in client.list_artifacts(env):
        path = os.path.join(args.directory, KIND_NAMES.get(a.kind, ""), short_id(a.name))
        if os.path.isfile(path):
            total += os.path.getsize(path)
    if args.json:
        # Same shape (and int64-as-string encoding) as the import's response.
        print_json(env_pb.ImportArtifactsResponse(artifact_count=count, total_bytes=total))
    else:
        print(f"exported {count} artifact(s), {human_bytes(total)}, to {args.directory}")
    return 0

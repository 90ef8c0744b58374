"""Resource names and ids: parsing and validation.

Ids become object keys and file names, so they are checked before anything
else sees them: nothing a client sends may escape a folder. Patterns end in
``\\Z``, not ``$``, which would let a trailing newline through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stowage.v1 import environments_pb2 as env_pb

from .errors import InvalidArgument

_ENV_ID = re.compile(r"^[a-z](?:[a-z0-9-]{1,61}[a-z0-9])\Z")
_ARTIFACT_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9._\-]{0,127}\Z")
_BACKUP_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}\Z")
_OP_ID = re.compile(r"^[0-9a-f]{32}\Z")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}\Z")

Kind = int  # stowage.v1.ArtifactKind value

COLLECTIONS: dict[Kind, str] = {
    env_pb.ARTIFACT_KIND_PARTNER: "partners",
    env_pb.ARTIFACT_KIND_AGREEMENT: "agreements",
    env_pb.ARTIFACT_KIND_ASSEMBLY: "assemblies",
    env_pb.ARTIFACT_KIND_BRIDGE: "bridges",
    env_pb.ARTIFACT_KIND_CERTIFICATE: "certificates",
    env_pb.ARTIFACT_KIND_TRANSFORM: "transforms",
    env_pb.ARTIFACT_KIND_PIPELINE: "pipelines",
    env_pb.ARTIFACT_KIND_TEMPLATE: "templates",
    env_pb.ARTIFACT_KIND_X12_MAPPING: "x12Mappings",
}
KINDS_BY_COLLECTION = {c: k for k, c in COLLECTIONS.items()}
# The CLI's spelling of each kind.
CLI_KINDS: dict[str, Kind] = {
    "partner": env_pb.ARTIFACT_KIND_PARTNER,
    "agreement": env_pb.ARTIFACT_KIND_AGREEMENT,
    "assembly": env_pb.ARTIFACT_KIND_ASSEMBLY,
    "bridge": env_pb.ARTIFACT_KIND_BRIDGE,
    "certificate": env_pb.ARTIFACT_KIND_CERTIFICATE,
    "transform": env_pb.ARTIFACT_KIND_TRANSFORM,
    "pipeline": env_pb.ARTIFACT_KIND_PIPELINE,
    "template": env_pb.ARTIFACT_KIND_TEMPLATE,
    "x12-mapping": env_pb.ARTIFACT_KIND_X12_MAPPING,
}


def check_environment_id(value: str, field: str = "environment_id") -> str:
    if not value:
        raise InvalidArgument(field, "required")
    if not _ENV_ID.match(value) or "--" in value:
        raise InvalidArgument(
            field,
            "must be 3 to 63 lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen",
        )
    return value


def check_artifact_id(value: str, field: str = "name") -> str:
    if not is_artifact_id(value):
        raise InvalidArgument(
            field,
            "an artifact id is 1 to 128 letters, digits, '.', '_' and '-', "
            "not starting with '.' and without '..'",
        )
    return value


def is_artifact_id(value: str) -> bool:
    return bool(_ARTIFACT_ID.match(value)) and ".." not in value


def check_request_id(value: str, field: str = "request_id") -> str:
    if value and not _REQUEST_ID.match(value):
        raise InvalidArgument(field, "at most 64 letters, digits, '.', '_' and '-'")
    return value


def environment_name(env_id: str) -> str:
    return f"environments/{env_id}"


def parse_environment(name: str, field: str = "name") -> str:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "environments":
        raise InvalidArgument(field, "must be environments/{environment}")
    return check_environment_id(parts[1], field)


def parse_environment_or_all(name: str, field: str = "parent") -> str | None:
    """`environments/{id}` gives the id; `environments/-` or empty gives None."""
    if name in ("", "environments/-"):
        return None
    return parse_environment(name, field)


@dataclass(frozen=True)
class ArtifactName:
    environment: str
    kind: Kind
    artifact_id: str

    def __str__(self) -> str:
        return f"environments/{self.environment}/{COLLECTIONS[self.kind]}/{self.artifact_id}"


def artifact_name(env_id: str, kind: Kind, artifact_id: str) -> str:
    return str(ArtifactName(env_id, kind, artifact_id))


def artifact_label(kind: Kind, artifact_id: str) -> str:
    """How reports name an artifact within its environment: collection/id (a kind
    read from storage may be unknown)."""
    return f"{COLLECTIONS.get(kind, 'artifacts')}/{artifact_id}"


def parse_artifact(name: str, field: str = "name") -> ArtifactName:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "environments":
        raise InvalidArgument(field, "must be environments/{environment}/{collection}/{artifact}")
    kind = KINDS_BY_COLLECTION.get(parts[2])
    if kind is None:
        raise InvalidArgument(
            field, f"unknown collection {parts[2]!r}; one of {', '.join(COLLECTIONS.values())}"
        )
    return ArtifactName(
        check_environment_id(parts[1], field), kind, check_artifact_id(parts[3], field)
    )


def parse_agreement(name: str, field: str = "agreement") -> ArtifactName:
    parsed = parse_artifact(name, field)
    if parsed.kind != env_pb.ARTIFACT_KIND_AGREEMENT:
        raise InvalidArgument(
            field, "must name an agreement: environments/{environment}/agreements/{agreement}"
        )
    return parsed


def parse_child(name: str, collection: str, field: str = "name") -> tuple[str, str]:
    """`environments/{env}/{collection}/{id}` for runtime objects; ids like environment ids."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "environments" or parts[2] != collection:
        raise InvalidArgument(field, f"must be environments/{{environment}}/{collection}/{{id}}")
    env = check_environment_id(parts[1], field)
    if not _ARTIFACT_ID.match(parts[3]) or ".." in parts[3]:
        raise InvalidArgument(field, "an id is 1 to 128 letters, digits, '.', '_' and '-'")
    return env, parts[3]


@dataclass(frozen=True)
class BackupName:
    environment: str
    backup_id: str

    def __str__(self) -> str:
        return f"environments/{self.environment}/backups/{self.backup_id}"


def parse_backup(name: str, field: str = "name") -> BackupName:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "environments" or parts[2] != "backups":
        raise InvalidArgument(field, "must be environments/{environment}/backups/{backup}")
    env = check_environment_id(parts[1], field)
    if not _BACKUP_ID.match(parts[3]):
        raise InvalidArgument(field, "a backup id is YYYYMMDD-HHMMSS-xxxxxx")
    return BackupName(env, parts[3])


def is_backup_id(value: str) -> bool:
    return bool(_BACKUP_ID.match(value))


def parse_operation(name: str, field: str = "name") -> str:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "operations" or not _OP_ID.match(parts[1]):
        raise InvalidArgument(field, "must be operations/{32 hex digits}")
    return parts[1]


# Restore drills restore into sandboxes named `drill-` and 12 hex digits (the
# start of the drill's operation id). The names are reserved, and sandboxes are
# left out of every listing and every rule that looks at live environments.
SANDBOX_GLOB = "drill-" + "[0-9a-f]" * 12  # SQLite GLOB
_SANDBOX = re.compile(r"^drill-[0-9a-f]{12}\Z")


def is_sandbox(env_id: str) -> bool:
    return bool(_SANDBOX.match(env_id))


def sandbox_id(op_id: str) -> str:
    return f"drill-{op_id[:12]}"


def check_not_reserved(env_id: str, field: str = "environment_id") -> str:
    if is_sandbox(env_id):
        raise InvalidArgument(
            field, "names of the form drill-{12 hex digits} are reserved for restore drills"
        )
    return env_id

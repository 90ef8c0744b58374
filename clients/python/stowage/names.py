"""Resource names and the spellings of enums that callers pass as text.

Environments are ``environments/{id}``; artifacts are
``environments/{id}/{collection}/{artifact}``, where the collection follows the
artifact kind. Callers may pass an environment as its id or its full name.
"""

from __future__ import annotations

from stowage.v1 import common_pb2
from stowage.v1 import environments_pb2 as env_pb

COLLECTIONS: dict[env_pb.ArtifactKind.ValueType, str] = {
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
KINDS: dict[str, env_pb.ArtifactKind.ValueType] = {
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
KIND_NAMES: dict[env_pb.ArtifactKind.ValueType, str] = {v: k for k, v in KINDS.items()}
EDITIONS: dict[str, common_pb2.Edition.ValueType] = {
    "developer": common_pb2.EDITION_DEVELOPER,
    "basic": common_pb2.EDITION_BASIC,
    "standard": common_pb2.EDITION_STANDARD,
    "premium": common_pb2.EDITION_PREMIUM,
}


def environment_name(env: str) -> str:
    """``environments/{env}`` for an id; a full name unchanged."""
    return env if env.startswith("environments/") else f"environments/{env}"


def artifact_kind(kind: str | int) -> env_pb.ArtifactKind.ValueType:
    """An artifact kind from its CLI spelling ("x12-mapping") or its enum number."""
    return KINDS[kind] if isinstance(kind, str) else env_pb.ArtifactKind.ValueType(kind)


def edition(value: str | int) -> common_pb2.Edition.ValueType:
    """An edition from its lowercase name ("premium") or its enum number."""
    return EDITIONS[value] if isinstance(value, str) else common_pb2.Edition.ValueType(value)


def policy_name(env: str) -> str:
    """``environments/{env}/backupPolicy``: an environment's backup policy."""
    return f"{environment_name(env)}/backupPolicy"


def artifact_name(env: str, kind: str | int, artifact_id: str) -> str:
    return f"{environment_name(env)}/{COLLECTIONS[artifact_kind(kind)]}/{artifact_id}"

"""Roles and the one table of which role each gRPC method needs.

Every method of every service the server serves has a row here. A method with
no row is denied to every caller, admins included: a new RPC stays closed
until someone decides who may call it (tests walk every method through server
reflection and fail on a missing row).

    viewer    reads: get, list, watch, status
    operator  viewer, plus backups, restore dry runs (validate_only), restore
              drills (DrillBackup), diffs, acknowledging checklist items,
              verify, copies, environment and artifact management, artifact
              content
    admin     operator, plus restore, deletes, prune, key rotation and reading
              secrets (GetEnvironment with view FULL)

A row may raise the role for some requests (a real restore needs more than a
dry run) and may mark calls for the audit log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stowage.v1 import environments_pb2 as env_pb


class Role(enum.IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def word(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use viewer, operator or admin") from None


VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Rule:
    """Who may call a method. ``admin_if`` raises the role to admin for the
    requests it is true of; ``audit_if`` (or ``audited``) puts the call in the
    audit log. Predicates read fields with getattr, as a request that failed a
    size limit reaches them as a placeholder."""

    role: Role
    admin_if: Predicate | None = None
    audited: bool = False
    audit_if: Predicate | None = None

    def required(self, request: Any) -> Role:
        if self.admin_if is not None and self.admin_if(request):
            return ADMIN
        return self.role

    def audits(self, request: Any) -> bool:
        return self.audited or (self.audit_if is not None and self.audit_if(request))


def _reads_secrets(request: Any) -> bool:
    return getattr(request, "view", 0) == env_pb.ENVIRONMENT_VIEW_FULL


def _real_restore(request: Any) -> bool:
    return not getattr(request, "validate_only", False)


ENV = "stowage.v1.EnvironmentService/"
BACKUP = "stowage.v1.BackupService/"
OPS = "stowage.v1.OperationService/"
REPO = "stowage.v1.RepositoryService/"
BLOB = "stowage.v1.BlobService/"

RULES: dict[str, Rule] = {
    # Environments and their settings; secrets are read by admins only.
    ENV + "ProvisionEnvironment": Rule(OPERATOR),
    ENV + "GetEnvironment": Rule(VIEWER, admin_if=_reads_secrets, audit_if=_reads_secrets),
    ENV + "ListEnvironments": Rule(VIEWER),
    ENV + "UpdateEnvironment": Rule(OPERATOR),
    ENV + "DeleteEnvironment": Rule(ADMIN, audited=True),
    ENV + "SuspendEnvironment": Rule(OPERATOR),
    ENV + "ResumeEnvironment": Rule(OPERATOR),
    # Closing a restored environment's checklist item by hand may unblock a
    # resume: an operator's call, on the record.
    ENV + "AcknowledgeChecklistItem": Rule(OPERATOR, audited=True),
    # Artifacts: headers are for viewers, content (certificates, partner data) is not.
    ENV + "PutArtifact": Rule(OPERATOR),
    ENV + "GetArtifact": Rule(VIEWER),
    ENV + "ReadArtifact": Rule(OPERATOR),
    ENV + "ListArtifacts": Rule(VIEWER),
    ENV + "DeleteArtifact": Rule(OPERATOR, audited=True),
    ENV + "ImportArtifacts": Rule(OPERATOR),
    ENV + "ExportArtifacts": Rule(OPERATOR),
    # Runtime state.
    ENV + "IssueControlNumbers": Rule(OPERATOR),
    ENV + "ListControlNumbers": Rule(VIEWER),
    ENV + "RecordAs2Message": Rule(OPERATOR),
    ENV + "AddBatchMessage": Rule(OPERATOR),
    ENV + "ReleaseBatch": Rule(OPERATOR),
    ENV + "ListBatches": Rule(VIEWER),
    ENV + "CreateHybridConnection": Rule(OPERATOR),
    ENV + "DeleteHybridConnection": Rule(OPERATOR, audited=True),
    ENV + "ListHybridConnections": Rule(VIEWER),
    # Backups: a dry-run restore is a drill (operator), a real one is admin's.
    BACKUP + "CreateBackup": Rule(OPERATOR, audited=True),
    BACKUP + "GetBackup": Rule(VIEWER),
    BACKUP + "ListBackups": Rule(VIEWER),
    BACKUP + "DeleteBackup": Rule(ADMIN, audited=True),
    BACKUP + "RestoreBackup": Rule(OPERATOR, admin_if=_real_restore, audited=True),
    BACKUP + "GetBackupStatus": Rule(VIEWER),
    BACKUP + "CopyBackup": Rule(OPERATOR, audited=True),
    # A drill restores into a sandbox it deletes; a diff shows no secret. Both
    # are the operator's; a restore into an existing environment is a real
    # restore (RestoreBackup above: admin).
    BACKUP + "DrillBackup": Rule(OPERATOR, audited=True),
    BACKUP + "DiffBackup": Rule(OPERATOR),
    # Backup policies: the issue puts policies with the operator.
    BACKUP + "GetBackupPolicy": Rule(VIEWER),
    BACKUP + "SetBackupPolicy": Rule(OPERATOR, audited=True),
    BACKUP + "DeleteBackupPolicy": Rule(OPERATOR, audited=True),
    # Operations.
    OPS + "GetOperation": Rule(VIEWER),
    OPS + "ListOperations": Rule(VIEWER),
    OPS + "WatchOperation": Rule(VIEWER),
    OPS + "CancelOperation": Rule(OPERATOR),
    # Repository maintenance.
    REPO + "VerifyRepository": Rule(OPERATOR),
    REPO + "PruneRepository": Rule(ADMIN, audited=True),
    REPO + "RotateKey": Rule(ADMIN, audited=True),
    # Blobs: uploads ahead of PutArtifact. The named-object calls are the
    # sidecar's; on the server they touch nothing, but stay admin's.
    BLOB + "FindMissingBlobs": Rule(OPERATOR),
    BLOB + "WriteBlob": Rule(OPERATOR),
    BLOB + "ReadBlob": Rule(OPERATOR),
    BLOB + "WriteObject": Rule(ADMIN),
    BLOB + "ReadObject": Rule(ADMIN),
    BLOB + "StatObject": Rule(ADMIN),
    BLOB + "ListObjects": Rule(ADMIN),
    BLOB + "DeleteObject": Rule(ADMIN, audited=True),
    # Server reflection describes the API: for any caller with a token.
    "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": Rule(VIEWER),
    "grpc.reflection.v1.ServerReflection/ServerReflectionInfo": Rule(VIEWER),
}

# Answered without a token: load balancers and orchestrators probe health.
PUBLIC = frozenset(
    {
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.health.v1.Health/List",
    }
)


def rule(method: str) -> Rule | None:
    """The rule of a full method name (``stowage.v1.BackupService/GetBackup``);
    None means nobody may call it."""
    return RULES.get(method)

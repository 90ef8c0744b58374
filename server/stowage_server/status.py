"""Domain errors as google.rpc.Status, with ErrorInfo and the detail that fits
(BadRequest for fields, PreconditionFailure for rules). AIP-193."""

from __future__ import annotations

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from .errors import StowageError

DOMAIN = "stowage"


def to_status(err: StowageError) -> status_pb2.Status:
    details = []
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=err.metadata)
    details.append(info)
    if err.violations:
        if err.code.name == "INVALID_ARGUMENT":
            details.append(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.subject, description=v.description
                        )
                        for v in err.violations
                    ]
                )
            )
        else:
            details.append(
                error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type=v.type or err.reason, subject=v.subject, description=v.description
                        )
                        for v in err.violations
                    ]
                )
            )
    packed = []
    for d in details:
        a = any_pb2.Any()
        a.Pack(d)
        packed.append(a)
    return status_pb2.Status(code=err.code.value[0], message=err.message, details=packed)


def internal_status(
    message: str = "internal error; the server log has the details",
) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN)
    a = any_pb2.Any()
    a.Pack(info)
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message, details=[a])


def simple_status(code: int, reason: str, message: str) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    a = any_pb2.Any()
    a.Pack(info)
    return status_pb2.Status(code=code, message=message, details=[a])

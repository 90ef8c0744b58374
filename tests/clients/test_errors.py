"""Every ErrorReason has its exception class, and failed calls raise it."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from stowage import errors
from stowage.client import Client
from stowage.v1 import error_reason_pb2


def camel(reason: str) -> str:
    return "".join(part.capitalize() for part in reason.split("_"))


REASONS = [
    name for name in error_reason_pb2.ErrorReason.keys() if name != "ERROR_REASON_UNSPECIFIED"
]


def test_every_error_reason_has_a_class_named_after_it() -> None:
    assert set(errors.BY_REASON) == set(REASONS)
    for reason in REASONS:
        cls = getattr(errors, camel(reason))
        assert issubclass(cls, errors.StowageError)
        assert cls.reason_name == reason
        assert errors.BY_REASON[reason] is cls


@pytest.mark.parametrize("reason", REASONS)
def test_a_status_becomes_its_typed_exception_with_metadata_and_violations(reason: str) -> None:
    info, failure = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="stowage", metadata={"k": "v"}))
    failure.Pack(
        error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="EDITION", subject="environments/x", description="too low"
                )
            ]
        )
    )
    status = status_pb2.Status(
        code=grpc.StatusCode.FAILED_PRECONDITION.value[0], message="no", details=[info, failure]
    )
    e = errors.from_status(status)
    assert type(e) is errors.BY_REASON[reason]
    assert (e.code, e.reason, e.message) == (grpc.StatusCode.FAILED_PRECONDITION, reason, "no")
    assert e.metadata == {"k": "v"}
    assert e.violations == [errors.Violation("environments/x", "too low", "EDITION")]
    assert str(e) == f"FAILED_PRECONDITION {reason}: no"


def test_an_unknown_reason_raises_the_base_class() -> None:
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason="FROM_A_NEWER_SERVER"))
    e = errors.from_status(status_pb2.Status(code=9, message="later", details=[info]))
    assert type(e) is errors.StowageError and e.reason == "FROM_A_NEWER_SERVER"


def test_a_failed_call_raises_the_typed_exception(client: Client) -> None:
    client.provision("typed", "premium")
    backup = client.create_backup("typed").result().backup
    with pytest.raises(errors.RestoreEditionTooLow) as too_low:
        client.restore(backup.name, "typed-low", edition="basic")
    assert too_low.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert too_low.value.metadata["backup_edition"]
    with pytest.raises(errors.EnvironmentNotFound):
        client.get_environment("absent")

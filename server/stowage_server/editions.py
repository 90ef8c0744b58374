"""Which editions offer backup and restore (R1), and how editions compare (R5)."""

from __future__ import annotations

from stowage.v1 import common_pb2

from . import names
from .config import EDITION_NAMES
from .errors import FailedPrecondition


def edition_name(edition: int) -> str:
    """The API name, EDITION_PREMIUM: what ErrorInfo metadata carries; the
    number for a value this server does not know (a manifest may hold one)."""
    if edition not in common_pb2.Edition.values():
        return str(edition)
    return common_pb2.Edition.Name(edition)


def edition_word(edition: int) -> str:
    """The word people use, premium: what messages say."""
    return EDITION_NAMES.get(edition, "unspecified")


class EditionPolicy:
    def __init__(self, allowed: frozenset[int]) -> None:
        self.allowed = allowed

    def allows(self, edition: int) -> bool:
        return edition in self.allowed

    def require(self, edition: int, feature: str, env_id: str) -> None:
        if edition not in self.allowed:
            offered = ", ".join(EDITION_NAMES[e] for e in sorted(self.allowed)) or "none"
            raise FailedPrecondition(
                "EDITION_NOT_SUPPORTED",
                f"{feature} is not available for {edition_word(edition)} environments "
                f"(offered for: {offered})",
                metadata={
                    "edition": edition_name(edition),
                    "feature": feature,
                    "environment": names.environment_name(env_id),
                },
            )

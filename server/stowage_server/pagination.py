"""Page sizes and opaque page tokens (AIP-158)."""

from __future__ import annotations

import base64
import json
from typing import Any

from .errors import InvalidArgument

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return min(value or DEFAULT_PAGE, MAX_PAGE)


def encode_token(kind: str, position: Any) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, kind: str, field: str = "page_token") -> Any:
    """The position stored in a token of this kind; None for an empty token."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["k"] != kind:
            raise ValueError
        return data["p"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(field, "not a page token of this list") from None

"""How the CLI prints: aligned tables, JSON, sizes, times, masked secrets and
the one-line error."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from stowage.v1 import common_pb2


class CommandError(Exception):
    """A failure found by the CLI itself (bad flag value, unreadable file).

    ``status`` is the exit status: 2 for usage errors, 1 for anything else.
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def error_line(message: str) -> None:
    # Exactly one line, whatever the server put in its message.
    text = " ".join(str(message).split())
    sys.stdout.flush()
    print(f"error: {text}", file=sys.stderr, flush=True)


# -- JSON ----------------------------------------------------------------------


def message_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def print_json(message: Message | dict[str, Any]) -> None:
    if isinstance(message, Message):
        print(json_format.MessageToJson(message))
    else:
        print(json.dumps(message, indent=2, ensure_ascii=False))


def print_json_items(messages: Iterable[Message]) -> None:
    print_json({"items": [message_dict(m) for m in messages]})


def print_json_line(message: Message) -> None:
    """One compact object per line, for streams a program reads line by line."""
    print(json.dumps(message_dict(message), separators=(",", ":"), ensure_ascii=False), flush=True)


# -- tables --------------------------------------------------------------------


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, right: Iterable[int] = ()
) -> None:
    """Columns padded to their widest cell, two spaces apart; ``right`` aligns
    the given column indexes to the right (numbers, sizes)."""
    cells = [[str(h) for h in headers]] + [
        ["-" if c in (None, "") else str(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = set(right)
    for row in cells:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        print("  ".join(parts).rstrip())


def print_fields(pairs: Iterable[tuple[str, Any]], indent: str = "") -> None:
    """A "name  value" listing for one resource."""
    pairs = [(k, "-" if v in (None, "") else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        print(f"{indent}{key.ljust(width)}  {value}")


# -- values --------------------------------------------------------------------


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def utc(ts: Timestamp | None) -> str:
    """UTC ``YYYY-MM-DD HH:MM:SS``; "-" when unset."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return "-"
    return datetime.fromtimestamp(ts.seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def human_duration(start: Timestamp, end: Timestamp) -> str:
    if not start.seconds or not end.seconds:
        return "-"
    seconds = max(0.0, (end.ToNanoseconds() - start.ToNanoseconds()) / 1e9)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def edition_text(edition: int) -> str:
    known = edition in common_pb2.Edition.values()
    name = common_pb2.Edition.Name(common_pb2.Edition.ValueType(edition)) if known else str(edition)
    return name.removeprefix("EDITION_").lower()


def enum_text(enum: Any, value: int, prefix: str) -> str:
    """``STATE_ACTIVE`` as ``ACTIVE``; unknown numbers as themselves."""
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


def secret_text(secret: common_pb2.Secret) -> str:
    """A secret as the CLI shows it unless asked for values: set or not, and a
    short fingerprint to tell values apart."""
    if not secret.set:
        return "-"
    return (
        f"set (fingerprint {secret.fingerprint[:8]}{_ellipsis()})" if secret.fingerprint else "set"
    )


def short_id(name: str) -> str:
    """The last segment of a resource name."""
    return name.rsplit("/", 1)[-1]


def check_mark(passed: bool) -> str:
    if not _printable("✓✗"):
        return "ok" if passed else "FAIL"
    return "✓" if passed else "✗"


def _ellipsis() -> str:
    return "…" if _printable("…") else "..."


def _printable(text: str) -> bool:
    # An output that cannot encode a character gets ASCII instead of a crash.
    try:
        text.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True

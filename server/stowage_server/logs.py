"""The server's log lines: readable text for people, or one JSON object per line
for log collectors (``--log-format json``).

Who a line is about travels in context variables: the operation, its
environment, the caller and the gRPC method. The request interceptor and the
operation manager bind them; every line logged in that request or operation
task, and in the tasks it starts, carries them without passing them down
through the engines. Blocking code in worker threads runs outside that context.

Extra facts for one line go in ``extra={"fields": {...}}``. Nothing here knows
which values are secret: callers never log settings values or keys.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

# Context fields, in the order text lines show them; a field is left out when unknown.
CONTEXT_FIELDS = ("operation", "environment", "method", "caller")
_context = {
    name: contextvars.ContextVar[str | None](f"stowage_log_{name}", default=None)
    for name in CONTEXT_FIELDS
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def bind(**fields: str | None) -> None:
    """Sets context fields for the rest of the current task (each task has its own copy)."""
    for name, value in fields.items():
        _context[name].set(value or None)


def current() -> dict[str, str]:
    """The context fields set in the current task."""
    return {name: v for name, var in _context.items() if (v := var.get()) is not None}


class ContextFilter(logging.Filter):
    """Stamps each record with the context of the code that logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _facts(record: logging.LogRecord) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            facts[name] = value
    facts.update(getattr(record, "fields", None) or {})
    return facts


class JsonFormatter(logging.Formatter):
    """One JSON object per line; tracebacks stay inside the object."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _facts(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The message, then its context and facts as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        facts = _facts(record)
        if facts:
            text += " [" + " ".join(f"{k}={v}" for k, v in facts.items()) + "]"
        return text


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure(level: str, fmt: str) -> None:
    """Sends every log line, and Python's warnings, to stderr in the given format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    wanted = getattr(logging, str(level).upper(), logging.INFO)
    # Debug lines are the server's own; grpc's and asyncio's would drown them.
    root.setLevel(max(wanted, logging.INFO))
    logging.getLogger("stowage").setLevel(wanted)
    logging.captureWarnings(True)

"""Showing an operation's events as they arrive.

Three forms: a single-line bar redrawn in place when stderr is a terminal; one
plain line per event otherwise (logs, CI); one compact JSON object per event
with ``--json``. Warnings and plain lines go to stdout, so that stderr carries
nothing but the bar and, on failure, the one error line.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from stowage.operation import Operation, operation_error
from stowage.v1 import operations_pb2 as ops_pb

from .output import CommandError, enum_text, human_bytes, print_json_line

BAR_WIDTH = 20


class ProgressView:
    """Renders OperationEvents; ``close()`` ends the bar's line."""

    def __init__(
        self,
        *,
        json_lines: bool = False,
        show_warnings: bool = True,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.show_warnings = show_warnings
        if json_lines:
            self.mode = "json"
        elif self.err.isatty():
            self.mode = "bar"
        else:
            self.mode = "lines"
        self._drawn = 0  # characters of the bar currently on screen
        self._sized: ops_pb.Progress | None = None  # the latest progress with totals

    def start(self, title: str) -> None:
        """Names what is watched, so an interrupted watch can be found again."""
        if self.mode == "bar":
            print(title, file=self.err, flush=True)
        elif self.mode == "lines":
            print(title, file=self.out, flush=True)

    def show(self, event: ops_pb.OperationEvent) -> None:
        if self.mode == "json":
            print_json_line(event)
            return
        if event.warning and self.show_warnings:
            self._clear()
            print(f"warning: {event.warning}", file=self.out, flush=True)
        if self.mode == "bar":
            self._draw(bar_line(self._shown_progress(event), self._width()))
        else:
            print(plain_line(event), file=self.out, flush=True)

    def _shown_progress(self, event: ops_pb.OperationEvent) -> ops_pb.Progress:
        # Each phase restarts the counters at zero; a bar that ends on "0/?"
        # after a success would mislead, so it ends full at the last totals.
        p = event.progress
        if p.items_total or p.bytes_total:
            self._sized = p
        if event.state == ops_pb.Operation.STATE_SUCCEEDED and self._sized is not None:
            s = self._sized
            return ops_pb.Progress(
                phase=p.phase or "done",
                items_done=s.items_total,
                items_total=s.items_total,
                bytes_done=s.bytes_total,
                bytes_total=s.bytes_total,
            )
        if event.state in (ops_pb.Operation.STATE_FAILED, ops_pb.Operation.STATE_CANCELLED):
            done = ops_pb.Progress()
            done.CopyFrom(p)
            done.phase = enum_text(ops_pb.Operation.State, event.state, "STATE_").lower()
            return done
        return p

    def close(self) -> None:
        if self._drawn:
            self.err.write("\n")
            self.err.flush()
            self._drawn = 0

    def _draw(self, line: str) -> None:
        # Pad over the previous, possibly longer, line instead of relying on escapes.
        self.err.write("\r" + line.ljust(self._drawn))
        self.err.flush()
        self._drawn = len(line)

    def _clear(self) -> None:
        if self._drawn:
            self.err.write("\r" + " " * self._drawn + "\r")
            self.err.flush()
            self._drawn = 0

    def _width(self) -> int:
        # One column short: writing the last column makes some terminals wrap.
        return max(20, shutil.get_terminal_size((80, 24)).columns - 1)


def bar_line(p: ops_pb.Progress, width: int) -> str:
    percent = _percent(p)
    filled = round(BAR_WIDTH * percent / 100) if percent is not None else 0
    parts = [
        f"{p.phase or 'queued':<8}",
        "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]",
        f"{percent:>3.0f}%" if percent is not None else "   -",
        f"{p.items_done}/{p.items_total or '?'} items",
        f"{human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total) if p.bytes_total else '?'}",
    ]
    if p.current_item:
        parts.append(p.current_item)
    line = "  ".join(parts)
    return line if len(line) <= width else line[: width - 3] + "..."


def plain_line(event: ops_pb.OperationEvent) -> str:
    p = event.progress
    bytes_total = human_bytes(p.bytes_total) if p.bytes_total else "?"
    line = (
        f"{event.sequence} {p.phase or 'queued'} items {p.items_done}/{p.items_total or '?'} "
        f"bytes {human_bytes(p.bytes_done)}/{bytes_total}"
    )
    return f"{line} {p.current_item}" if p.current_item else line


def _percent(p: ops_pb.Progress) -> float | None:
    if p.bytes_total:
        return min(100.0, 100.0 * p.bytes_done / p.bytes_total)
    if p.items_total:
        return min(100.0, 100.0 * p.items_done / p.items_total)
    return None


def watch(handle: Operation, view: ProgressView) -> ops_pb.Operation:
    """Shows every event until the terminal one; returns the finished operation
    or raises its error. Ctrl-C stops watching, not the operation."""
    try:
        for event in handle.progress():
            view.show(event)
    except KeyboardInterrupt:
        view.close()
        raise CommandError(
            f"interrupted; {handle.name} keeps running: follow it with 'stowage op watch "
            f"{handle.name}' or stop it with 'stowage op cancel {handle.name}'",
            130,
        ) from None
    finally:
        view.close()
    op = handle.operation
    if not op.done:
        # The stream ended without a terminal event; ask for the latest state.
        op = handle.refresh()
    if op.state != ops_pb.Operation.STATE_SUCCEEDED:
        raise operation_error(op)
    return op

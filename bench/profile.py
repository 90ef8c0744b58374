"""Where the server's time goes during a phase: py-spy samples its Python
stacks (on-CPU threads only), and a summary ranks functions by samples.

py-spy is not a dependency of the project: `.venv/bin/pip install py-spy`.
Sampling takes CPU from a 2-core machine, so timings of a profiled run are
disturbed, and the runner says so.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

RATE = 200  # samples per second
# py-spy attaches in the background; the phase starts once it surely has.
ATTACH = 0.5


def find() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profile:
    """``with Profile(pid, folded_path): work()``; writes collapsed stacks
    (one ``frame;frame;... count`` line per stack, flamegraph input)."""

    def __init__(self, binary: str, pid: int, output: Path) -> None:
        self.args = [
            binary, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
            "--threads", "--nonblocking", "--output", str(output),
        ]
        self.output = output
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profile:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(ATTACH)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _function(frame: str) -> str:
    # "name (path/to/module.py:123)" -> "name (module.py)"; line numbers
    # would split one function into many rows.
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({'/'.join(Path(file).parts[-2:])})" if file else name


def _thread(root: str) -> str:
    # "thread (16927): stowage_1" -> "stowage_*": the executor's workers as one.
    name = root.split(": ", 1)[-1]
    return re.sub(r"_\d+$", "_*", name)


def summarize(folded: Path, top: int = 25) -> str:
    """Functions ranked by samples in which they run themselves (self) and in
    which they are on the stack (total), and the split between threads."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        samples += count
        threads[_thread(frames[0])] += count
        functions = [_function(f) for f in frames[1:]]
        if functions:
            own[functions[-1]] += count
        for f in set(functions):
            total[f] += count
    if not samples:
        return "no samples (the server was idle, or py-spy could not attach)\n"
    lines = [f"{samples} samples at {RATE}/s ({samples / RATE:.1f} CPU-seconds sampled)", ""]
    lines.append("threads:")
    lines += [f"  {n / samples:6.1%}  {t}" for t, n in threads.most_common(8)]
    for title, counter in (("self", own), ("total (on the stack)", total)):
        lines += ["", f"{title}:"]
        lines += [f"  {n / samples:6.1%}  {f}" for f, n in counter.most_common(top)]
    return "\n".join(lines) + "\n"

"""Helper processes the suite started: ending one (politely first, then for sure, always bounded)
and reading what CPU a process has spent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["cpu_seconds", "end"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace_s: float = 10.0) -> None:
    """SIGTERM, up to `grace_s` to exit, then SIGKILL; returns once the process is reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)

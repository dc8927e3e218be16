"""Ending a helper process the suite started: politely first, then for sure, always bounded."""

from __future__ import annotations

import subprocess

__all__ = ["end"]


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

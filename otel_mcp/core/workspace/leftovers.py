"""Private temp folders of servers that died without cleaning up, found and removed at the next start.

A folder otel-mcp creates in the temp dir holds an `owner` file: the creating process's pid and its
start time (from /proc, so a reused pid is not mistaken for the owner). At start, folders with our
prefixes whose owner is gone are removed; folders of live servers, of other users, or without an
owner file younger than a day are left alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["PREFIXES", "claim", "remove_leftovers"]

PREFIXES = ("otel-mcp-codestate-", "otel-mcp-check-", "otel-mcp-run-")
_UNOWNED_GRACE_S = 86_400


def _started(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # starttime, field 22 of the whole line
    except (OSError, IndexError):
        return None


def claim(folder: Path) -> None:
    """Mark `folder` as this process's, so a later start can tell whether its owner still runs."""
    pid = os.getpid()
    (folder / "owner").write_text(f"{pid} {_started(pid) or '-'}\n")


def _owner_alive(folder: Path) -> bool | None:
    try:
        pid_text, started = (folder / "owner").read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    now = _started(pid)
    return now is not None and (started == "-" or now == started)


def remove_leftovers(temp_dir: str | None = None) -> list[str]:
    """Remove our folders in the temp dir whose owner process is gone; returns the paths removed."""
    base = Path(temp_dir or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return []
    uid = os.getuid()
    for entry in entries:
        if not entry.name.startswith(PREFIXES):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != uid or not entry.is_dir(follow_symlinks=False):
            continue
        alive = _owner_alive(Path(entry.path))
        if alive is None and time.time() - st.st_mtime < _UNOWNED_GRACE_S:
            continue
        if not alive:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed

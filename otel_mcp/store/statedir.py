"""The folder otel-mcp keeps its state in (the store, the attestation key, the spool), made private and git-ignored.

The default folder is `.otel-mcp/` inside the user's repository. Left visible to git, `git add -A`
would commit the telemetry database and, worse, the attestation key that signs every runner span.
A folder otel-mcp creates therefore gets a `.gitignore` of `*`, as pytest and mypy do for their
caches; a folder that already existed is the user's and is left as it is.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["make_state_dir"]

_IGNORE_ALL = "# Made by otel-mcp: its store and attestation key are never committed.\n*\n"


def make_state_dir(directory: Path, mode: int = 0o700) -> None:
    """Create `directory` (and its parents) if missing; a folder made here is ignored by git."""
    if directory.is_dir():
        return
    directory.mkdir(mode=mode, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # another process wrote it first, or a read-only place: not fatal
        fd = os.open(directory / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, _IGNORE_ALL.encode("ascii"))
        finally:
            os.close(fd)

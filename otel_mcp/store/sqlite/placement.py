"""Whether a store's path still leads to the file a process opened, and if not, what happened, in words.

A server keeps its SQLite file open for days. Deleted, replaced (a restore, a sync tool's
`os.replace`) or moved, the path then names another file or none, while the server would go on
writing the unlinked one: every write acknowledged, every one lost when the process exits. The
store compares the path's (st_dev, st_ino) with the open file's, one stat, before each commit.

The file is also held open here (read-only) to tell deleted from moved by its link count. SQLite's
POSIX locks are per process and inode: closing any descriptor of the file drops them all, so this
one is closed only after SQLite's own connections are.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["Placement"]


class Placement:
    """The file opened at `path`, and whether the path still leads to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        st = os.fstat(self._fd)
        self._key = (st.st_dev, st.st_ino)

    def displaced(self) -> str | None:
        """None while the path leads to the opened file; else what happened and what to do."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        except OSError:  # a folder made unreadable is a different trouble; the write itself reports it
            return None
        if st is not None and (st.st_dev, st.st_ino) == self._key:
            return None
        links = os.fstat(self._fd).st_nlink if self._fd is not None else 0
        return _message(
            self.path, gone=st is None, links=links, other_device=st is not None and st.st_dev != self._key[0]
        )

    def close(self) -> None:
        """Call only after every SQLite connection to the file is closed (see the module's note)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _message(path: Path, *, gone: bool, links: int, other_device: bool) -> str:
    stopped = "this server stopped writing it, so nothing it acknowledges can vanish with the old file"
    if links > 0:
        what = "moved or renamed" + (" (or another file took its place)" if not gone else "")
        cure = (
            "Move it back, or point OTEL_MCP_DB at its new place, and restart the server (reload otel-mcp in the host)"
        )
    elif gone:
        what = "deleted"
        cure = (
            "Restore it from a copy if its records are needed, then restart the server (reload otel-mcp in the "
            f"host): a new store is created at {path} if none is there"
        )
    else:
        what = "replaced by another file" + (" on another device (a mount over its folder?)" if other_device else "")
        cure = f"Restart the server (reload otel-mcp in the host) to use the file now at {path}"
    return f"the telemetry store {path} was {what} while this server had it open; {stopped}. {cure}"

"""Held files: the files of a watched tree that someone may be able to write without an event.

A directory watch reports an open event for every file opened through that directory, and a
modify or close-after-write event for writes through a descriptor, but nothing at all for writes
through a shared memory mapping (a mapping keeps its descriptor alive, so even the close comes
only when it is unmapped). So a file opened since we last looked is *held*: it could carry a
writable mapping. Counting opens against closes cannot say when that ends: the kernel merges two
identical events in a row, so two opens can arrive as one. Instead a held file is probed: a read
lease (`F_SETLEASE`) is granted only while nobody has the file open for writing (a mapping's
descriptor included). Granted, nobody can write it unseen from then on: an open for writing waits
until the probe's descriptor is closed, and the probe's close event is queued before that open's
event. Refused, the file stays held and the next decision probes it again. Each probe writes back
the file's dirty pages, so a later write through a mapping moves mtime, and compares the file's
stat with the seal's record (see `seal`).

The probe's own open event is expected and not counted (one per probe, only where the directory
is watched). A file with more than one link is never released: a write through a link elsewhere
sends no event to this tree.
"""

from __future__ import annotations

import fcntl
import os
import signal
import stat

from otel_mcp.core.workspace.seal import Key, key_of, sync_pages

__all__ = ["HeldFiles", "probe"]

_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)
# A broken lease signals its holder (SIGIO by default, which ends a process): SIGURG is ignored.
_BREAK_SIGNAL = int(getattr(signal, "SIGURG", 23))
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def probe(path: str, *, write_back: bool = True) -> tuple[Key | None, bool, bool]:
    """(the file's seal key or None when gone, whether someone may hold it open for writing, whether
    the probe opened it). Holding it open for writing is assumed where a lease cannot be taken."""
    try:
        fd = os.open(path, _FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None, False, False
    except OSError:  # a symbolic link now (ELOOP), or unreadable: stat it, never trust it
        try:
            return key_of(os.lstat(path)), True, False
        except OSError:
            return None, False, False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return key_of(st), False, True
        try:
            fcntl.fcntl(fd, _F_SETSIG, _BREAK_SIGNAL)
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)  # kept until close: see the module docstring
            writer = False
        except OSError:  # EAGAIN: open for writing somewhere; EACCES/EINVAL: no lease here
            writer = True
        if write_back:
            sync_pages(fd, wait=False)  # never waits for the disk: a probe may run on an event loop
            st = os.fstat(fd)
        return key_of(st), writer, True
    finally:
        os.close(fd)


class HeldFiles:
    """The held files of one watched tree, by absolute path, and the probes' own pending open events."""

    def __init__(self) -> None:
        self.paths: set[str] = set()
        self._own: dict[str, int] = {}

    def opened(self, path: str) -> None:
        """An open event for `path`: held, unless a probe of ours caused it."""
        pending = self._own.get(path, 0)
        if pending > 1:
            self._own[path] = pending - 1
        elif pending == 1:
            del self._own[path]
        else:
            self.paths.add(path)

    def probed(self, path: str) -> None:
        """A probe opened `path` in a watched directory: its open event is ours."""
        self._own[path] = self._own.get(path, 0) + 1

    def reset(self) -> None:
        """Forget everything (the watches are rebuilt: events were lost)."""
        self.paths.clear()
        self._own.clear()

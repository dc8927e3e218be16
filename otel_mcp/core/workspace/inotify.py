"""Linux inotify through ctypes: watches, a non-blocking event queue, nothing else.

The kernel queues an event during the system call that causes it (open, write, rename, chmod ...),
so "the queue is empty" proves that no watched change completed since the last read. Writes through
a shared memory mapping are the exception: they are reported only when the mapping is released.
Two identical events in a row are merged into one, so events cannot be counted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "DIR_MASK",
    "FILE_MASK",
    "IN_ATTRIB",
    "IN_CLOEXEC",
    "IN_CLOSE_NOWRITE",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_DONT_FOLLOW",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_NONBLOCK",
    "IN_ONLYDIR",
    "IN_OPEN",
    "IN_Q_OVERFLOW",
    "TREE_MASK",
    "Event",
    "Inotify",
    "WatchLimit",
    "identity",
]

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_CLOSE_NOWRITE = 0x10
IN_OPEN = 0x20
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

_CHANGES = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF
DIR_MASK = _CHANGES | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW
FILE_MASK = _CHANGES | IN_DONT_FOLLOW  # on the file's inode: also sees writes through hard links elsewhere
TREE_MASK = DIR_MASK | IN_OPEN | IN_CLOSE_NOWRITE  # a directory, and every open of a child through it
_HEADER = struct.Struct("iIII")


class Event(NamedTuple):
    wd: int
    mask: int
    name: bytes


class WatchLimit(OSError):
    """The kernel refused another watch (fs.inotify.max_user_watches) or another instance."""


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        lib.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return lib


_LIBC = _libc()


class Inotify:
    """One inotify instance; raises OSError if the platform or the kernel offers none."""

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available on this platform")
        fd = _LIBC.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise (WatchLimit if err == errno.EMFILE else OSError)(err, os.strerror(err))
        self.fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def add_watch(self, path: bytes, mask: int) -> int | None:
        """The watch descriptor, or None if the path vanished or changed type meanwhile."""
        assert _LIBC is not None
        wd = int(_LIBC.inotify_add_watch(self.fd, path, mask))
        if wd >= 0:
            return wd
        err = ctypes.get_errno()
        if err in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise (WatchLimit if err == errno.ENOSPC else OSError)(err, f"{os.strerror(err)}: {os.fsdecode(path)}")

    def rm_watch(self, wd: int) -> None:
        assert _LIBC is not None
        _LIBC.inotify_rm_watch(self.fd, wd)  # fails only if the watch is already gone

    def pending(self) -> bool:
        """True if events wait in the queue (a poll with zero timeout: about a microsecond)."""
        return bool(self._poll.poll(0))

    def read(self, max_bytes: int | None = None) -> Iterator[Event]:
        """Every event queued now (at most `max_bytes` of them, read at once), without blocking."""
        while True:
            try:
                data = os.read(self.fd, max_bytes or 256 * 1024)
            except BlockingIOError:
                return
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + length].rstrip(b"\0")
                offset += length
                yield Event(wd, mask, name)
            if max_bytes is not None:
                return

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None when it is gone: a watched folder swapped for another shows here."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)

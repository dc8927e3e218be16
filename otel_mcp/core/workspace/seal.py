"""A stat seal: proof, taken from the disk at decision time, that a code state is still what is there.

Guards, hooks and check runs take it (decisions take the cheaper events proof, see `held`).
inotify is only a hint: a write through a shared memory mapping sends no event, nor does a write
through a hard link outside the watched directories. So before a cached state is trusted, every
file of the state, every directory that could receive a new one and git's own files (index, HEAD,
refs, config, excludes) are `lstat`ed and compared with what they were when the state was
computed: (device, inode, mode, size, mtime, ctime). ctime cannot be set from user space, so a
rename, a hard link, a chmod or a `touch -d` changes it, and no clock the agent controls dates it.

What Linux does to a file written through a shared mapping (measured on ext4, see the tests): the
first write to a clean page updates mtime and ctime; later writes to the same page, until it is
written back, change nothing. So before the content of a changed file is read, its dirty pages are
written back (`sync_file_range`), which write-protects them again: any later write through a
mapping faults and moves mtime/ctime, and the seal sees it. On filesystems that never write pages
back (tmpfs, ramfs) a mapping can keep writing without a trace, so there a seal never holds and
every call reads every file again.

An entry whose mtime or ctime lies within two seconds of the moment it was recorded is not trusted
(coarse timestamps could hide a second same-size write in the same tick): the seal then does not
hold, and the next decision reads it again until the file has been still for two seconds; read
again after that, it settles (`confirmed`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["RACY_NS", "Entries", "Key", "Seal", "flush_pages", "key_of", "pages_written_back", "sync_pages"]

RACY_NS = 2_000_000_000
Key = tuple[int, int, int, int, int, int]  # dev, ino, mode, size, mtime_ns, ctime_ns
_SYNC_WAIT_BEFORE, _SYNC_WRITE, _SYNC_WAIT_AFTER = 1, 2, 4
_NO_WRITEBACK = {0x01021994, 0x858458F6}  # tmpfs, ramfs: pages stay dirty, mappings stay writable
_now = time.time_ns  # the clock that dates a seal (tests move it)
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]


def key_of(st: os.stat_result) -> Key:
    return (st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _key(path: str) -> Key | None:
    st = _lstat(path)
    return None if st is None else key_of(st)


Entries = Callable[[str], list[tuple[str, bool]]]  # a directory's entries that count: (path, is a dir)


class Seal:
    """The disk identity of a tree's files and directories at one moment (see the module docstring).

    A directory counts by its identity and the entries in it that can hold code state, so a cache
    or the store written beside the code changes its mtime but not the seal. `linked` are the files
    that had more than one link when surveyed (a write through another name may send no event).
    """

    __slots__ = ("_dirs", "_keys", "_still", "linked", "taken_ns")

    def __init__(
        self,
        keys: dict[str, Key | None],
        dirs: dict[str, tuple[Key | None, frozenset[tuple[str, bool]]]],
        taken: int,
        linked: frozenset[str] = frozenset(),
    ) -> None:
        self._keys = keys
        self._dirs = dirs
        self.taken_ns = taken
        self.linked = linked
        self._still: set[str] = set()  # settling files read again after two still seconds

    @classmethod
    def survey(cls, root: str, entries: Entries, extra: Iterable[str] = (), older: Seal | None = None) -> Seal:
        """Stat the tree below `root` and the `extra` files; a directory `older` saw unchanged is
        not listed again (its entries can only change with its mtime and ctime)."""
        taken = _now()
        keys: dict[str, Key | None] = {}
        dirs: dict[str, tuple[Key | None, frozenset[tuple[str, bool]]]] = {}
        known = older._dirs if older is not None else {}
        linked: set[str] = set()
        stack = [root]
        while stack:
            here = stack.pop()
            key = _key(here)
            seen = known.get(here)
            names = seen[1] if seen is not None and seen[0] == key and key is not None else frozenset(entries(here))
            dirs[here] = (key, names)
            for path, is_dir in names:
                if is_dir:
                    stack.append(path)
                else:
                    st = _lstat(path)
                    keys[path] = None if st is None else key_of(st)
                    if st is not None and st.st_nlink > 1 and stat.S_ISREG(st.st_mode):
                        linked.add(path)
        for path in extra:
            keys.setdefault(path, _key(path))
        return cls(keys, dirs, taken, frozenset(linked))

    def with_files(self, paths: Iterable[str]) -> Seal:
        keys = dict(self._keys)
        for path in paths:
            keys.setdefault(path, _key(path))
        return Seal(keys, self._dirs, self.taken_ns, self.linked)

    def files(self) -> list[str]:
        """Every file recorded (of the tree and the extra ones)."""
        return list(self._keys)

    def recorded(self, path: str) -> tuple[bool, Key | None]:
        """(whether `path` is recorded, its key then: None if it did not exist)."""
        return path in self._keys, self._keys.get(path)

    def holds(self, entries: Entries) -> bool:
        """True if every file is exactly as recorded and every directory holds the same entries."""
        if not all(_key(path) == key for path, key in self._keys.items()):
            return False
        for path, (key, names) in self._dirs.items():
            now = _key(path)
            if now == key:
                continue
            if now is None or key is None or now[:3] != key[:3] or frozenset(entries(path)) != names:
                return False
        return True

    def settling(self, among: Iterable[str] | None = None) -> list[str]:
        """Files recorded within two seconds of a write (of `among` if given): a same-tick write could
        hide behind their stat."""
        recent = self.taken_ns - RACY_NS
        keys = self._keys.items() if among is None else ((p, self._keys.get(p)) for p in among)
        return [p for p, k in keys if k is not None and (k[4] >= recent or k[5] >= recent) and p not in self._still]

    def confirmed(self, paths: Iterable[str]) -> None:
        """These settling files were just read again and hold the state's content: those whose record
        is two seconds old by now settle for good (any later write moves their mtime to a later tick)."""
        still = _now() - RACY_NS
        for path in paths:
            key = self._keys.get(path)
            if key is not None and key[4] <= still and key[5] <= still:
                self._still.add(path)

    def changed_since(self, older: Seal | None) -> list[str]:
        """The files and directories whose identity differs from `older`'s record (all without one)."""
        if older is None:
            return [*self._keys, *self._dirs]
        changed = [p for p, k in self._keys.items() if k is not None and older._keys.get(p) != k]
        return changed + [p for p, (k, _) in self._dirs.items() if older._dirs.get(p, (None,))[0] != k]


def flush_pages(paths: Iterable[str]) -> None:
    """Write back the dirty pages of regular files so later writes through a mapping move mtime."""
    if _sync_file_range is None:
        return
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    for path in paths:
        try:
            fd = os.open(path, flags)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                sync_pages(fd)
        finally:
            os.close(fd)


def sync_pages(fd: int, *, wait: bool = True) -> None:
    """Write back the dirty pages of the regular file open as `fd` (see `flush_pages`); `wait=False`
    only starts it, which already write-protects the pages it submits, without waiting for the disk."""
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, _SYNC_WAIT_BEFORE | _SYNC_WRITE | _SYNC_WAIT_AFTER if wait else _SYNC_WRITE)


class _StatFs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 120)]


def pages_written_back(root: Path) -> bool:
    """False on filesystems whose pages are never written back (a mapping there writes unseen)."""
    statfs = getattr(_libc, "statfs", None)
    if statfs is None or _sync_file_range is None:
        return False
    buf = _StatFs()
    if statfs(os.fsencode(root), ctypes.byref(buf)) != 0:
        return False
    return (buf.f_type & 0xFFFFFFFF) not in _NO_WRITEBACK

"""Knowing, in a few microseconds, that nothing the gate catalog was read from has changed.

`record_task` asks on every call whether a gate guards the transition, so the catalog must be
current on every call; by stats (the loader's own check) that is a dozen system calls and some path
handling each time. Instead, just before the loader reads, inotify is told to watch what it is
about to read: the gates directory, each YAML file's inode (a write through a hard link elsewhere
is reported only there), the directory holding it (the name replaced), and in git HEAD,
packed-refs and each directory on the way to HEAD's branch ref. The kernel queues an event during
the system call that makes a change, so an empty queue, with the directory's path still leading to
the same directory, proves that nothing the catalog depends on changed since it was read.

Any event, a queue overflow, a symlinked YAML file, a watch limit or a platform without inotify
and `quiet()` says no: the loader then checks by stats as before. Slower, never wrong.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from otel_mcp.core.workspace.inotify import DIR_MASK, FILE_MASK, Inotify, identity

__all__ = ["DefinitionWatch"]

_log = logging.getLogger(__name__)

# A directory watched for these names only (None: any change in it counts).
_Names = frozenset[bytes] | None


class DefinitionWatch:
    """The inotify watches over one catalog's sources: `arm()` before reading, `confirm()` after, `quiet()` to ask."""

    def __init__(self) -> None:
        self._ino: Inotify | None = None
        self._names: dict[int, _Names] = {}  # watch descriptor -> names that matter in it
        self._directory: Path | None = None
        self._identity: tuple[int, int] | None = None
        self._armed = False  # watches placed and nothing seen since
        self._confirmed = False  # a catalog was read entirely after the watches were placed
        self.failed: str | None = None

    def quiet(self) -> bool:
        """True only if the confirmed read's sources are certainly unchanged (one poll and one stat)."""
        if not self._confirmed or self._ino is None:
            return False
        try:
            if self._ino.pending():
                self._drain()
        except OSError as exc:
            self._fail(exc)
            return False
        if self._armed and (self._directory is None or identity(self._directory) != self._identity):
            self._armed = False  # a parent renamed or a symlink re-pointed: the path leads elsewhere now
        if not self._armed:
            self._confirmed = False
        return self._confirmed

    def arm(self, directory: Path, suffixes: tuple[str, ...], git: Iterable[tuple[Path, str]]) -> None:
        """Watch the sources of the read about to start: `directory`, its files ending in `suffixes`, and
        in git the (directory, name) pairs that say which commit HEAD is."""
        self._armed = self._confirmed = False
        if self.failed is not None:
            return
        found = identity(directory)
        if found is None:
            return
        try:
            self._reset()
            assert self._ino is not None
            if not self._watch(directory, DIR_MASK, None):
                return
            self._watch(directory.parent, DIR_MASK, frozenset([os.fsencode(directory.name)]))
            try:
                with os.scandir(directory) as scan:
                    files = [entry for entry in scan if entry.name.endswith(suffixes)]
            except (FileNotFoundError, NotADirectoryError):
                return  # gone meanwhile: the read that follows finds out, and the next one arms again
            for entry in files:
                if entry.is_symlink() or not self._watch(Path(entry.path), FILE_MASK, None):
                    return  # a link's target can change unseen; a file gone is a change anyway
            wanted: dict[Path, set[bytes]] = {}
            for parent, name in git:
                wanted.setdefault(parent, set()).add(os.fsencode(name))
            for parent, names in wanted.items():
                self._watch(parent, DIR_MASK, frozenset(names))
        except OSError as exc:
            self._fail(exc)
            return
        self._directory, self._identity, self._armed = directory, found, True

    def confirm(self) -> None:
        """The read that followed `arm()` completed: its result may be served while `quiet()`."""
        self._confirmed = self._armed

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None
        self._armed = self._confirmed = False

    def __del__(self) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.close()
        self._ino = Inotify()
        self._names = {}

    def _watch(self, path: Path, mask: int, names: _Names) -> bool:
        assert self._ino is not None
        wd = self._ino.add_watch(os.fsencode(path), mask)
        if wd is None:
            return False
        # One inode watched twice (a git dir that is also the common dir): the names add up.
        known = self._names.get(wd, frozenset())
        self._names[wd] = None if names is None or known is None else known | names
        return True

    def _drain(self) -> None:
        assert self._ino is not None
        for wd, _mask, name in self._ino.read():
            names = self._names.get(wd)
            # Also an overflow (wd -1), a watch gone, or the directory itself moved or deleted (no name).
            if wd not in self._names or names is None or not name or name in names:
                self._armed = False

    def _fail(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        _log.info("watching the gate definitions stopped (%s); they are checked by stats instead", self.failed)
        self.close()

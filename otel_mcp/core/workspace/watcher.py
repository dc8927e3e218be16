"""Knowing, for about a microsecond, that nothing which could change a code state happened.

Every directory of the workspace is watched except the ones that cannot hold code state (`.git`,
excluded names, the store's directory, directories git ignores as a whole); every file is watched
on its inode too, because a write through a hard link outside the workspace is reported only to
watches on the file itself. Git's own files that can change the state (the index, HEAD and its
branch, config, `info/exclude`, the global excludes file) are watched by name in their
directories. A new directory is watched, with everything below it, as soon as its event is read.

The caller's protocol: `changed()` answers from the event queue (no queued event, no change);
`begin()` right before computing a state (events read so far are accounted for by it), then
`settle()` with what the computation learnt; if `settle()` had to place watches on things that
existed during the computation, the computation must run again. Which directories git ignores as
a whole is asked for (`prune_due`) only after directories, ignore rules or git's files changed.
A queue overflow rebuilds the watches; a watch limit, a non-Linux platform or any error turns
watching off for good, and `changed()` then always says yes: slower, never wrong.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from otel_mcp.core.workspace.inotify import (
    DIR_MASK,
    FILE_MASK,
    IN_CREATE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Inotify,
    identity,
)
from otel_mcp.core.workspace.state import Exclusions

__all__ = ["TreeWatcher"]

_log = logging.getLogger(__name__)


class TreeWatcher:
    """The inotify watches of one workspace root (see the module docstring for the protocol)."""

    def __init__(self, root: Path, exclusions: Exclusions) -> None:
        self.root = root
        self._excl = exclusions
        self._ino: Inotify | None = None
        self._dirs: dict[int, str] = {}  # wd -> root-relative directory, "" for the root
        self._files: dict[int, str] = {}  # wd -> root-relative file
        self._outside: dict[int, set[bytes]] = {}  # wd -> names that matter in that directory
        self._pruned: frozenset[str] = frozenset()
        self._root_id: tuple[int, int] | None = None
        self._dirty = True
        self._rebuild = True
        self._layout_changed = True  # directories, ignore rules or the index changed
        self.prune_due = True  # the computation should report which directories git ignores
        self.failed: str | None = None

    def changed(self) -> bool:
        """True unless it is certain that nothing relevant changed since the last `begin()`."""
        if self._dirty or self.failed is not None or self._ino is None:
            return True
        try:
            if self._ino.pending():
                self._drain()
            if not self._dirty and identity(self.root) != self._root_id:
                self._dirty = True  # the root path now leads elsewhere (a parent was renamed)
        except Exception as exc:
            self._fail(exc)
        return self._dirty or self.failed is not None

    def begin(self) -> None:
        if self.failed is not None:
            return
        try:
            if self._rebuild:
                self._reset()
            else:
                self._drain()
            self.prune_due = self._layout_changed or self._rebuild
            self._dirty = self._layout_changed = False
        except Exception as exc:
            self._fail(exc)

    def invalidate(self) -> None:
        """Forget what `begin()` accounted for (the computation that followed it failed)."""
        self._dirty = self._layout_changed = True

    def settle(self, pruned: frozenset[str] | None, outside: list[Path]) -> bool:
        """Adjust the watches to what a computation learnt; True if it must run again."""
        if self.failed is not None or self._ino is None:
            return False
        try:
            added = False
            if pruned is not None and pruned != self._pruned:
                old, self._pruned = self._pruned, pruned
                for rel in pruned - old:
                    self._unwatch_below(rel)
                if not self._rebuild:
                    for rel in old - pruned:
                        parent = rel.rpartition("/")[0]
                        if parent in self._dirs.values():
                            added |= self._watch_tree(rel)
            if self._rebuild:
                added |= self._watch_tree("")
                self._rebuild = False
            added |= self._watch_outside(outside)
            self._root_id = identity(self.root)
            return added
        except Exception as exc:
            self._fail(exc)
            return False

    def close(self) -> None:
        if self._ino is not None:
            self._ino.close()
            self._ino = None

    # -- internals -------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.close()
        self._ino = Inotify()
        self._dirs, self._files, self._outside = {}, {}, {}

    def _fail(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        _log.warning("watching %s stopped (%s); every code state request recomputes it", self.root, self.failed)
        self.close()

    def _drain(self) -> None:
        assert self._ino is not None
        for wd, mask, raw in self._ino.read():
            if mask & IN_Q_OVERFLOW:
                self._dirty = self._rebuild = True
            elif wd in self._outside:
                if raw in self._outside[wd] or mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                    self._dirty = self._layout_changed = True
                if mask & IN_IGNORED:
                    del self._outside[wd]
            elif wd in self._files:
                self._dirty = True
                if mask & IN_IGNORED:
                    del self._files[wd]
            elif wd in self._dirs:
                if mask & IN_IGNORED:
                    del self._dirs[wd]  # the directory is gone; its parent reported that
                elif not raw:
                    self._dirty = True  # the directory itself was moved, deleted or changed mode
                else:
                    self._dir_event(self._dirs[wd], os.fsdecode(raw), mask)

    def _dir_event(self, parent: str, name: str, mask: int) -> None:
        rel = f"{parent}/{name}" if parent else name
        if name == ".git":
            self._dirty = self._layout_changed = True  # a repository appeared, vanished or was replaced
        elif mask & IN_ISDIR:
            if self._excl.dir_excluded(rel, name):
                return
            self._dirty = self._layout_changed = True
            if mask & (IN_CREATE | IN_MOVED_TO) and rel not in self._pruned:
                self._watch_tree(rel)
        elif not self._excl.file_excluded(rel, name):
            self._dirty = True
            self._layout_changed |= name == ".gitignore"
            if mask & (IN_CREATE | IN_MOVED_TO):
                self._watch_file(rel)

    def _watch_tree(self, top: str) -> bool:
        """Watch `top` and everything below it that can hold code state; True if a watch is new."""
        assert self._ino is not None
        added = False
        stack = [top]
        while stack:
            rel = stack.pop()
            path = self.root / rel if rel else self.root
            wd = self._ino.add_watch(os.fsencode(path), DIR_MASK)
            if wd is None:
                continue
            added |= wd not in self._dirs
            self._dirs[wd] = rel
            try:
                with os.scandir(path) as it:
                    children = list(it)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for child in children:
                crel = f"{rel}/{child.name}" if rel else child.name
                if child.is_dir(follow_symlinks=False):
                    if not self._skipped_dir(crel, child.name):
                        stack.append(crel)
                elif not self._excl.file_excluded(crel, child.name):
                    added |= self._watch_file(crel)
        return added

    def _skipped_dir(self, rel: str, name: str) -> bool:
        return name == ".git" or rel in self._pruned or self._excl.dir_excluded(rel, name)

    def _watch_file(self, rel: str) -> bool:
        assert self._ino is not None
        wd = self._ino.add_watch(os.fsencode(self.root / rel), FILE_MASK)
        if wd is None or wd in self._dirs:
            return False
        new = wd not in self._files
        self._files[wd] = rel
        return new

    def _unwatch_below(self, top: str) -> None:
        assert self._ino is not None
        for table in (self._dirs, self._files):
            for wd, rel in list(table.items()):
                if rel == top or rel.startswith(top + "/"):
                    del table[wd]
                    self._ino.rm_watch(wd)

    def _watch_outside(self, files: list[Path]) -> bool:
        """Watch, by name, files outside the tree (or the nearest existing directory above them)."""
        assert self._ino is not None
        wanted: dict[Path, set[bytes]] = {}
        for file in files:
            entry = file
            while not entry.parent.is_dir() and entry.parent != entry:
                entry = entry.parent
            wanted.setdefault(entry.parent, set()).add(os.fsencode(entry.name))
        added = False
        now: dict[int, set[bytes]] = {}
        for directory, names in wanted.items():
            wd = self._ino.add_watch(os.fsencode(directory), DIR_MASK)
            if wd is None or wd in self._dirs:
                continue
            added |= wd not in self._outside and wd not in now
            now.setdefault(wd, set()).update(names)
        for wd in set(self._outside) - set(now):
            self._ino.rm_watch(wd)
        self._outside = now
        return added

"""Knowing, for about a microsecond, that nothing which could change a code state happened.

Every directory of the workspace is watched, and nothing else of it: at most `MAX_DIRS` watches per
tree, plus a few for git's own files (the index, HEAD and its branch, config, `info/exclude`, the
global excludes file), watched by name in their directories. Directories that cannot hold code
state are left out (`.git`, excluded names, the store's directory, directories git ignores as a
whole). A new directory is a change: it is watched, with everything below it, by the `begin()` of
the computation that follows, before that reads anything (never while draining events). A tree
with more directories is not watched at all (`over_cap`): the workspace then proves every state by
a full stat seal.

A directory watch also reports every open of a file through it: such a file is *held* (see `held`)
until a probe shows nobody has it open for writing, because a write through a shared mapping sends
no event. When the watches are placed, every file is probed once, so descriptors and mappings made
before the watch began are held too. What no watch here can see: a hard link made from outside the
tree after that, and written through its outside name (see `Workspace`).

The caller's protocol: `changed()` answers from the event queue (no queued change, no change);
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

from otel_mcp.core.workspace.held import HeldFiles, probe
from otel_mcp.core.workspace.inotify import (
    DIR_MASK,
    IN_CLOSE_NOWRITE,
    IN_CREATE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_TO,
    IN_OPEN,
    IN_Q_OVERFLOW,
    TREE_MASK,
    Inotify,
    identity,
)
from otel_mcp.core.workspace.state import Exclusions

__all__ = ["MAX_DIRS", "TreeWatcher"]

_log = logging.getLogger(__name__)

MAX_DIRS = 8192  # watches per tree; more directories: no watcher, a full stat seal at every decision
_ACCESS_ONLY = IN_OPEN | IN_CLOSE_NOWRITE  # an open or a read-only close: no change by itself
_PROBE_BATCH = 2048  # files probed between drains when the watches are placed (two events each)


class _OverCap(Exception):
    pass


class TreeWatcher:
    """The inotify watches of one workspace root (see the module docstring for the protocol)."""

    def __init__(self, root: Path, exclusions: Exclusions) -> None:
        self.root = root
        self._excl = exclusions
        self._ino: Inotify | None = None
        self._dirs: dict[int, str] = {}  # wd -> root-relative directory, "" for the root
        self._watched: dict[str, int] = {}  # the same, the other way round
        self._files: list[str] = []  # files met while placing every watch: probed once, then forgotten
        self.held = HeldFiles()
        self.over_cap = False
        self._new_trees: list[str] = []  # directories that appeared: watched at the next begin()
        self._outside: dict[int, set[bytes]] = {}  # wd -> names that matter in that directory
        self._pruned: frozenset[str] = frozenset()
        self._root_id: tuple[int, int] | None = None
        self._dirty = True
        self._rebuild = True
        self._layout_changed = True  # directories, ignore rules or the index changed
        self.prune_due = True  # the computation should report which directories git ignores
        self.failed: str | None = None

    def changed(self, max_bytes: int | None = None) -> bool:
        """True unless it is certain that nothing relevant changed since the last `begin()`; with
        `max_bytes`, reading no more events than that, and True if more are queued."""
        if self._dirty or self.failed is not None or self._ino is None or self.over_cap:
            return True
        try:
            if self._ino.pending():
                self._drain(max_bytes)
                if max_bytes is not None and self._ino is not None and self._ino.pending():
                    return True
            if not self._dirty and identity(self.root) != self._root_id:
                self._dirty = True  # the root path now leads elsewhere (a parent was renamed)
        except _OverCap:
            self._over()
        except Exception as exc:
            self._fail(exc)
        return self._dirty or self.failed is not None or self.over_cap

    def probed(self, path: str) -> None:
        """A probe of ours opened `path`: its open event is not someone else's."""
        parent = os.path.dirname(path)
        root = str(self.root)
        rel = "" if parent == root else parent[len(root) + 1 :]
        if (parent == root or parent.startswith(root + "/")) and rel in self._watched:
            self.held.probed(path)

    def begin(self) -> None:
        if self.failed is not None:
            return
        try:
            if self._rebuild:
                self._reset()
            else:
                self._drain()
                trees, self._new_trees = self._new_trees, []
                for rel in trees:  # before the computation reads them: nothing in them goes unseen
                    if rel not in self._pruned:
                        self._watch_tree(rel, hold=True)
            self.prune_due = self._layout_changed or self._rebuild
            self._dirty = self._layout_changed = False
        except _OverCap:
            self._over()
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
                        if parent in self._watched:
                            added |= self._watch_tree(rel, hold=True)  # opened unwatched until now
            if self._rebuild:
                added |= self._watch_tree("")
                self._rebuild = False
                self._probe_all()
            added |= self._watch_outside(outside)
            self._root_id = identity(self.root)
            return added
        except _OverCap:
            self._over()
            return False
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
        self._dirs, self._watched, self._files, self._outside = {}, {}, [], {}
        self._new_trees = []
        self.held.reset()

    def _over(self) -> None:
        self.over_cap = True
        _log.warning(
            "%s has more than %d directories to watch: not watching it; every decision stats every file",
            self.root,
            MAX_DIRS,
        )
        self.close()

    def _probe_all(self) -> None:
        """Hold every file someone has open for writing now (the watches now report every later open)."""
        assert self._ino is not None
        files, self._files = self._files, []
        root = str(self.root)
        for start in range(0, len(files), _PROBE_BATCH):
            for rel in files[start : start + _PROBE_BATCH]:
                path = f"{root}/{rel}"
                _, writer, opened = probe(path, write_back=False)
                if opened:
                    self.probed(path)
                if writer:
                    self.held.paths.add(path)
            self._drain()  # our own events, before they fill the queue

    def _fail(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        _log.warning("watching %s stopped (%s); every code state request recomputes it", self.root, self.failed)
        self.close()

    def _drain(self, max_bytes: int | None = None) -> None:
        assert self._ino is not None
        for wd, mask, raw in self._ino.read(max_bytes):
            if mask & IN_Q_OVERFLOW:
                self._dirty = self._rebuild = True  # events were lost, opens among them
            elif wd in self._outside:
                if raw in self._outside[wd] or mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
                    self._dirty = self._layout_changed = True
                if mask & IN_IGNORED:
                    del self._outside[wd]
            elif wd in self._dirs:
                if mask & IN_IGNORED:
                    self._watched.pop(self._dirs.pop(wd), None)  # the directory is gone; its parent said so
                elif not raw:
                    if mask & ~(_ACCESS_ONLY | IN_ISDIR):
                        self._dirty = True  # the directory itself was moved, deleted or changed mode
                else:
                    self._dir_event(self._dirs[wd], os.fsdecode(raw), mask)

    def _dir_event(self, parent: str, name: str, mask: int) -> None:
        rel = f"{parent}/{name}" if parent else name
        if mask & IN_ISDIR and not mask & ~(_ACCESS_ONLY | IN_ISDIR):
            return  # a directory listed: nothing changed
        if name == ".git":
            self._dirty = self._layout_changed = True  # a repository appeared, vanished or was replaced
        elif mask & IN_ISDIR:
            if self._excl.dir_excluded(rel, name):
                return
            self._dirty = self._layout_changed = True
            if mask & (IN_CREATE | IN_MOVED_TO):
                # Walked at the next begin(), never while draining (a drain may run on an event loop);
                # its files were opened before the watch (moved in: anywhere), so they are held.
                self._new_trees.append(rel)
        elif not self._excl.file_excluded(rel, name):
            path = f"{self.root}/{rel}"
            if mask & IN_OPEN:
                self.held.opened(path)
            elif not mask & IN_CLOSE_NOWRITE:
                self._dirty = True
                self._layout_changed |= name == ".gitignore"
                if mask & IN_MOVED_TO:
                    self.held.paths.add(path)  # it may be open, or mapped, under its name elsewhere

    def _watch_tree(self, top: str, *, hold: bool = False) -> bool:
        """Watch `top` and every directory below it that can hold code state; True if a watch is new.

        Its files are remembered for the probe that follows placing every watch, or held (`hold`)."""
        assert self._ino is not None
        added = False
        stack = [top]
        root = str(self.root)
        while stack:
            rel = stack.pop()
            if rel not in self._watched and len(self._dirs) >= MAX_DIRS:
                raise _OverCap
            path = self.root / rel if rel else self.root
            wd = self._ino.add_watch(os.fsencode(path), TREE_MASK)
            if wd is None:
                continue
            added |= wd not in self._dirs
            if (before := self._dirs.get(wd)) is not None:
                self._watched.pop(before, None)  # the same directory, renamed
            self._dirs[wd] = rel
            self._watched[rel] = wd
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
                    if hold:
                        self.held.paths.add(f"{root}/{crel}")
                    else:
                        self._files.append(crel)
        return added

    def _skipped_dir(self, rel: str, name: str) -> bool:
        return name == ".git" or rel in self._pruned or self._excl.dir_excluded(rel, name)

    def _unwatch_below(self, top: str) -> None:
        assert self._ino is not None
        for wd, rel in list(self._dirs.items()):
            if rel == top or rel.startswith(top + "/"):
                del self._dirs[wd]
                self._watched.pop(rel, None)
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

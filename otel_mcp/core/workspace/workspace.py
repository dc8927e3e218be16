"""A workspace root and its current code state, recomputed only when something relevant changed."""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from otel_mcp.core.workspace.filestate import FileDigester
from otel_mcp.core.workspace.gitcmd import RepoInfo, discover, git_program, has_git_ancestor, linked_worktrees
from otel_mcp.core.workspace.gitstate import GitDigester
from otel_mcp.core.workspace.state import BUILTIN_EXCLUDES, DEFAULT_EXCLUDES, CodeState, Exclusions, WorkspaceError
from otel_mcp.core.workspace.watcher import TreeWatcher
from otel_mcp.errors import InvalidArgument

__all__ = ["Workspace"]

_MAX_PASSES = 3


class Workspace:
    """The code state of one directory tree, kept current cheaply.

    `current()` returns the cached state while the watcher proves that nothing which could change
    it happened (a few microseconds); otherwise it recomputes (a git work tree: see `gitstate`;
    elsewhere: see `filestate`). `exclude` applies outside git only: in git the ignore rules
    decide. `extra_excluded_dirs` are never code state (give the store's directory when it lies
    inside the workspace, so its writes never change the state). `watch=False`, or a platform
    without inotify, recomputes on every call. `recomputations` counts the computations done.
    Thread-safe; one computation at a time.
    """

    def __init__(
        self,
        root: Path,
        *,
        exclude: Sequence[str] = DEFAULT_EXCLUDES,
        watch: bool = True,
        extra_excluded_dirs: Sequence[Path] = (),
    ) -> None:
        resolved = Path(root).expanduser().resolve()
        if not resolved.is_dir():
            raise InvalidArgument(f"root: {str(root)[:120]!r} is not a directory; give the workspace directory")
        if isinstance(exclude, str):
            raise InvalidArgument("exclude: give a list of name patterns, not one string")
        self.root = resolved
        self._temp = Path(tempfile.mkdtemp(prefix="otel-mcp-codestate-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._temp, True)
        self._extra = [*extra_excluded_dirs, self._temp]  # our private git data, should the temp dir be inside
        self._exclude = tuple(exclude)
        self._git_exclusions = Exclusions.build(BUILTIN_EXCLUDES, resolved, self._extra)
        self._file_exclusions = Exclusions.build((*BUILTIN_EXCLUDES, *exclude), resolved, self._extra)
        self._linked: frozenset[Path] = frozenset()  # other worktrees of the repository inside the root
        self._watch = watch
        self._watcher: TreeWatcher | None = None
        self._git: GitDigester | None = None
        self._files: FileDigester | None = None
        self._state: CodeState | None = None
        self._file_list: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        self.recomputations = 0

    @property
    def watching(self) -> bool:
        """True while changes are detected by events (False: every call recomputes)."""
        return self._watcher is not None and self._watcher.failed is None

    def current(self) -> CodeState:
        with self._lock:
            return self._current()

    def cached(self) -> CodeState | None:
        """The state if it is known to be current without computing anything, else None.

        For callers on an event loop: None means `current()` would compute (up to seconds on a
        large tree), so they call it from a worker thread instead.
        """
        with self._lock:
            state = self._state
            if self._closed or state is None or self._watcher is None:
                return None
            if self._watcher.changed():
                self._state = None  # the events are consumed: the next current() must recompute
                return None
            return state

    def file_list(self) -> list[str]:
        """The relative POSIX paths in the current state, sorted (run checks on exactly these)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[CodeState, list[str]]:
        """The current state and its files, taken together."""
        with self._lock:
            state = self._current()
            return state, list(self._file_list)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop_backends()
            self._cleanup()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------

    def _current(self) -> CodeState:
        if self._closed:
            raise WorkspaceError(f"the workspace {self.root} was closed")
        state = self._state
        if state is not None and self._watcher is not None and not self._watcher.changed():
            return state
        return self._recompute()

    def _recompute(self) -> CodeState:
        self._state = None
        for _ in range(_MAX_PASSES):
            self.recomputations += 1
            repo = self._discover()
            self._leave_out_linked(repo)
            watcher = self._backends(repo)
            if watcher is not None:
                watcher.begin()
            try:
                state, files, pruned, outside = self._compute(watcher)
            except BaseException:
                if watcher is not None:
                    watcher.invalidate()
                raise
            if watcher is None or not watcher.settle(pruned, outside):
                break
        self._state, self._file_list = state, files
        return state

    def _compute(self, watcher: TreeWatcher | None) -> tuple[CodeState, list[str], frozenset[str] | None, list[Path]]:
        """The state, its files, and for the watcher: directories git ignores, git's files outside."""
        if self._git is not None:
            prune = watcher is not None and watcher.failed is None and watcher.prune_due
            result = self._git.compute(want_pruned=prune)
            files = result.files
            state = CodeState(f"git:{result.tree}", str(self.root), "git", result.head, result.clean, len(files))
            return state, files, result.pruned, result.outside_files
        assert self._files is not None
        digest, files = self._files.compute()
        return CodeState(digest, str(self.root), "files", None, None, len(files)), files, None, []

    def _discover(self) -> RepoInfo | None:
        if git_program() is None:
            if has_git_ancestor(self.root):
                raise WorkspaceError(f"{self.root} is in a git repository but git is not installed; install git")
            return None
        if not self.root.is_dir():
            raise WorkspaceError(f"the workspace root {self.root} no longer exists")
        return discover(self.root)

    def _leave_out_linked(self, repo: RepoInfo | None) -> None:
        """Worktrees of the same repository inside the root are other agents' checkouts, not this code.

        `claude --worktree` makes them under `.claude/worktrees/`; counted, every edit there would
        change this worktree's state and be watched. The set is read from the repository's own list
        of worktrees at each recomputation, so one added later is left out from then on.
        """
        linked = frozenset(linked_worktrees(repo, self.root)) if repo is not None else frozenset()
        if linked == self._linked:
            return
        self._linked = linked
        extra = [*self._extra, *sorted(linked)]
        self._git_exclusions = Exclusions.build(BUILTIN_EXCLUDES, self.root, extra)
        self._file_exclusions = Exclusions.build((*BUILTIN_EXCLUDES, *self._exclude), self.root, extra)
        self._drop_backends()  # digesters and watcher are rebuilt with the new exclusions

    def _backends(self, repo: RepoInfo | None) -> TreeWatcher | None:
        """Digesters and watcher for what the root is now (a git work tree or plain files)."""
        if repo is not None and (self._git is None or self._git.repo != repo):
            self._drop_backends()
            self._git = GitDigester(repo, self._git_exclusions, self._temp)
        elif repo is None and self._files is None:
            self._drop_backends()
            self._files = FileDigester(self.root, self._file_exclusions)
        if self._watch and self._watcher is None:
            exclusions = self._git_exclusions if repo is not None else self._file_exclusions
            self._watcher = TreeWatcher(self.root, exclusions)
        return self._watcher

    def _drop_backends(self) -> None:
        for backend in (self._git, self._watcher):
            if backend is not None:
                backend.close()
        self._git = self._files = self._watcher = None

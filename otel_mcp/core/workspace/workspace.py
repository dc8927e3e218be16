"""A workspace root and its current code state, recomputed only when something relevant changed."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from otel_mcp.core.workspace.filestate import FileDigester
from otel_mcp.core.workspace.gitcmd import RepoInfo, discover, git_program, has_git_ancestor, linked_worktrees
from otel_mcp.core.workspace.gitstate import GitDigester
from otel_mcp.core.workspace.held import probe
from otel_mcp.core.workspace.leftovers import claim, remove_leftovers
from otel_mcp.core.workspace.seal import Seal, flush_pages, pages_written_back
from otel_mcp.core.workspace.state import (
    BUILTIN_EXCLUDES,
    DEFAULT_EXCLUDES,
    CodeState,
    Exclusions,
    Proof,
    WorkspaceError,
)
from otel_mcp.core.workspace.watcher import TreeWatcher
from otel_mcp.errors import InvalidArgument

__all__ = ["Workspace"]

_MAX_PASSES = 3
_MAX_SETTLING = 64  # files read again to confirm a fresh seal; more: compute again
_REUSE_NS = 200_000_000  # a decision may use a proof this recent if no event arrived since
_QUICK_EVENTS = 16 * 1024  # bytes of events `quick()` reads (some hundreds of events) before giving up
_QUICK_HELD = 64  # held files `quick()` probes before giving up (about 10 us each)


class Workspace:
    """The code state of one directory tree, proven against the disk whenever it is asked for.

    Two proofs that the cached state is still what is on disk:
    - `current()` (proof "seal"): a stat seal (see `seal`) shows that no file of the state, no
      directory and none of git's files changed since it was computed. Costs a stat per file.
      Guards, hooks, `gates status`, check runs and snapshots use it.
    - `current(proof="events")`: the watcher's queue holds no change since, and every held file
      (opened since, or linked elsewhere: see `held`) is probed and unchanged. Costs a poll and a
      probe per held file. Only a decision that records the digest it judged uses it: what it cannot
      see (a write through a hard link made from outside the tree after the watch began) leaves that
      decision on the old digest, and the guard or hook that acts on it proves the disk by the seal.
      Without a watcher it falls back to what `current()` does (see below).
    `quick()` is the events proof when it needs no more than a bounded drain and a few probes (for a
    caller on an event loop), else None. A change is recomputed (a git work tree: see `gitstate`;
    elsewhere: see `filestate`), writing back the pages of changed files first so that a later write
    through a shared mapping cannot go unseen. `current(reuse=True)` may answer from a proof of the
    same kind (or a seal for an events proof) started less than 0.2 s ago with no event since (a
    decision right after a refresh uses the refresh's proof). `exclude` applies outside git only: in
    git the ignore rules decide. `extra_excluded_dirs` are never code state (give the store's
    directory when it lies inside the workspace, so its writes never change the state).
    `watch=False` or a tree of more than `MAX_DIRS` directories proves by the seal alone; a platform
    without inotify, or a watcher that failed, recomputes on every call. `recomputations` counts the
    computations done. Thread-safe; one computation at a time.
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
        remove_leftovers()  # what servers killed before us left behind
        self._temp = Path(tempfile.mkdtemp(prefix="otel-mcp-codestate-"))
        claim(self._temp)
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
        self._seal: Seal | None = None  # taken before the cached state was read from disk
        self._seal_scope: tuple[frozenset[str] | None, bool] = (None, False)
        self._proven = False
        self._proven_ns = 0  # the last proof of either kind
        self._sealed_ns = 0  # the last stat seal proof
        self._unwatched = False  # more directories than a watcher may watch: the seal alone proves
        self._outside: list[str] = []
        self._pruned: frozenset[str] | None = None
        self._written_back = pages_written_back(resolved)
        self._lock = threading.Lock()
        self._closed = False
        self.recomputations = 0

    @property
    def watching(self) -> bool:
        """True while changes are detected by events (False: every call recomputes or seals)."""
        return self._watcher is not None and self._watcher.failed is None and not self._watcher.over_cap

    def current(self, *, reuse: bool = False, proof: Proof = "seal") -> CodeState:
        """The code state now, proven by `proof` (see the class docstring)."""
        with self._lock:
            if proof == "events":
                if reuse and (recent := self._reusable(sealed=False)) is not None:
                    return recent
                started = time.monotonic_ns()
                if self._by_events(bounded=False):
                    self._proven_ns = started
                    assert self._state is not None
                    return self._state
            return self._current(reuse)

    def quick(self) -> CodeState | None:
        """The state proven by events now, if that takes no more than a bounded drain and a few probes
        (and no computation is running); else None: call `current(proof="events")` from a worker thread."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            started = time.monotonic_ns()
            if self._closed or not self._by_events(bounded=True):
                return None
            self._proven_ns = started
            return self._state
        finally:
            self._lock.release()

    def cached(self) -> CodeState | None:
        """The state if a stat seal started less than 0.2 s ago stands and no event came since, else None.

        For callers on an event loop: None means `current()` would at least stat every file of the
        state (tens of milliseconds on a large tree), so they call it from a worker thread instead.
        """
        if not self._lock.acquire(blocking=False):
            return None  # a computation is running
        try:
            return self._reusable(sealed=True)
        finally:
            self._lock.release()

    def file_list(self) -> list[str]:
        """The relative POSIX paths in the current state, sorted (run checks on exactly these)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[CodeState, list[str]]:
        """The current state and its files, taken together."""
        with self._lock:
            state = self._current()
            return state, list(self._file_list)

    def export(self, target: Path) -> tuple[CodeState, list[str], Path]:
        """The current state, its files, and the folder below the new directory `target` that holds a
        private copy of exactly its bytes (from git's objects in a work tree): checks run there, so
        nothing done to the workspace while they run changes what they examine.

        Bytecode caches (`__pycache__/`, tracked or not) are left out of the copy: Python rebuilds
        them from the sources, so no check runs bytecode its sources do not say (an unchecked-hash
        `.pyc` is loaded whatever the source holds)."""
        with self._lock:
            state = self._current()
            target.mkdir(mode=0o700)
            if self._git is not None:
                self._git.export(target)
                prefix = self._git.repo.prefix
                run_root = target / prefix if prefix else target
                run_root.mkdir(parents=True, exist_ok=True)
            else:
                assert self._files is not None
                self._files.export(target)
                run_root = target
            _drop_bytecode_caches(target)
            return state, list(self._file_list), run_root

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

    def _reusable(self, *, sealed: bool = True) -> CodeState | None:
        state = self._state
        since = self._sealed_ns if sealed else self._proven_ns
        if self._closed or state is None or time.monotonic_ns() - since > _REUSE_NS:
            return None
        if self._watcher is not None and self._watcher.changed():
            return None
        return state

    def _by_events(self, *, bounded: bool) -> bool:
        """True if the cached state is proven by the event queue and a probe of every held file."""
        watcher, state, seal = self._watcher, self._state, self._seal
        if watcher is None or state is None or seal is None or not self._proven or not self._written_back:
            return False
        if self._closed or watcher.changed(_QUICK_EVENTS if bounded else None):
            return False
        # Files watched by name (git's own, the ignore rules' sources, tracked files in excluded
        # folders) report no opens, so a mapping of one could write unseen: each is probed every time.
        by_name = set(self._outside)
        held = watcher.held.paths | seal.linked | by_name
        if bounded and len(held) > _QUICK_HELD:
            return False
        released = []
        for path in held:
            key, writer, opened = probe(path)
            if opened and path not in by_name:
                watcher.probed(path)
            known, recorded = seal.recorded(path)
            if key != recorded:
                return False  # changed (or never recorded): compute again
            if not known or not (writer or path in seal.linked):
                released.append(path)  # gone for good, or nobody can write it unseen now
        settling = seal.settling(held)
        if settling and (bounded or not self._settled_files(settling)):
            return False
        watcher.held.paths.difference_update(released)
        return not watcher.changed(_QUICK_EVENTS if bounded else None)  # nothing changed while probing

    def _current(self, reuse: bool = False) -> CodeState:
        if self._closed:
            raise WorkspaceError(f"the workspace {self.root} was closed")
        if reuse and (recent := self._reusable()) is not None:
            return recent
        started = time.monotonic_ns()
        state, seal = self._state, self._seal
        hinted = self._watcher is not None and self._watcher.changed()
        trusted = state is not None and seal is not None and not hinted and self._written_back and self._proven
        if trusted and seal is not None and seal.holds(self._entries) and self._settled_files(seal.settling()):
            self._proven_ns = self._sealed_ns = started
            assert state is not None
            return state
        return self._recompute()

    def _settled_files(self, settling: list[str]) -> bool:
        """Files written within two seconds of the seal hold the content the state names (read again)."""
        if not settling:
            return True
        if self._git is None or len(settling) > _MAX_SETTLING or self._seal is None:
            return False
        flush_pages(settling)
        if not all(self._git.holds_content(path) for path in settling):
            return False
        self._seal.confirmed(settling)
        return True

    def _recompute(self) -> CodeState:
        self._state = None
        self._proven = False
        for _ in range(_MAX_PASSES):
            started = time.monotonic_ns()
            self.recomputations += 1
            repo = self._discover()
            self._leave_out_linked(repo)
            watcher = self._backends(repo)
            if watcher is not None:
                watcher.begin()
            # The seal is taken before the content is read: a write after it breaks it at the next
            # decision. Pages of what changed are written back first (see `seal`).
            used, outside_used = self._pruned, self._outside
            older = self._seal if self._seal_scope == (used, self._git is not None) else None
            before = Seal.survey(str(self.root), self._entries, outside_used, older)
            # Pages of files unchanged since the last seal were written back when it was taken, whatever
            # its scope: writing back every file again would only flood the watches with opens.
            changed = before.changed_since(self._seal)
            if not self._written_back:
                self._forget_content()  # a mapping can write unseen there: read everything again
            flush_pages(changed)
            prune = used is None or any(os.path.isdir(p) for p in changed)
            try:
                state, files, pruned, outside = self._compute(watcher, prune)
            except BaseException:
                if watcher is not None:
                    watcher.invalidate()
                self._seal = None
                raise
            if pruned is not None:
                self._pruned = pruned
            self._outside = [str(p) for p in outside]
            self._seal, self._seal_scope = before.with_files(self._outside), (used, self._git is not None)
            # Proven: the survey skipped exactly what git ignores and saw every file git's state depends on.
            self._proven = self._pruned == used and self._outside == outside_used
            settled = watcher is None or not watcher.settle(pruned, outside)
            if watcher is not None and watcher.over_cap:
                self._unwatch()
            if self._proven and settled:
                self._proven_ns = self._sealed_ns = started
                break
        if not self._proven:
            self._proven_ns = self._sealed_ns = 0
        self._state, self._file_list = state, files
        return state

    def _entries(self, here: str) -> list[tuple[str, bool]]:
        """The entries of a directory that can hold code state: (absolute path, is a directory)."""
        pruned = self._pruned or frozenset()
        excl = self._git_exclusions if self._git is not None else self._file_exclusions
        root = str(self.root)
        rel_dir = here[len(root) + 1 :]
        try:
            with os.scandir(here) as it:
                children = list(it)
        except OSError:
            return []  # gone or unreadable: its seal entry says so
        out: list[tuple[str, bool]] = []
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            try:
                is_dir = child.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if child.name == ".git":
                    if rel_dir:
                        out.append((child.path, False))  # a nested repository appearing or going counts
                elif rel not in pruned and not excl.dir_excluded(rel, child.name):
                    out.append((child.path, True))
            elif not excl.file_excluded(rel, child.name):
                out.append((child.path, False))
        return out

    def _forget_content(self) -> None:
        if self._git is not None:
            self._git.forget_stat_cache()
        if self._files is not None:
            self._files.forget_stat_cache()

    def _compute(
        self, watcher: TreeWatcher | None, prune: bool
    ) -> tuple[CodeState, list[str], frozenset[str] | None, list[Path]]:
        """The state, its files, and for the watcher: directories git ignores, git's files outside."""
        if self._git is not None:
            prune = prune or (watcher is not None and watcher.failed is None and watcher.prune_due)
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
        if self._watcher is not None and self._watcher.over_cap:
            self._unwatch()
        if self._watch and self._watcher is None and not self._unwatched:
            exclusions = self._git_exclusions if repo is not None else self._file_exclusions
            self._watcher = TreeWatcher(self.root, exclusions)
        return self._watcher

    def _unwatch(self) -> None:
        """Too many directories to watch: from now on the seal alone proves every state."""
        if self._watcher is not None:
            self._watcher.close()
        self._watcher, self._unwatched = None, True

    def _drop_backends(self) -> None:
        for backend in (self._git, self._watcher):
            if backend is not None:
                backend.close()
        self._git = self._files = self._watcher = None
        self._seal, self._pruned, self._outside = None, None, []


def _drop_bytecode_caches(top: Path) -> None:
    for folder, dirs, _ in os.walk(top):
        if "__pycache__" in dirs:
            dirs.remove("__pycache__")
            cache = os.path.join(folder, "__pycache__")
            if os.path.islink(cache):  # a link to a folder of bytecode elsewhere
                os.unlink(cache)
            else:
                shutil.rmtree(cache)

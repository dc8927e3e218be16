"""The code state of a git work tree: the tree git would write if every change were added.

Tracked files always count, whatever the ignore rules say; untracked files count unless
`.gitignore`, `$GIT_DIR/info/exclude` or the user's global excludes file ignores them, as in
`git add -A`. What that leaves possible: an ignored file is not code state, so code put in an
ignored file (and imported from tracked code) can change without changing the digest, and a check
given `file_list()` does not examine it. Bytes are hashed as they are in the work tree: no
attribute converts them (line endings, `working-tree-encoding`), so what is hashed is what runs. Nested repositories
(submodules and repositories inside the work tree) count by their checked-out commit while their
work tree matches it, and by a digest of their work tree otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from pathlib import Path
from typing import NamedTuple

from otel_mcp.core.workspace.gitcmd import GitFailed, RepoInfo, discover, run_git
from otel_mcp.core.workspace.gitindex import GITLINK, Entry, PrivateRepo, decode_paths, file_signature, parse_ls_files
from otel_mcp.core.workspace.state import CodeState, Exclusions, WorkspaceError

__all__ = ["EMPTY_TREE", "MAX_NESTING", "GitDigester", "GitResult", "commit_state"]

EMPTY_TREE = {
    "sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
    "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321",
}
MAX_NESTING = 3


def _ignored_named(stderr: str) -> set[str]:
    """The paths git lists after 'The following paths are ignored by one of your .gitignore files:'."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("The following paths are ignored"):
            return {p.strip() for p in lines[i + 1 :] if p.strip() and not p.startswith("hint:")}
    return set()


_UNBORN = re.compile(r"error: '(.+)/' does not have a commit checked out")
_PRUNE_BUDGET = 20_000
_COMMIT_NAME = re.compile(r"[^-\s][^\s]{0,199}")


class GitResult(NamedTuple):
    tree: str
    head: str | None
    clean: bool | None
    files: list[str]  # root-relative POSIX paths, sorted
    pruned: frozenset[str] | None  # root-relative directories whose whole content git ignores
    outside_files: list[Path]  # files outside the work tree whose change can change the state


class GitDigester:
    """Computes a work tree's code state again and again, re-hashing only what changed."""

    def __init__(self, repo: RepoInfo, exclusions: Exclusions, temp_dir: Path, depth: int = 0) -> None:
        self.repo = repo
        self._excl = exclusions
        self._temp = temp_dir
        self._depth = depth
        self._private = PrivateRepo(repo, temp_dir)
        self._user_sig: object = object()
        self._user: dict[bytes, Entry] = {}
        self._mine: dict[bytes, Entry] = {}
        self._nested: dict[bytes, GitDigester] = {}
        self._top_prefix = repo.prefix.encode() + b"/" if repo.prefix else b""

    def compute(self, *, want_pruned: bool) -> GitResult:
        started = time.time_ns()
        if not self._private.intact():  # someone edited our config or attributes: start afresh
            self._private.close()
            self._private = PrivateRepo(self.repo, self._temp)
        excludes = self._excludes_file()
        hollow = self._hollow_gitlinks()
        self._sync_index(excludes, hollow)
        unborn = self._add(excludes)
        kept = self._add_kept(hollow)
        entries = parse_ls_files(self._private.git(["ls-files", "-s", "-z", "--full-name"]))
        fakes, files, nested_outside = self._nested_states(entries, unborn)
        self._private.set_entries(fakes)
        entries.update(fakes)
        tree = self._write_tree()
        self._private.seal(started)
        self._mine = entries
        head, head_tree = self._head()
        pruned = self._pruned(excludes) if want_pruned else None
        # Excluded by name (or inside a nested `.git/`), so no watch or survey sees them otherwise.
        outside = [*self._outside_files(excludes), *kept, *nested_outside]
        return GitResult(tree, head, None if head is None else head_tree == tree, sorted(files), pruned, outside)

    def holds_content(self, path: str) -> bool:
        """True if the file at absolute `path` holds what the last computation hashed for it."""
        rel = os.path.relpath(path, self._root)
        entry = self._mine.get(self._top_prefix + os.fsencode(rel))
        if entry is None or entry.startswith(GITLINK):
            return False
        mode, _, blob = entry.partition(b" ")
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                data = os.fsencode(os.readlink(path))
            else:
                with open(path, "rb") as handle:
                    data = handle.read()
        except OSError:
            return False
        algo = "sha1" if self.repo.object_format == "sha1" else "sha256"
        exec_bit = b"100755" if st.st_mode & 0o100 else b"100644"
        expected_mode = b"120000" if stat.S_ISLNK(st.st_mode) else exec_bit
        digest = hashlib.new(algo, b"blob %d\0" % len(data) + data).hexdigest().encode()
        return mode == expected_mode and digest == blob

    def export(self, target: Path) -> None:
        """Write exactly the last computed state's bytes below `target` (as the work tree's top), from
        the objects the digest names: nothing done to the work tree since can reach the copy."""
        self._private.git(["checkout-index", "-a", "-f", f"--prefix={target}/"], at_top=True)
        for path, nested in self._nested.items():
            nested.export(target / os.fsdecode(path))

    def forget_stat_cache(self) -> None:
        """Hash every file again at the next computation (where stat data cannot be trusted)."""
        self._private.reset()
        self._mine = {}
        for nested in self._nested.values():
            nested.forget_stat_cache()

    def close(self) -> None:
        for nested in self._nested.values():
            nested.close()
        self._private.close()

    # -- the private index follows the user's tracked set --------------------------------------

    def _hollow_gitlinks(self) -> list[bytes]:
        """Tracked submodule entries whose folder holds files but no repository: those files are content."""
        hollow = []
        for path, entry in self._user.items():
            if entry.startswith(GITLINK):
                folder = self.repo.toplevel / os.fsdecode(path)
                try:
                    if not (folder / ".git").exists() and folder.is_dir() and any(folder.iterdir()):
                        hollow.append(path)
                except OSError:
                    continue
        return hollow

    def _add_kept(self, hollow: list[bytes]) -> list[Path]:
        """Tracked files a built-in pattern excludes (`*.pyc`, `__pycache__/`) and the files of hollow
        gitlinks: tracked, so always code state, hashed from the work tree like any other file."""
        kept = [p for p, e in self._user.items() if not e.startswith(GITLINK) and self._excl.by_pattern(self._rel(p))]
        specs = [":(literal)" + os.fsdecode(p) for p in (*kept, *hollow) if p.startswith(self._top_prefix)]
        if specs:
            self._private.git(["add", "-A", "-f", "--", *specs], at_top=True)
        return [self.repo.toplevel / os.fsdecode(p) for p in kept]

    def _sync_index(self, excludes: str, hollow: list[bytes] | None = None) -> None:
        sig = file_signature(self.repo.git_dir / "index")
        if sig != self._user_sig:
            out = run_git(["ls-files", "-s", "-z", "--full-name"], self._root).stdout if sig else b""
            self._user, self._user_sig = parse_ls_files(out), sig
        if not self._private.trusted():
            self._private.reset()
            self._mine = {}
        # Tracked paths always start from the user's entry if we lack them; for submodules (and paths
        # in the store's directory) the user's commit/blob id is the state, so it replaces ours.
        skip = set(hollow or ())
        if skip:
            self._private.remove([p for p in skip if p in self._mine])
        put = {
            path: entry
            for path, entry in self._user.items()
            if path not in skip
            and (
                (mine := self._mine.get(path)) is None
                or (mine != entry and (entry.startswith(GITLINK) or self._excl.covers_path(self._rel(path))))
            )
        }
        extra = [path for path in self._mine if path not in self._user]
        self._private.remove(self._now_ignored(extra, excludes))
        self._private.set_entries(put)

    def _now_ignored(self, paths: list[bytes], excludes: str) -> list[bytes]:
        """Of the untracked paths we added last time, those the ignore rules now exclude."""
        if not paths:
            return []
        try:
            out = self._check_ignore(paths, excludes, at_top=True)
        except GitFailed:
            return paths  # `git add -A` adds back whichever of them still count
        return [p for p in paths if p in out]

    def _check_ignore(self, paths: list[bytes], excludes: str, *, at_top: bool) -> set[bytes]:
        out = self._private.git(
            ["check-ignore", "-z", "--stdin", "--no-index"],
            stdin=b"".join(p + b"\0" for p in paths),
            ok_codes=(0, 1),
            excludes_file=excludes,
            at_top=at_top,
        )
        return {p for p in out.split(b"\0") if p}

    def _add(self, excludes: str) -> list[bytes]:
        """`git add -A` over the root; returns nested repositories without a commit (left out)."""
        specs = [".", *self._excl.git_pathspecs()]
        unborn: list[bytes] = []
        for _ in range(64):
            skip = [":(top,exclude,literal)" + os.fsdecode(p) for p in unborn]
            try:
                self._private.git(["add", "-A", "--", *specs, *skip], excludes_file=excludes)
                return unborn
            except GitFailed as exc:
                # git refuses a pathspec that names an ignored path, even one that excludes it (the
                # store's own folder is usually ignored): ignored paths are never added anyway.
                ignored = _ignored_named(exc.stderr)
                kept = [s for s in specs if not (s.startswith(":(exclude,literal)") and s[18:] in ignored)]
                if ignored and len(kept) < len(specs):
                    specs = kept
                    continue
                found = [os.fsencode(p) for p in _UNBORN.findall(exc.stderr)]
                if not found or set(found) <= set(unborn):
                    raise
                unborn += [p for p in found if p not in unborn]
        raise WorkspaceError(f"more than 64 nested git repositories without a commit under {self._root}")

    # -- nested repositories ---------------------------------------------------------------------

    def _nested_states(
        self, entries: dict[bytes, Entry], unborn: list[bytes]
    ) -> tuple[dict[bytes, Entry], list[str], list[Path]]:
        cut = len(self._top_prefix)
        plain = [path[cut:] for path, entry in entries.items() if not entry.startswith(GITLINK)]
        files = decode_paths(plain)
        fakes: dict[bytes, Entry] = {}
        outside: list[Path] = []  # a nested repository's index, config, excludes: its ignore rules
        seen: set[bytes] = set()
        for path in dict.fromkeys([p for p, e in entries.items() if e.startswith(GITLINK)] + unborn):
            entry = entries.get(path)
            rel = self._rel(path)
            work_tree = self.repo.toplevel / os.fsdecode(path)
            if not (work_tree / ".git").exists():
                continue  # a submodule that is not checked out: its recorded commit is the state
            seen.add(path)
            state = self._nested_state(path, work_tree)
            files += [f"{rel}/{f}" for f in state.files]
            outside += state.outside_files
            if entry is None or not (state.clean and state.head == entry[len(GITLINK) :].decode()):
                fakes[path] = GITLINK + self._fake_commit(state.tree).encode()
        for path in set(self._nested) - seen:
            self._nested.pop(path).close()
        return fakes, files, outside

    def _nested_state(self, path: bytes, work_tree: Path) -> GitResult:
        if self._depth + 1 >= MAX_NESTING:
            raise WorkspaceError(f"git repositories are nested more than {MAX_NESTING} deep at {work_tree}")
        repo = discover(work_tree)
        if repo is None or repo.toplevel.resolve() != work_tree.resolve():
            raise WorkspaceError(f"the nested git repository at {work_tree} is broken: git sees no work tree there")
        nested = self._nested.get(path)
        if nested is None or nested.repo != repo:
            if nested is not None:
                nested.close()
            exclusions = self._excl.below(self._rel(path))
            nested = self._nested[path] = GitDigester(repo, exclusions, self._temp, self._depth + 1)
        return nested.compute(want_pruned=False)

    def _fake_commit(self, tree: str) -> str:
        """A stand-in commit id for a nested work tree that differs from its commit (never an object)."""
        algo = "sha1" if self.repo.object_format == "sha1" else "sha256"
        return hashlib.new(algo, b"otel-mcp nested work tree\0" + tree.encode()).hexdigest()

    # -- reading results -------------------------------------------------------------------------

    def _write_tree(self) -> str:
        prefix = [f"--prefix={self.repo.prefix}/"] if self.repo.prefix else []
        try:
            return self._private.git(["write-tree", "--missing-ok", *prefix], at_top=True).decode().strip()
        except GitFailed as exc:
            if prefix and "not found" in exc.stderr:
                return EMPTY_TREE[self.repo.object_format]  # nothing under the root counts
            raise

    def _head(self) -> tuple[str | None, str | None]:
        if "\n" in self.repo.prefix:
            raise WorkspaceError(f"the workspace root {self._root} has a newline in its name; git cannot name it")
        tree = f"HEAD:{self.repo.prefix}" if self.repo.prefix else "HEAD^{tree}"
        out = run_git(["cat-file", "--batch-check"], self._root, stdin=f"HEAD^{{commit}}\n{tree}\n".encode()).stdout
        answers = [line.split(" ") for line in out.decode().splitlines()]
        found = [a[0] if len(a) == 3 else None for a in answers]
        return (found[0], found[1]) if len(found) == 2 else (None, None)

    def _pruned(self, excludes: str) -> frozenset[str]:
        """Directories to leave unwatched: git ignores them as a whole and nothing inside is tracked.

        `ls-files -o -i --directory` also names a directory whose files all happen to be ignored
        (`logs/` holding only `*.log`); a new `.py` there would count, so only directories that an
        ignore pattern matches themselves are pruned, looking further down the others.
        """
        listing = ["ls-files", "-o", "-i", "--exclude-standard", "--directory", "-z"]
        out = self._private.git(listing, excludes_file=excludes)
        candidates = [d for d in out.split(b"\0") if d.endswith(b"/")]
        pruned: set[bytes] = set()
        budget = _PRUNE_BUDGET
        while candidates and budget > 0:
            budget -= len(candidates)
            hit = self._check_ignore(candidates, excludes, at_top=False)
            pruned |= hit
            deeper = []
            for d in candidates:
                if d not in hit:
                    try:
                        with os.scandir(self._root / os.fsdecode(d)) as it:
                            deeper += [d + os.fsencode(e.name) + b"/" for e in it if e.is_dir(follow_symlinks=False)]
                    except OSError:
                        continue
            candidates = deeper
        return frozenset(os.fsdecode(d.rstrip(b"/")) for d in pruned)

    def _excludes_file(self) -> str:
        out = run_git(["config", "--path", "--get", "core.excludesFile"], self._root, ok_codes=(0, 1)).stdout
        configured = out.decode("utf-8", "surrogateescape").strip()
        if configured:
            return str(self._root / configured)  # a relative path is relative to where git runs
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return os.path.join(config_home, "git", "ignore")

    def _outside_files(self, excludes: str) -> list[Path]:
        repo = self.repo
        files = [repo.git_dir / "index", repo.git_dir / "HEAD", repo.git_dir / "config.worktree"]
        files += [repo.common_dir / "config", repo.common_dir / "packed-refs", repo.common_dir / "info" / "exclude"]
        try:
            head = (repo.git_dir / "HEAD").read_text(errors="replace").strip()
        except OSError:
            head = ""
        if head.startswith("ref: refs/"):
            files.append(repo.common_dir / head[5:])
        # Ignore files above a root below the top level apply to it too (the root's own are in the tree).
        above = self.repo.prefix.count("/") + 1 if self.repo.prefix else 0
        files += [self._root.parents[i] / ".gitignore" for i in range(above)]
        # The user's git configuration can name another excludes file (`core.excludesFile`): a change
        # there changes what is ignored, so it is watched and sealed like the excludes file itself.
        home = os.path.expanduser("~")
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files += [Path(home) / ".gitconfig", Path(config_home) / "git" / "config", Path("/etc/gitconfig")]
        return [*files, *self._config_files(), Path(excludes)]

    def _config_files(self) -> list[Path]:
        """Every file git read configuration from here, `include.path` targets among them."""
        out = run_git(["config", "--list", "--show-origin", "-z"], self._root, ok_codes=(0, 1)).stdout
        origins = out.split(b"\0")[0::2]  # -z: origin NUL "key LF value" NUL, entry after entry
        found = {o[len(b"file:") :] for o in origins if o.startswith(b"file:")}
        return [self._root / os.fsdecode(path) for path in sorted(found)]

    @property
    def _root(self) -> Path:
        return self.repo.toplevel / self.repo.prefix if self.repo.prefix else self.repo.toplevel

    def _rel(self, path: bytes) -> str:
        return os.fsdecode(path[len(self._top_prefix) :])


def commit_state(root: Path, commit: str) -> CodeState:
    """The code state of a commit: its tree, or its subtree for a root below the top (pre-push hooks)."""
    root = Path(root).expanduser().resolve()
    if not isinstance(commit, str) or not _COMMIT_NAME.fullmatch(commit):
        raise WorkspaceError(f"commit: {str(commit)[:60]!r} is not a commit name; give a commit id, branch or tag")
    repo = discover(root)
    if repo is None:
        raise WorkspaceError(f"{root} is not inside a git work tree, so it has no commits")
    tree_of = f"{commit}:{repo.prefix}" if repo.prefix else f"{commit}^{{tree}}"
    out = run_git(["cat-file", "--batch-check"], root, stdin=f"{commit}^{{commit}}\n{tree_of}\n".encode()).stdout
    answers = [line.split(" ") for line in out.decode(errors="replace").splitlines()]
    if len(answers) != 2 or len(answers[0]) != 3:
        raise WorkspaceError(f"commit {commit[:60]!r} was not found in the repository at {repo.toplevel}")
    head = answers[0][0]
    if len(answers[1]) == 3 and answers[1][1] == "tree":
        tree = answers[1][0]
        listing = run_git(["ls-tree", "-r", "-z", "--name-only", tree], root).stdout
        files = listing.count(b"\0")
    else:
        tree, files = EMPTY_TREE[repo.object_format], 0
    return CodeState(f"git:{tree}", str(root), "git", head, True, files)

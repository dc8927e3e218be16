"""Running git so that nothing in the workspace, its repository or the environment can steer it.

Every invocation drops inherited `GIT_*` variables, runs under `LC_ALL=C` with a timeout, never
prompts, never fetches, ignores `git replace` objects, runs no hooks or fsmonitor, starts no
background maintenance and does not lock the user's index for an opportunistic refresh. The git
program is looked up in the system locations before `PATH`, so a `git` that a workspace user puts
early on `PATH` (for example in `~/.local/bin`) is not the one that computes the code state.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_mcp.core.workspace.state import WorkspaceError

__all__ = [
    "TIMEOUT_S",
    "GitFailed",
    "RepoInfo",
    "clean_env",
    "discover",
    "git_program",
    "has_git_ancestor",
    "linked_worktrees",
    "run_git",
]

TIMEOUT_S = 120.0
_SYSTEM_GIT = ("/usr/bin/git", "/usr/local/bin/git", "/opt/homebrew/bin/git", "/bin/git")
_SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.untrackedCache=false",
    "core.hooksPath=/dev/null",
    "core.quotePath=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "protocol.allow=never",
    "safe.directory=*",
)
_WHERE = ("--git-dir", "--git-common-dir", "--show-toplevel", "--show-object-format")


class GitFailed(WorkspaceError):
    """A git command exited non-zero; `stderr` holds what it said."""

    def __init__(self, message: str, returncode: int, stderr: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


@functools.cache
def git_program() -> str | None:
    """The git executable: a system location first, then `PATH`; None if there is none."""
    for candidate in _SYSTEM_GIT:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("git")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        LC_ALL="C",
        LANGUAGE="C",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_NO_LAZY_FETCH="1",
    )
    env.update(extra or {})
    return env


def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    config: Sequence[str] = (),
    stdin: bytes | None = None,
    ok_codes: Sequence[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    """Run `git <args>` in `cwd`; raise `GitFailed` on an exit code outside `ok_codes`."""
    program = git_program()
    if program is None:
        raise WorkspaceError("git is not installed (not in /usr/bin, /usr/local/bin or on PATH); install git")
    argv = [program]
    for item in (*_SAFE_CONFIG, *config):
        argv += ["-c", item]
    argv += list(args)
    try:
        done = subprocess.run(
            argv, cwd=cwd, env=clean_env(env), input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError(
            f"git {args[0]} in {cwd} took longer than {TIMEOUT_S:.0f} s; the repository is too large or busy"
        ) from None
    except OSError as exc:
        raise WorkspaceError(f"git could not be started in {cwd}: {exc.strerror or exc}") from None
    if done.returncode not in ok_codes:
        said = done.stderr.decode(errors="replace").strip()
        reason = said[-400:] or f"exit code {done.returncode}"
        raise GitFailed(f"git {args[0]} failed in {cwd}: {reason}", done.returncode, said)
    return done


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """Where the repository of a workspace root lives."""

    toplevel: Path  # the work tree's top directory
    git_dir: Path  # per-work-tree git directory (index, HEAD)
    common_dir: Path  # shared git directory (objects, config, refs, info/exclude)
    prefix: str  # the workspace root relative to `toplevel`, POSIX, "" at the top
    object_format: str  # "sha1" or "sha256"


def discover(root: Path) -> RepoInfo | None:
    """The repository whose work tree holds `root`, or None if `root` is not in a git work tree."""
    try:
        done = run_git(["rev-parse", "--path-format=absolute", *_WHERE], root)
    except GitFailed as exc:
        if "not a git repository" in exc.stderr:
            return None
        if "must be run in a work tree" in exc.stderr:
            raise WorkspaceError(f"the workspace root {root} lies inside a git directory, not a work tree") from None
        raise
    lines = done.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 4:
        raise WorkspaceError(f"git rev-parse in {root} answered something unexpected: {done.stdout[:200]!r}")
    toplevel = Path(lines[2])
    try:
        prefix = root.relative_to(toplevel.resolve()).as_posix()
    except ValueError:
        raise WorkspaceError(f"the workspace root {root} is not inside its git work tree {toplevel}") from None
    return RepoInfo(toplevel, Path(lines[0]), Path(lines[1]), "" if prefix == "." else prefix, lines[3])


def has_git_ancestor(root: Path) -> bool:
    """True if `root` or a parent holds a `.git` entry (used only when git itself is missing)."""
    return any((d / ".git").exists() for d in (root, *root.parents))


def linked_worktrees(repo: RepoInfo, inside: Path) -> list[Path]:
    """The repository's other work trees whose folders lie inside `inside` (not `inside` itself).

    Read from `<common>/worktrees/*/gitdir` (each names its work tree's `.git` file), as `git worktree
    list` does, without running git: asked on every recomputation of a code state.
    """
    found = []
    root = inside.resolve()
    try:
        entries = list(os.scandir(repo.common_dir / "worktrees"))
    except OSError:
        return []
    for entry in entries:
        try:
            text = (Path(entry.path) / "gitdir").read_text(encoding="utf-8", errors="surrogateescape").strip()
        except OSError:
            continue
        tree = Path(text).parent if text else None
        if tree is None or not tree.is_absolute():
            continue
        tree = tree.resolve()
        if tree != root and tree.is_relative_to(root):
            found.append(tree)
    return found

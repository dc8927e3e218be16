"""`otel-mcp hooks run git-pre-commit`: refuse a commit that touches files another agent reserves.

Reservations are the paths agents hold with `claim_task(..., paths=[...])`: repository paths, the
same in every worktree. The staged paths (`git diff --cached --name-only -z --no-renames`, so a
rename counts for both names; repository paths whichever worktree commits) are read in the
repository the hook runs in, the store as every command resolves it, and who is committing from
OTEL_MCP_AGENT_ID (unset: a person, bound by every agent's reservation). Exit 0: nothing conflicts
(or no store exists yet); 1: conflicts, each named with how to resolve it; 2: the check could not
run. `git commit --no-verify` skips it: the human's escape hatch.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

__all__ = ["main"]

_ESCAPE = "A person who is sure can skip this check once: git commit --no-verify"


class _HookError(Exception):
    """The check could not run (not a git repository, git missing, the store unreadable)."""


def _git(args: Sequence[str], cwd: Path | None = None) -> bytes:
    """git in the repository committing, or (given `cwd`) in the one at `cwd`, whatever git exported."""
    env = None if cwd is None else {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _HookError(f"could not run git ({exc})") from exc
    if done.returncode != 0:
        raise _HookError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


def _common_dir(cwd: Path | None = None) -> Path:
    out = _git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd)
    return Path(os.fsdecode(out.strip())).resolve()


def _placement(workspace: Path) -> tuple[str, str]:
    """Where the workspace sits relative to the repository being committed to: (the repository path
    of the workspace, "" at the top; the path of the repository in the workspace when it holds it).

    Any worktree of the same repository will do (a hook installed once serves them all, and its
    workspace may name another worktree than the one committing): reservations name repository
    paths, which are the same in every worktree. A workspace in no repository that holds this one
    counts by its place on disk, as reservations did before worktrees.
    """
    here = _common_dir()
    try:
        there = _common_dir(workspace) if workspace.is_dir() else None
    except _HookError:
        there = None
    if there == here:
        return os.fsdecode(_git(["rev-parse", "--show-prefix"], workspace).strip()), ""
    top = Path(os.fsdecode(_git(["rev-parse", "--show-toplevel"]).strip())).resolve()
    if top.is_relative_to(workspace.resolve()):  # this repository is a folder inside the workspace
        inner = top.relative_to(workspace.resolve()).as_posix()
        return "", "" if inner == "." else f"{inner}/"
    raise _HookError(
        f"the workspace {str(workspace)[:120]} is neither a worktree of this repository nor a folder holding it, "
        "so the staged files cannot be matched to its reservations: set OTEL_MCP_WORKSPACE (or reinstall the "
        "hooks with `otel-mcp hooks install`) to this repository's folder"
    )


def _staged(workspace: Path | None) -> list[str]:
    """The staged paths as reservations name them: repository paths (relative to the top of the worktree
    committing, which is the same in every worktree), under the workspace when it is a subfolder.

    Files outside a workspace that is a subfolder cannot be reserved (reservations are paths inside it).
    """
    names = [os.fsdecode(n) for n in _git(["diff", "--cached", "--name-only", "-z", "--no-renames"]).split(b"\0") if n]
    under, above = _placement(workspace) if workspace is not None else ("", "")
    return [f"{above}{name[len(under) :]}" for name in names if name.startswith(under)]


def main(args: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    from otel_mcp.config import Settings
    from otel_mcp.core.claims.reservations import conflicts
    from otel_mcp.errors import NotFound, OtelMcpError
    from otel_mcp.resolve import resolve
    from otel_mcp.store import open_for_reading

    me = os.environ.get("OTEL_MCP_AGENT_ID", "").strip() or None
    try:
        settings = resolve(Settings.from_env(default_agent="git-pre-commit"))
        paths = _staged(settings.workspace)
        if not paths:
            return 0
        try:
            store = open_for_reading(settings)
        except NotFound:
            # No store yet: nobody has reserved anything. Said, so a store looked for in the wrong place shows.
            print(f"otel-mcp pre-commit: note: no store at {settings.db_path}: no reservations to check", file=stderr)
            return 0
        try:
            found = conflicts(store, me, paths, time.time_ns())
        finally:
            store.shutdown()
    except (_HookError, OtelMcpError) as exc:
        print(f"otel-mcp pre-commit: could not check path reservations: {exc}\n{_ESCAPE}", file=stderr)
        return 2
    if not found:
        return 0
    files = len({c.path for c in found})
    lines = [f"otel-mcp pre-commit: commit refused: {files} staged file(s) are reserved by other agents."]
    for c in found:
        lines.append(f"  {c.path}: reserved by {c.holder} for task {c.task_id!r} ({c.glob!r}) until {c.expires_at}")
    lines.append("To go ahead:")
    for holder, task, expires in dict.fromkeys((c.holder, c.task_id, c.expires_at) for c in found):
        lines.append(f"  - wait until {holder}'s lease on {task!r} lapses at {expires} (unless renewed), or")
        lines.append(f"    ask {holder} to release_task {task!r} (or to claim again without those paths);")
    lines.append("  - or split the commit: unstage those files (git restore --staged FILE) and commit the rest.")
    lines.append(_ESCAPE)
    print("\n".join(lines), file=stderr)
    return 1

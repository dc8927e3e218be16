"""`otel-mcp hooks run git-pre-commit`: refuse a commit that touches files another agent reserves.

Reservations are the paths agents hold with `claim_task(..., paths=[...])`. The staged paths
(`git diff --cached --name-only -z --no-renames`, so a rename counts for both names) are read in the
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


def _git(args: Sequence[str]) -> bytes:
    try:
        done = subprocess.run(["git", *args], capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _HookError(f"could not run git ({exc})") from exc
    if done.returncode != 0:
        raise _HookError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout


def _staged(workspace: Path | None) -> list[str]:
    """The staged paths, relative to the workspace (the reservations' root); others are out of its reach."""
    top = Path(os.fsdecode(_git(["rev-parse", "--show-toplevel"]).strip()))
    names = [os.fsdecode(n) for n in _git(["diff", "--cached", "--name-only", "-z", "--no-renames"]).split(b"\0") if n]
    root = (workspace or top).resolve()
    out = []
    for name in names:
        try:
            out.append((top.resolve() / name).relative_to(root).as_posix())
        except ValueError:
            continue
    return out


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
            return 0  # no store yet: nobody has reserved anything
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

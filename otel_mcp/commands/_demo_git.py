"""The demo's git side: one repository, a linked worktree per agent, otel-mcp's hooks, a remote to push to.

Each agent works in its own worktree on its own branch, nested under `.claude/worktrees/NAME` on
branch `worktree-NAME` as `claude --worktree NAME` makes them; work moves between them by merges,
and reaches the remote's `main` through the pre-push hook, installed once for every worktree.
Without git on the machine the demo still runs, all agents in one folder and without pushes, and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoRepo", "git_available", "worktree_branch"]

_IDENTITY = ["-c", "user.name=otel-mcp demo", "-c", "user.email=demo@otel-mcp.invalid", "-c", "commit.gpgsign=false"]
WORKTREES = Path(".claude/worktrees")  # where `claude --worktree NAME` puts them


def git_available() -> bool:
    return shutil.which("git") is not None


def worktree_branch(agent: str) -> str:
    return f"worktree-{agent}"


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str  # what git and the hooks printed


class DemoRepo:
    """The scratch folder as a repository: its bare remote inside `.otel-mcp/` (ignored), hooks installed."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.remote = root / ".otel-mcp" / "remote.git"
        # The hooks find the store and the gates as the servers do, from the worktree they run in: none
        # of the caller's own otel-mcp settings may point them elsewhere.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_MCP_", "CLAUDE_", "GIT_"))}
        self.env = {**inherited, **env}

    def worktree(self, agent: str) -> Path:
        return self.root / WORKTREES / agent

    def _git(self, *args: str, cwd: Path | None = None) -> Outcome:
        done = subprocess.run(
            ["git", *_IDENTITY, *args],
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Outcome(done.returncode == 0, (done.stdout + done.stderr).strip())

    def create(self, agents: tuple[str, ...]) -> None:
        """Initial commit of the project, its gates and its MCP config; hooks; one worktree per agent."""
        steps: list[tuple[str, ...]] = [
            ("init", "-q", "-b", "main"),
            ("add", "-A"),
            ("commit", "-q", "-m", "calculator skeleton, tests, gates and the agents' MCP config"),
            ("init", "-q", "--bare", str(self.remote)),
            ("remote", "add", "origin", str(self.remote)),
            ("push", "-q", "origin", "main"),
        ]
        steps += [("worktree", "add", "-q", "-b", worktree_branch(a), str(self.worktree(a))) for a in agents]
        for step in steps:
            outcome = self._git(*step)
            if not outcome.ok:
                raise RuntimeError(f"git {step[0]} failed in the demo repository: {outcome.text[:300]}")
        installed = subprocess.run(
            [sys.executable, "-m", "otel_mcp", "hooks", "install", "pre-push"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"otel-mcp hooks install failed: {(installed.stdout + installed.stderr)[:300]}")

    def common_dir(self) -> Path:
        out = self._git("rev-parse", "--path-format=absolute", "--git-common-dir")
        if not out.ok:
            raise RuntimeError(f"git rev-parse failed in the demo repository: {out.text[:300]}")
        return Path(out.text).resolve()

    def commit(self, agent: str, message: str, task_id: str) -> Outcome:
        """Commit everything in the agent's worktree, with a `Task:` trailer."""
        where = self.worktree(agent)
        added = self._git("add", "-A", cwd=where)
        if not added.ok:
            return added
        committed = self._git("commit", "-q", "-m", f"{message}\n\nTask: {task_id}", cwd=where)
        if not committed.ok and "nothing to commit" in committed.text:
            return Outcome(True, committed.text)
        return committed

    def merge(self, agent: str, branch: str, *, message: str | None = None) -> Outcome:
        """Bring `branch` into the agent's worktree: a fast-forward, or with `message` a merge commit."""
        how = ("--no-ff", "-m", message) if message else ("--ff-only",)
        return self._git("merge", "-q", *how, branch, cwd=self.worktree(agent))

    def push(self, agent: str) -> Outcome:
        """Push the agent's branch to the remote's main: the pre-push hook decides."""
        return self._git("push", "-q", "origin", "HEAD:main", cwd=self.worktree(agent))

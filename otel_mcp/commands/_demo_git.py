"""The demo's git side: its workspace as a repository with otel-mcp's hooks, and a remote to push to.

Agents commit and push as they would from their shell; the installed pre-push hook asks the gates.
Without git on the machine the demo still runs, without this part, and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoRepo", "git_available"]

_IDENTITY = ["-c", "user.name=otel-mcp demo", "-c", "user.email=demo@otel-mcp.invalid", "-c", "commit.gpgsign=false"]


def git_available() -> bool:
    return shutil.which("git") is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    text: str  # what git and the hooks printed


class DemoRepo:
    """The workspace as a git repository, its bare remote inside `.otel-mcp/` (ignored), hooks installed."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.workspace = workspace
        self.remote = workspace / ".otel-mcp" / "remote.git"
        # What the hooks need to find the store and the gates: the servers' own settings.
        self.env = {**os.environ, **env}

    def _git(self, *args: str, cwd: Path | None = None) -> Outcome:
        done = subprocess.run(
            ["git", *_IDENTITY, *args],
            cwd=cwd or self.workspace,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Outcome(done.returncode == 0, (done.stdout + done.stderr).strip())

    def create(self) -> None:
        """Initial commit of the project and its gates (the gates in force are the committed ones)."""
        (self.workspace / ".gitignore").write_text(".otel-mcp/\n__pycache__/\n")
        for step in (
            ("init", "-q", "-b", "main"),
            ("add", "-A"),
            ("commit", "-q", "-m", "calculator skeleton, tests and gates"),
            ("init", "-q", "--bare", str(self.remote)),
            ("remote", "add", "origin", str(self.remote)),
            ("push", "-q", "origin", "main"),
        ):
            outcome = self._git(*step)
            if not outcome.ok:
                raise RuntimeError(f"git {step[0]} failed in the demo workspace: {outcome.text[:300]}")
        installed = subprocess.run(
            [sys.executable, "-m", "otel_mcp", "hooks", "install", "pre-push"],
            cwd=self.workspace,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"otel-mcp hooks install failed: {(installed.stdout + installed.stderr)[:300]}")

    def commit_and_push(self, message: str, task_id: str) -> Outcome:
        """Commit everything with a `Task:` trailer, then push: the pre-push hook decides."""
        added = self._git("add", "-A")
        if not added.ok:
            return added
        committed = self._git("commit", "-q", "-m", f"{message}\n\nTask: {task_id}")
        if not committed.ok and "nothing to commit" not in committed.text:
            return committed
        return self._git("push", "-q", "origin", "main")

"""A real git repository with a local bare remote, for the git hook tests.

git runs with a minimal `PATH` (as from a git GUI), no `OTEL_MCP_*` variables (the hooks must carry
what `otel-mcp hooks install` was given) and no user or system git configuration.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.forkserver import otel_mcp_command

# A gate guarding the completion of code, built on the shipped lint gate (real ruff).
SHIP_GATE = """\
gates:
  - name: ship
    description: Code may be recorded complete, and pushed, once lint has passed on it
    guards: {task_types: [code_generation], status: complete}
    requires_gates: [lint]
"""
CLEAN = "def add(a: int, b: int) -> int:\n    return a + b\n"


class GitRepo:
    """`work` (a clone-like repository with `origin`) and `remote` (bare), plus the store outside both.

    Hooks installed through `otel_mcp("hooks", "install", ...)` are the installed scripts, run by git;
    with `fork_hooks` (the default) their last step, `python -m otel_mcp hooks run ...`, is pointed at
    the worker's zygote (`tests.support.forkserver`): the same script and hook, without a second of
    imports per push. The installation tests keep the scripts exactly as installed.
    """

    def __init__(self, root: Path, *, fork_hooks: bool = True) -> None:
        self.root = root
        self.fork_hooks = fork_hooks
        self.work = root / "work"
        self.remote = root / "remote.git"
        self.db = root / "store" / "telemetry.db"
        self.home = root / "home"
        self.home.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GIT_", "PYTHON"))}
        self.env.update(
            PATH="/usr/bin:/bin",
            HOME=str(self.home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=str(self.home / "gitconfig"),
        )
        self.git("init", "-q", "--bare", str(self.remote), cwd=root)
        self.git("init", "-q", "-b", "main", str(self.work), cwd=root)
        self.git("config", "user.name", "Agent A")
        self.git("config", "user.email", "agent-a@example.com")
        self.git("remote", "add", "origin", str(self.remote))

    def git(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["git", *args], cwd=cwd or self.work, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def otel_mcp(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`otel-mcp ...` run by this interpreter (forked from the worker's zygote), with the store and
        workspace the agents use. The hooks git runs are the installed scripts, spawned for real."""
        full = {**self.env, "OTEL_MCP_DB": str(self.db), "OTEL_MCP_WORKSPACE": str(self.work), **(env or {})}
        done = subprocess.run(
            otel_mcp_command(args, full),
            cwd=self.work,
            env=full,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if self.fork_hooks and args[:2] == ("hooks", "install") and done.returncode == 0:
            self._fork_installed_hooks()
        return done

    def _fork_installed_hooks(self) -> None:
        spawned = f"{shlex.quote(os.path.abspath(sys.executable))} -m otel_mcp "
        forked = " ".join(shlex.quote(w) for w in otel_mcp_command([])) + " "
        hooks = Path(self.git("rev-parse", "--path-format=absolute", "--git-path", "hooks").stdout.strip())
        for script in hooks.glob("pre-*"):
            text = script.read_text()
            if spawned in text:
                script.write_text(text.replace(spawned, forked))

    def seed(self) -> None:
        """The shipped gates plus the `ship` gate, a clean module, committed and pushed (no task named)."""
        shutil.copytree(REPO / "gates", self.work / "gates")
        (self.work / "gates" / "ship.yaml").write_text(SHIP_GATE)
        (self.work / ".gitignore").write_text("__pycache__/\n")
        (self.work / "app.py").write_text(CLEAN)
        self.commit("Start the app")
        self.git("push", "-q", "origin", "main")

    def commit(self, message: str, *, no_verify: bool = False) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, *(["--no-verify"] if no_verify else []))
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", ref).stdout.strip()

    def push(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.git("push", "origin", "main", *args, check=False)

    def remote_head(self) -> str:
        return self.git("rev-parse", "main", cwd=self.remote).stdout.strip()

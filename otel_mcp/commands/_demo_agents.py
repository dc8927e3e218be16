"""The scripted agents behind `otel-mcp demo`: four real processes coordinate through the embedded store.

Each agent is an MCP client talking over stdio to its own `otel-mcp serve`, as Claude Code would
run it; the roles are scripted so no model is needed. The scratch folder is a git repository with
one linked worktree per agent (`.claude/worktrees/NAME` on branch `worktree-NAME`, as `claude
--worktree NAME` makes them), every server started from the one `.mcp.json` the repository
commits, each learning its worktree from the host and all sharing one store under the common git
directory. They plan a small task graph, find ready work, claim it; the coder writes a small
Python project in its worktree, the others merge its branch and run real checks there (bandit,
pytest, ruff), and gates pass on the runner spans they cite — the security gate fails on the first
attempt (the code shells out with `shell=True`) and passes after the coder's fix. Gates also stop
progress: recording the scan complete is refused while the security gate fails, and the pre-push
hook refuses the coder's eager push of the unchecked code, then accepts the planner's merge once
the release gate passed on its tree. The coder's host also sends its own telemetry (a Claude
Code `tool_result` event) to `otel-mcp collect`: it shows on the coder's timeline as
source=external.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

import otel_mcp
from otel_mcp.commands._demo_agent import DemoResult, _Agent
from otel_mcp.commands._demo_git import DemoRepo, git_available, worktree_branch
from otel_mcp.commands._demo_host import HostTelemetry
from otel_mcp.commands._demo_project import write_workspace
from otel_mcp.commands._demo_roles import _coder, _planner, _security, _tester
from otel_mcp.resolve import SHARED_STORE, WORKTREE_STORE

__all__ = ["AGENTS", "explain", "run_demo"]

AGENTS = ("planner", "coder", "tester", "security")
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")  # Claude Code's ${VAR} and ${VAR:-default} in .mcp.json


def _python_path() -> dict[str, str]:
    # Let the child import otel_mcp the way this process does (an installed package or a checkout).
    package_root = str(Path(otel_mcp.__file__).resolve().parent.parent)
    return {"PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)}


def _server(config: dict[str, Any], name: str, worktree: Path) -> StdioServerParameters:
    """The server a host starts from the project's `.mcp.json` for an agent working in `worktree`.

    As Claude Code does: `${VAR}` expanded from the agent's shell (`OTEL_MCP_AGENT_ID=NAME claude
    --worktree NAME`), `CLAUDE_PROJECT_DIR` set to the worktree and the server started there.
    """
    shell = {"OTEL_MCP_AGENT_ID": name}

    def expand(value: str) -> str:
        return _VARIABLE.sub(lambda m: shell.get(m.group(1)) or m.group(2) or "", value)

    command, args = config["command"], [expand(a) for a in config.get("args", [])]
    if command == "otel-mcp":  # the demo's own interpreter: `otel-mcp` need not be on PATH
        command, args = sys.executable, ["-m", "otel_mcp", *args]
    env = {k: expand(v) for k, v in (config.get("env") or {}).items()}
    env |= {"CLAUDE_PROJECT_DIR": str(worktree), **_python_path()}
    return StdioServerParameters(command=command, args=args, env=env, cwd=str(worktree))


async def run_demo(workspace: Path, say: Callable[[str, str], None], timeout_s: float = 120.0) -> DemoResult:
    """Run the scripted agents in `workspace` (created if missing) and return their gate decisions."""
    workspace.mkdir(parents=True, exist_ok=True)
    write_workspace(workspace)
    config = json.loads((workspace / ".mcp.json").read_text())["mcpServers"]["otel-mcp"]
    repo = None
    worktrees = dict.fromkeys(AGENTS, workspace)
    db_path = workspace / WORKTREE_STORE
    if git_available():
        repo = DemoRepo(workspace, {"OTEL_MCP_AGENT_ID": "git-hooks", **_python_path()})
        await anyio.to_thread.run_sync(repo.create, AGENTS)
        worktrees = {a: repo.worktree(a) for a in AGENTS}
        db_path = await anyio.to_thread.run_sync(repo.common_dir) / SHARED_STORE
    result = DemoResult(workspace=workspace, db_path=db_path, worktrees=worktrees, pushes=repo is not None)
    host = HostTelemetry(workspace, _python_path())
    started = time.monotonic()
    deadline = started + timeout_s
    roles: dict[str, Callable[[_Agent], Awaitable[None]]] = {
        "planner": lambda a: _planner(a, deadline, result, repo),
        "coder": lambda a: _coder(a, deadline, result, repo, host),
        "tester": lambda a: _tester(a, deadline, result, repo),
        "security": lambda a: _security(a, deadline, result, repo),
    }

    async def agent(name: str) -> None:
        # Each agent owns its connection, as each host window owns its server process.
        where = worktrees[name]
        async with Client(_server(config, name, where)) as client:
            if repo is None:
                say(name, "connected to its own otel-mcp server over stdio")
            else:
                place = where.relative_to(workspace)
                say(
                    name, f"connected to its own otel-mcp server over stdio; works in {place} ({worktree_branch(name)})"
                )
            await roles[name](_Agent(name, client, say, where))

    try:
        with anyio.fail_after(timeout_s):
            async with anyio.create_task_group() as tg:
                for name in AGENTS:
                    tg.start_soon(agent, name)
    finally:
        await anyio.to_thread.run_sync(host.close)
    result.seconds = time.monotonic() - started
    return result


def explain() -> str:
    return textwrap.dedent(__doc__ or "").strip()

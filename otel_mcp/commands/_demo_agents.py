"""The scripted agents behind `otel-mcp demo`: four real processes coordinate through the embedded store.

Each agent is an MCP client talking over stdio to its own `otel-mcp serve`, as Cursor or Claude
would run it; the roles are scripted so no model is needed. In a scratch workspace they plan a
small task graph, find ready work, claim it, edit a small Python project, run real checks (bandit,
pytest, ruff) and pass gates by citing the runner spans — the security gate fails on the first
attempt (the code shells out with `shell=True`) and passes after the coder's fix. Gates also stop
progress: recording the scan complete is refused while the security gate fails, and (when git is
installed) the workspace is a repository whose pre-push hook refuses the coder's eager push of
the unchecked code, then accepts the planner's push once the release gate passed on that commit.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

import otel_mcp
from otel_mcp.commands._demo_agent import DemoResult, _Agent
from otel_mcp.commands._demo_git import DemoRepo, git_available
from otel_mcp.commands._demo_project import write_workspace
from otel_mcp.commands._demo_roles import _coder, _planner, _security, _tester

__all__ = ["AGENTS", "explain", "run_demo"]

AGENTS = ("planner", "coder", "tester", "security")


def _server_env(name: str, workspace: Path, db_path: Path) -> dict[str, str]:
    env = {
        "OTEL_MCP_AGENT_ID": name,
        "OTEL_MCP_WORKSPACE": str(workspace),
        "OTEL_MCP_DB": str(db_path),
        "OTEL_MCP_GATES_DIR": str(workspace / "gates"),
    }
    # Let the child import otel_mcp the way this process does (an installed package or a checkout).
    package_root = str(Path(otel_mcp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    return env


def _server(name: str, workspace: Path, db_path: Path) -> StdioServerParameters:
    env = _server_env(name, workspace, db_path)
    return StdioServerParameters(command=sys.executable, args=["-m", "otel_mcp", "serve"], env=env, cwd=str(workspace))


async def run_demo(workspace: Path, say: Callable[[str, str], None], timeout_s: float = 120.0) -> DemoResult:
    """Run the scripted agents in `workspace` (created if missing) and return their gate decisions."""
    workspace.mkdir(parents=True, exist_ok=True)
    write_workspace(workspace)
    db_path = workspace / ".otel-mcp" / "telemetry.db"
    result = DemoResult(workspace=workspace, db_path=db_path)
    repo = None
    if git_available():
        # The workspace as a repository with the pre-push hook; its committed gates are the ones in force.
        repo = DemoRepo(workspace, _server_env("git-hooks", workspace, db_path))
        await anyio.to_thread.run_sync(repo.create)
        result.pushes = True
    started = time.monotonic()
    deadline = started + timeout_s
    roles: dict[str, Callable[[_Agent], Awaitable[None]]] = {
        "planner": lambda a: _planner(a, deadline, result, repo),
        "coder": lambda a: _coder(a, workspace, deadline, result, repo),
        "tester": lambda a: _tester(a, deadline, result),
        "security": lambda a: _security(a, deadline, result),
    }

    async def agent(name: str) -> None:
        # Each agent owns its connection, as each host window owns its server process.
        async with Client(_server(name, workspace, db_path)) as client:
            say(name, "connected to its own otel-mcp server over stdio")
            await roles[name](_Agent(name, client, say))

    with anyio.fail_after(timeout_s):
        async with anyio.create_task_group() as tg:
            for name in AGENTS:
                tg.start_soon(agent, name)
    result.seconds = time.monotonic() - started
    return result


def explain() -> str:
    return textwrap.dedent(__doc__ or "").strip()

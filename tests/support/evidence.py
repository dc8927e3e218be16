"""Hostile-agent tests of issue 10: real git workspaces, the real server over stdio, the real CLI.

An agent has a shell and a writable workspace; these helpers do what it would do (write files,
commit, edit the store with sqlite3, prepend PATH) and drive otel-mcp the way a host or a terminal
does. The workspace holds a copy of the shipped gates, committed, so the gates in force are the
repository's own examples.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from tests.conftest import REPO, call
from tests.support.forkserver import otel_mcp_command, server_command
from tests.support.workspace import git, write

CLEAN_APP = 'def add(a: int, b: int) -> int:\n    """Sum of two numbers."""\n    return a + b\n'
# bandit B602 (shell=True): severity HIGH, confidence HIGH, which the security gate counts as critical.
VULNERABLE_APP = (
    "import subprocess\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n\n\n"
    "def run(cmd: str) -> int:\n    return subprocess.call(cmd, shell=True)\n"
)
TEST_APP = "from app import add\n\n\ndef test_add() -> None:\n    assert add(1, 2) == 3\n"
# A gate that guards feature completion on agent evidence alone (no check): tests of what may lend a pass.
REVIEW_GATE = """\
gates:
  - name: reviewed
    guards: {task_types: [feature], status: complete}
    requirements:
      - name: review
        span_name: review_complete
        where: {quality.score: ">= 0.8"}
"""
PROJECT = {"app.py": CLEAN_APP, "tests/test_app.py": TEST_APP, ".gitignore": ".otel-mcp/\n__pycache__/\n"}


def make_workspace(root: Path, files: dict[str, str] | None = None, *, gates: bool = True, commit: bool = True) -> Path:
    """A real git repository with `files` (default: a tiny project with a test) and the shipped gates, committed."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in (PROJECT if files is None else files).items():
        write(root / rel, text)
    if gates:
        shutil.copytree(REPO / "gates", root / "gates")
    if commit:
        commit_all(root, "init")
    return root


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def server_env(workspace: Path, db: Path, **extra: str) -> dict[str, str]:
    """What a host config carries: the workspace and the store; the gates are the workspace's own."""
    env = {
        "OTEL_MCP_AGENT_ID": "agent-red",
        "OTEL_MCP_DB": str(db),
        "OTEL_MCP_WORKSPACE": str(workspace),
        "PYTHONPATH": str(REPO),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


@asynccontextmanager
async def serve(
    workspace: Path, db: Path, *, cwd: Path | None = None, fork: bool = True, **extra: str
) -> AsyncIterator[Client]:
    """`otel-mcp serve` over stdio, with the env and cwd a host gives it.

    Forked from this worker's pre-imported zygote (`tests.support.forkserver`): its own process,
    stdio and store connection. `fork=False` spawns `python -m otel_mcp serve` for real.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    env = server_env(workspace, db, **extra)
    command = server_command(["serve"], env) if fork else [sys.executable, "-m", "otel_mcp", "serve"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(cwd or db.parent))
    async with Client(params) as client:
        yield client


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    fork: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`python -m otel_mcp ARGS` as a terminal runs it (no OTEL_MCP_* from the test's own environment).

    Forked from the worker's zygote (`tests.support.forkserver`) unless `fork=False` or another `python`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_MCP_", "TRACEPARENT", "CI"))}
    base["PYTHONPATH"] = str(REPO)
    full = {**base, **(env or {})}
    forked = fork and python == sys.executable
    return subprocess.run(
        otel_mcp_command(args, full) if forked else [python, "-m", "otel_mcp", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def workspace_cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m otel_mcp ARGS` (forked) in `workspace` with only its store, workspace and gates set, a bare PATH."""
    env = {
        "OTEL_MCP_DB": str(workspace / ".otel-mcp" / "telemetry.db"),
        "OTEL_MCP_WORKSPACE": str(workspace),
        "OTEL_MCP_GATES_DIR": str(workspace / "gates"),
        "PYTHONPATH": str(REPO),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        otel_mcp_command(args, env), capture_output=True, text=True, env=env, cwd=workspace, timeout=60
    )


async def run_check(client: Client, check: str, task: str) -> dict[str, Any]:
    return await call(client, "run_check", check=check, task_id=task)


async def submit(client: Client, gate: str, task: str, *span_ids: str) -> dict[str, Any]:
    return await call(client, "submit_gate_evidence", gate=gate, task_id=task, evidence=list(span_ids))


async def pass_gate(client: Client, gate: str, check: str, task: str) -> dict[str, Any]:
    """Run the gate's check and submit it; the gate must pass. Returns the run."""
    run = await run_check(client, check, task)
    decision = await submit(client, gate, task, run["span_id"])
    assert decision["decision"] == "pass", reasons(decision)
    return run


def reasons(decision: dict[str, Any]) -> str:
    return " | ".join(decision["reasons"])


def span_attributes(db: Path, span_id: str) -> dict[str, Any]:
    """A stored span's attributes, read straight from the SQLite file."""
    import json
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT attributes FROM span_store WHERE span_id = ?", (span_id,)).fetchone()
    finally:
        con.close()
    assert row is not None, f"span {span_id} is not in {db}"
    attributes: dict[str, Any] = json.loads(row[0])
    return attributes


def sql(db: Path, statement: str, *params: object) -> int:
    """What an agent with the sqlite3 shell (and no key) can do to the store: returns rows changed."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        changed = con.execute(statement, params).rowcount
        con.commit()
    finally:
        con.close()
    return changed

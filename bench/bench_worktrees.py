"""Worktree figures: a server started as the shared host config starts it, in a linked worktree.

python -m bench.bench_worktrees [-n 300]

The server finds its workspace (CLAUDE_PROJECT_DIR) and the repository's shared store (under the
common git directory) itself. Printed: start-up to first answer beside a server told both
(OTEL_MCP_WORKSPACE and OTEL_MCP_DB: what resolving them costs), and ping, record_task and claim_task over
stdio back to back, as ratios to ping (target: record_task and claim_task within 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp import Client, StdioServerParameters

from bench._common import REPO, p50, server_params, summary, timed


def _git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.com", GIT_COMMITTER_NAME="b")
    env.update(GIT_COMMITTER_EMAIL="b@example.com")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def _repository(root: Path) -> tuple[Path, Path]:
    """A repository with the shipped gates committed and a worktree nested as `claude --worktree` makes it."""
    main = root / "project"
    main.mkdir(parents=True)
    _git(main, "init", "-q", "-b", "main")
    (main / "app.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (main / "gates").mkdir()
    for gate in (REPO / "gates").glob("*.yaml"):
        (main / "gates" / gate.name).write_text(gate.read_text())
    _git(main, "add", "-A")
    _git(main, "commit", "-q", "-m", "init")
    tree = main / ".claude" / "worktrees" / "bench"
    _git(main, "worktree", "add", "-q", "-b", "worktree-bench", str(tree))
    return main, tree


def _in_worktree(main: Path, tree: Path, agent: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={"OTEL_MCP_AGENT_ID": agent, "CLAUDE_PROJECT_DIR": str(tree), "PYTHONPATH": str(REPO)},
        cwd=str(main),
    )


async def _startup(params: StdioServerParameters, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        async with Client(params, mode="legacy") as c:
            await c.list_tools()
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="otel-mcp-bench-wt-"))
    main, tree = _repository(root)
    plain = root / "plain"
    plain.mkdir()

    worktree_start = await _startup(_in_worktree(main, tree, "bench-start"), args.runs)
    # The config before worktrees were shared: the same worktree and a store, both named in the config.
    named = server_params(plain / "telemetry.db", "bench-named", OTEL_MCP_WORKSPACE=str(tree), PYTHONPATH=str(REPO))
    named_start = await _startup(named, args.runs)
    print("## a server in a linked worktree, from the shared config (CLAUDE_PROJECT_DIR, no OTEL_MCP_DB)")
    print(f"start-up to first answer, worktree + shared store: {summary(worktree_start)}")
    print(f"start-up, workspace and store named in the config:  {summary(named_start)}")
    print(f"  ratio {p50(worktree_start) / p50(named_start):.2f}x (what finding the worktree and shared store costs)")

    async with Client(_in_worktree(main, tree, "bench-a"), mode="legacy") as c:
        ping = await timed(c.send_ping, args.n)
        counter = iter(range(10**9))

        async def record() -> None:
            await c.call_tool(
                "record_task", {"task_id": f"wt/{next(counter)}", "task_type": "test", "status": "complete"}
            )

        async def claim() -> None:
            await c.call_tool("claim_task", {"task_id": f"wt/claim-{next(counter)}", "lease_seconds": 60})

        records = await timed(record, args.n)
        claims = await timed(claim, args.n)
    base = p50(ping)
    print(f"ping over stdio:        {summary(ping)}")
    print(f"record_task over stdio: {summary(records)}   {p50(records) / base:.2f}x ping (target <= 2x)")
    print(f"claim_task over stdio:  {summary(claims)}   {p50(claims) / base:.2f}x ping (target <= 2x)")
    store = main / ".git" / "otel-mcp" / "telemetry.db"
    print(f"store: {store} ({'shared, under the common git directory' if store.is_file() else 'MISSING'})")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

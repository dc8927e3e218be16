"""Benchmark: `otel-mcp gates status GATE --task T` as a process, against process start-up, in one run.

    python -m bench.bench_verify [--spans 1000000] [--runs 21] [--workspace-files 10000] [--profile]

The store is filled once with bench_gates' synthetic spans (bulk inserts, a minute or two) and
cached in the temp directory under a name of its own (`verify-<spans>.db`); the workspace is
bench_gates' cached git repository of `--workspace-files` small files (0: an empty folder). A server
runtime records a task, runs the gate's check and passes the gate on the code as it is; then
each round runs `otel-mcp --version` and `otel-mcp gates status bench --task T` (which must exit
0), alternating, as separate processes. The issue's target: verify stays a small multiple of
process start-up. Printed besides: the median cost of one code-state digest of the workspace in a
fresh process's way (no watcher, every file hashed), which every verify on a workspace pays (it
runs in a thread while the gate definitions load), and with `--profile`, where one verify spends
its time. On a shared 2-core machine the figures move by tens of percent between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_gates import fill, make_repo  # noqa: E402
from otel_mcp.config import Settings  # noqa: E402
from otel_mcp.core.workspace import Workspace  # noqa: E402
from otel_mcp.runtime import Runtime  # noqa: E402

TASK = "bench/verify-1"
GATES = """\
checks:
  scan:
    span_name: scan_complete
    command: ["{python}", "-c", "print('{\\"failed\\": 0}')"]
    attributes:
      failed: "json:/failed"
gates:
  - name: bench
    guards: {task_types: [code_generation], status: complete}
    requirements:
      - name: scan
        span_name: scan_complete
        check: scan
        sources: [runner]
        attested: true
        status: ok
        code: current
        where: {failed: 0}
        max_age: 24h
"""


def _env(db: Path, gates_dir: Path, workspace: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_MCP_DB=str(db), OTEL_MCP_GATES_DIR=str(gates_dir), OTEL_MCP_WORKSPACE=str(workspace))
    return env


async def _pass_gate(env: dict[str, str]) -> None:
    settings = Settings.from_env(env, default_agent="bench-agent")
    runtime = Runtime.open(settings, env={})
    try:
        runtime.coordinator.record_task(TASK, "code_generation", "started")
        run = await runtime.runner.run_check("scan", TASK)
        decision = runtime.decisions.submit("bench", TASK, [run.span_id])
        assert decision.decision == "pass", decision.reasons
    finally:
        runtime.close()


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed


def _digest_ms(workspace: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        with Workspace(workspace, watch=False) as ws:
            ws.current()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=21, help="processes of each kind (median)")
    parser.add_argument("--workspace-files", type=int, default=10_000, help="files in the workspace's git repo")
    parser.add_argument("--profile", action="store_true", help="also profile one verify in this process")
    args = parser.parse_args()
    work = Path(tempfile.gettempdir()) / "otel-mcp-bench"
    work.mkdir(exist_ok=True)
    db = work / f"verify-{args.spans}.db"  # its own file: opening migrates a store to this schema
    fill(db, args.spans)
    gates_dir = work / "verify-gates"
    gates_dir.mkdir(exist_ok=True)
    (gates_dir / "bench.yaml").write_text(GATES)
    workspace = make_repo(work, args.workspace_files)
    if workspace is None:  # an empty folder (else the current directory would be the workspace)
        workspace = work / "verify-empty-workspace"
        workspace.mkdir(exist_ok=True)
    env = _env(db, gates_dir, workspace)
    asyncio.run(_pass_gate(env))

    program = str(Path(sys.executable).with_name("otel-mcp"))
    startup = [program, "--version"]
    verify = [program, "gates", "status", "bench", "--task", TASK]
    cwd = workspace
    for argv in (startup, verify):  # warm the page cache and the bytecode
        _run(argv, env, cwd)
    starts: list[float] = []
    verifies: list[float] = []
    for _ in range(args.runs):
        starts.append(_run(startup, env, cwd))
        verifies.append(_run(verify, env, cwd))
    p_start, p_verify = statistics.median(starts), statistics.median(verifies)
    print(f"store: {db} ({args.spans:,} spans); workspace: {workspace}")
    print(f"otel-mcp --version                   median {p_start:7.1f} ms  min {min(starts):7.1f} ms  (n={args.runs})")
    print(
        f"otel-mcp gates status bench --task T median {p_verify:7.1f} ms  min {min(verifies):7.1f} ms  (n={args.runs})"
    )
    digest = _digest_ms(workspace, 5)
    print(f"  one code-state digest of the {args.workspace_files:,} files alone, no watcher: ~{digest:.0f} ms")
    ratio, floor = p_verify / p_start, min(verifies) / min(starts)
    print(f"ratio verify / start-up = {ratio:.1f}x (medians; {floor:.1f}x of the minimums)")
    if args.profile:
        os.environ.update(env)
        from otel_mcp.cli import main as cli_main

        profile = cProfile.Profile()
        profile.runcall(cli_main, verify[1:])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())

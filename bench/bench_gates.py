"""Benchmark: submit_gate_evidence (three requirements) against ping, over stdio, with 1,000,000 spans.

    python -m bench.bench_gates [--spans 1000000] [--rounds 300] [--db PATH] [--workspace-files 10000]

The store is filled once with synthetic task records and runner-like spans (bulk inserts, about a
minute) and cached in the temp directory between runs (not in git). Then a real `otel-mcp serve`
subprocess is driven with the official client in the legacy protocol era (`ping` does not exist in
the new one): each round times one `ping` and one `submit_gate_evidence` citing three attested
runner spans that pass every rule (name, task, status, predicates, source, check, attestation,
max_age, newer_than) and that examined the code as it is now: the server's workspace is a git
repository of `--workspace-files` files (10,000 by default; 0 for none), created once and cached,
whose code state each decision compares with the evidence's. The issue's target is p50(submit)
within 3x p50(ping) with that digest (2.5x before code states existed, without any).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from mcp import Client, StdioServerParameters

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._common import ping_and_call  # noqa: E402
from otel_mcp.model import SpanRecord  # noqa: E402
from otel_mcp.store.sqlite import SQLiteStore  # noqa: E402

TASK = "bench/release-1"
GATES = """\
checks:
%(checks)s
gates:
  - name: bench
    requirements:
%(requirements)s
"""
CHECK = """\
  c%(i)d:
    span_name: check%(i)d_complete
    command: ["{python}", "-c", "print('{\\"failed\\": 0, \\"items\\": [1, 2, 3]}')"]
    attributes:
      failed: "json:/failed"
      items: "count:/items"
"""
REQUIREMENT = """\
      - name: r%(i)d
        span_name: check%(i)d_complete
        check: c%(i)d
        sources: [runner]
        attested: true
        status: ok
        where: {failed: 0, items: ">= 3"}
        max_age: 24h
        newer_than: code_generation_complete
"""
_TYPES = ("code_generation", "test", "security_scan", "review", "lint", "docs")
_STATUSES = ("planned", "started", "complete", "complete", "failed")


def _hex(bits: int) -> str:
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def fill(db: Path, total: int, batch: int = 50_000) -> None:
    store = SQLiteStore(db)
    have = store.count()
    if have >= total:
        store.close()
        print(f"store: {db} already holds {have:,} spans")
        return
    print(f"store: filling {db} to {total:,} spans ...", flush=True)
    started = time.perf_counter()
    now = time.time_ns()
    random.seed(have)
    tasks = max(total // 10, 1)
    done = have
    while done < total:
        records = []
        for n in range(min(batch, total - done)):
            i = done + n
            task = f"proj/task-{random.randrange(tasks)}"
            start = now - random.randrange(30 * 86400) * 10**9
            attrs: dict[str, object] = {"task.id": task, "gen_ai.agent.id": f"agent-{i % 8}"}
            if i % 4 == 3:
                name = f"check{i % 3 + 1}_complete"
                attrs.update({"otel_mcp.source": "runner", "otel_mcp.check": f"c{i % 3 + 1}", "failed": i % 2})
            else:
                kind, status = _TYPES[i % len(_TYPES)], _STATUSES[i % len(_STATUSES)]
                name = f"{kind}_{status}"
                attrs.update({"task.type": kind, "task.status": status, "otel_mcp.source": "agent"})
                attrs["quality.score"] = round(random.random(), 3)
            records.append(
                SpanRecord(
                    span_id=_hex(64),
                    trace_id=_hex(128),
                    parent_span_id=None,
                    name=name,
                    start_ns=start,
                    end_ns=start + 1_000_000,
                    status_code="Ok" if "complete" in name else "Unset",
                    attributes=attrs,  # type: ignore[arg-type]
                )
            )
        store.export(records)
        done += len(records)
        print(f"  {done:,} spans ({time.perf_counter() - started:.0f}s)", flush=True)
    store.close()
    print(f"store: filled in {time.perf_counter() - started:.1f}s")


def make_repo(work: Path, files: int) -> Path | None:
    """A committed git repository of `files` small Python files (100 per folder), made once."""
    if files <= 0:
        return None
    repo = work / f"repo-{files}"
    done = work / f"repo-{files}.ok"
    if done.exists():
        print(f"workspace: {repo} ({files:,} files, cached)")
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    print(f"workspace: creating a git repository of {files:,} files ...", flush=True)
    for i in range(files):
        folder = repo / f"pkg{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i % 100:03d}.py").write_text(f"def f{i}(x: int) -> int:\n    return x + {i}\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], cwd=repo, check=True)
    done.write_text("ok\n")
    return repo


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(db: Path, gates_dir: Path, rounds: int, workspace: Path | None) -> None:
    env = {
        "OTEL_MCP_DB": str(db),
        "OTEL_MCP_GATES_DIR": str(gates_dir),
        "OTEL_MCP_AGENT_ID": "bench-agent",
        "PYTHONPATH": str(REPO),
    }
    if workspace is not None:
        env["OTEL_MCP_WORKSPACE"] = str(workspace)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "otel_mcp", "serve"], env=env, cwd=str(gates_dir.parent)
    )
    async with Client(params, mode="legacy") as client:
        await client.call_tool("record_task", {"task_id": TASK, "task_type": "code_generation", "status": "complete"})
        evidence = []
        for i in (1, 2, 3):
            run = await client.call_tool("run_check", {"check": f"c{i}", "task_id": TASK})
            assert not run.is_error and run.structured_content, run
            evidence.append({"requirement": f"r{i}", "span_id": run.structured_content["span_id"]})
        arguments = {"gate": "bench", "task_id": TASK, "evidence": evidence}
        check = await client.call_tool("submit_gate_evidence", arguments)
        assert check.structured_content and check.structured_content["decision"] == "pass", check
        for _ in range(30):  # warm up both paths
            await client.send_ping()
            await client.call_tool("submit_gate_evidence", arguments)
        pings, submits = await ping_and_call(client, "submit_gate_evidence", arguments, rounds)
    p50_ping, p50_submit = statistics.median(pings), statistics.median(submits)
    print(f"rounds: {rounds}")
    print(f"ping                          p50 {p50_ping:7.3f} ms   p95 {_percentile(pings, 0.95):7.3f} ms")
    print(f"submit_gate_evidence (3 reqs) p50 {p50_submit:7.3f} ms   p95 {_percentile(submits, 0.95):7.3f} ms")
    ratio = p50_submit / p50_ping
    target = 3.0 if workspace is not None else 2.5
    where = f"code state of a {workspace.name} git workspace" if workspace is not None else "no workspace"
    verdict = "OK" if ratio <= target else "MISSED"
    print(f"ratio p50(submit) / p50(ping) = {ratio:.2f}  with {where} (target <= {target:g}): {verdict}")


def main() -> int:
    # ping exists only in the legacy era, which is what this benchmark speaks on purpose.
    warnings.filterwarnings("ignore", message="ping is removed")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--db", type=Path, help="store file (default: cached in the temp directory)")
    parser.add_argument("--workspace-files", type=int, default=10_000, help="files in the workspace's git repo")
    args = parser.parse_args()
    work = Path(tempfile.gettempdir()) / "otel-mcp-bench"
    work.mkdir(exist_ok=True)
    db = args.db or work / f"telemetry-{args.spans}.db"
    fill(db, args.spans)
    # The gate file is rewritten each run; the store is reused.
    gates_dir = work / "gates"
    gates_dir.mkdir(exist_ok=True)
    checks = "".join(CHECK % {"i": i} for i in (1, 2, 3))
    requirements = "".join(REQUIREMENT % {"i": i} for i in (1, 2, 3))
    gate_file = gates_dir / "bench.yaml"
    text = GATES % {"checks": checks, "requirements": requirements}
    if not gate_file.exists() or gate_file.read_text() != text:
        gate_file.write_text(text)
        # Measure the steady state: gate files are edited long before agents submit. A file touched
        # within the last 2 s is re-read on every call (timestamps can be too coarse to trust).
        past = time.time_ns() - 60 * 10**9
        os.utime(gate_file, ns=(past, past))
        os.utime(gates_dir, ns=(past, past))
    store = SQLiteStore(db)
    print(f"spans in store: {store.count():,}")
    store.close()
    asyncio.run(measure(db, gates_dir, args.rounds, make_repo(work, args.workspace_files)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

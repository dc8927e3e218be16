"""Shared helpers for the bench scripts: stdio servers, timing, synthetic stores."""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from otel_mcp.model import SpanRecord
from otel_mcp.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("OTEL_MCP_BENCH_CACHE", "/tmp/otel-mcp-bench"))


def server_params(db: Path, agent_id: str = "bench", **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={"OTEL_MCP_AGENT_ID": agent_id, "OTEL_MCP_DB": str(db), "OTEL_MCP_GATES_DIR": str(REPO / "gates"), **env},
        cwd=str(db.parent),
    )


async def timed(fn: Callable[[], Awaitable[Any]], n: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def ping_and_call(
    client: Client, tool: str, arguments: dict[str, Any], rounds: int
) -> tuple[list[float], list[float]]:
    """(pings, calls of `tool`) in ms, interleaved round by round so both see the same machine."""
    pings: list[float] = []
    calls: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await client.send_ping()
        t1 = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        t2 = time.perf_counter()
        assert not result.is_error, result
        pings.append((t1 - t0) * 1000)
        calls.append((t2 - t1) * 1000)
    return pings, calls


def summary(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples):7.3f} ms   p95 {q[94]:7.3f} ms   (n={len(samples)})"


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def filled_store(n_spans: int, name: str) -> Path:
    """A store file with `n_spans` realistic spans, built once and cached outside the repo."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}-{n_spans}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    store = SQLiteStore(tmp)
    rng = random.Random(42)
    types = ["code_generation", "test", "security_scan", "review", "lint", "build", "deploy", "docs"]
    statuses = ["planned", "started", "complete", "complete", "failed"]
    now = time.time_ns()
    batch: list[SpanRecord] = []
    t0 = time.perf_counter()
    for i in range(n_spans):
        task = f"epic{i // 5000}/task{i // 5}"
        start = now - (n_spans - i) * 1_000_000  # one span per ms, oldest first
        attrs: dict[str, Any] = {
            "task.id": task,
            "task.type": types[(i // 5) % len(types)],
            "task.status": statuses[i % len(statuses)],
            "task.parent_id": f"epic{i // 5000}",
            "otel_mcp.source": "agent",
            "gen_ai.agent.id": f"agent-{rng.randrange(16)}",
            "quality.score": round(rng.random(), 3),
            "tests.failed": rng.randrange(4),
        }
        batch.append(
            SpanRecord(
                span_id=f"{rng.getrandbits(64):016x}",
                trace_id=f"{rng.getrandbits(128):032x}",
                parent_span_id=None,
                name=f"{attrs['task.type']}_{attrs['task.status']}",
                start_ns=start,
                end_ns=start + 500_000,
                attributes=attrs,
                resource={"service.name": "otel-mcp"},
            )
        )
        if len(batch) == 20_000:
            store.export(batch)
            batch = []
    store.export(batch)
    store.raw().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.raw().execute("ANALYZE")
    store.shutdown()
    tmp.rename(path)
    print(f"# built {path} with {n_spans:,} spans in {time.perf_counter() - t0:.1f} s", flush=True)
    return path

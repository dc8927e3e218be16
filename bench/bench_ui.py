"""The web pages' endpoints on a large store: p50/p95 of each view as ratios to `find_completed` on the same store.

    python -m bench.bench_ui [--spans 1000000] [--tasks 10000] [--n 30]

The store (SQLite, cached under /tmp/otel-mcp-bench) holds `--tasks` tasks, each planned, started and
complete, claimed and released, with gate decisions and check runs for one task in five, and tool
calls (audit spans) from 16 agents filling it up to `--spans`, spread over the last 24 hours. It is
written through the store's public write path (`export`, 20,000 spans per transaction).

Each view is timed in process, as the HTTP endpoint calls it (the JSON encoding included; the web
layer adds a thread hop and the response), against `find_completed(limit=50)` encoded the same way.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._common import CACHE, REPO
from otel_mcp.config import Settings
from otel_mcp.core.overview import Overview, ViewFilter
from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from otel_mcp.store.sqlite import SQLiteStore

AGENTS = [f"agent-{i:02d}" for i in range(16)]
NS = 1_000_000_000


def build_store(n_spans: int, n_tasks: int) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"ui-{n_spans}-{n_tasks}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    rng = random.Random(23)
    store = SQLiteStore(tmp)
    start = time.time_ns() - 24 * 3600 * NS
    step = 24 * 3600 * NS // n_spans
    clock = iter(range(start, start + step * (n_spans + 10), step))
    batch: list[SpanRecord] = []
    written = 0
    t0 = time.perf_counter()

    def emit(name: str, attrs: dict[str, Any], trace: str, length_ns: int = 2_000_000) -> None:
        nonlocal written, batch
        at = next(clock)
        batch.append(
            SpanRecord(
                span_id=f"{rng.getrandbits(64):016x}",
                trace_id=trace,
                parent_span_id=None,
                name=name,
                start_ns=at,
                end_ns=at + length_ns,
                attributes=attrs,
                resource={"service.name": "otel-mcp"},
            )
        )
        written += 1
        if len(batch) == 20_000:
            store.export(batch)
            batch = []

    per_task = max((n_spans - n_tasks * 6) // n_tasks, 0)  # audit spans between one task's records
    for t in range(n_tasks):
        task = f"epic{t // 500}/story{t // 50}/t{t}"
        agent = AGENTS[t % len(AGENTS)]
        trace = f"{rng.getrandbits(128):032x}"
        base = {"task.id": task, "gen_ai.agent.id": agent, "otel_mcp.source": "agent"}
        deps = (f"epic{t // 500}/story{t // 50}/t{t - 1}",) if t % 50 else ()
        planned: dict[str, Any] = {**base, "task.type": "code_generation", "task.status": "planned"}
        if deps:
            planned["task.depends_on"] = deps
        emit("code_generation_planned", planned, trace)
        claim = {**base, "otel_mcp.claim.action": "claim", "otel_mcp.claim.lease_seconds": 600}
        emit("task_claim", claim, trace)
        emit("code_generation_started", {**base, "task.type": "code_generation", "task.status": "started"}, trace)
        for i in range(per_task):
            tool = ["find_ready", "record_task", "get_trace", "find_completed"][i % 4]
            audit = {"gen_ai.agent.id": agent, "otel_mcp.source": "audit"}
            emit(f"tools/call {tool}", audit, f"{rng.getrandbits(128):032x}", 500_000)  # a trace per call
        if t % 5 == 0:
            run = {**base, "otel_mcp.source": "runner", "otel_mcp.check": "bandit", "process.exit.code": 1}
            emit("security_scan_complete", {**run, "vulnerabilities.high": t % 2}, trace, 2 * NS)
            decision: dict[str, Any] = {
                **base,
                "otel_mcp.source": "gate",
                "otel_mcp.gate": "security",
                "otel_mcp.gate.attempt": 1,
                "otel_mcp.gate.decision": "pass" if t % 2 == 0 else "fail",
            }
            if t % 2:
                decision["otel_mcp.gate.reasons"] = ("vulnerabilities.high is 1, but the requirement is == 0",)
            emit("gate_decision", decision, trace)
        if t < n_tasks - 200:  # the newest 200 stay in progress, for Now
            emit("code_generation_complete", {**base, "task.type": "code_generation", "task.status": "complete"}, trace)
            emit("task_release", {**base, "otel_mcp.claim.action": "release"}, trace)
    while written < n_spans:
        audit = {"gen_ai.agent.id": rng.choice(AGENTS), "otel_mcp.source": "audit"}
        emit("tools/call find_ready", audit, f"{rng.getrandbits(128):032x}")
    store.export(batch)
    store.raw().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # No ANALYZE: stores in use never run it, and its statistics would steer the planner elsewhere.
    store.shutdown()
    tmp.rename(path)
    print(f"# built {path} with {written:,} spans ({n_tasks:,} tasks) in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def quantiles(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=30)
    args = parser.parse_args()
    db = build_store(args.spans, args.tasks)
    settings = Settings(agent_id="bench", db_path=db, gates_dir=REPO / "gates", workspace=db.parent)
    rt = Runtime.open(settings, env={}, watch=False)
    try:
        ov = Overview(rt.store, rt.coordinator, rt.catalog_loader.catalog)
        every = ViewFilter()
        t = args.tasks - 10  # in progress: among the newest 200
        recent = f"epic{t // 500}/story{t // 50}/t{t}"
        views: dict[str, Callable[[], object]] = {
            "find_completed (the unit)": lambda: rt.coordinator.find_completed(limit=50).model_dump_json(),
            "changes (polled every 0.5 s)": lambda: ov.changes().model_dump_json(),
            "now": lambda: ov.now(every).model_dump_json(),
            "graph, 10,000 tasks (collapsed)": lambda: ov.graph(every).model_dump_json(),
            "graph, one story (50 tasks)": lambda: ov.graph(
                ViewFilter(prefix=recent.rsplit("/", 1)[0] + "/")
            ).model_dump_json(),
            "timeline, latest 15 min": lambda: ov.timeline(every).model_dump_json(),
            "timeline, one agent, 1 h": lambda: ov.timeline(
                ViewFilter(agent="agent-03", since_ns=time.time_ns() - 3600 * NS)
            ).model_dump_json(),
            "gates": lambda: ov.gates(every).model_dump_json(),
            "trace, one task": lambda: ov.trace(recent).model_dump_json(),
        }
        print(f"store: {rt.store.count():,} spans, {len(rt.store.task_index()):,} tasks; n={args.n} per view")
        figures = {name: quantiles(timed(fn, args.n)) for name, fn in views.items()}
        base50, base95 = figures["find_completed (the unit)"]
        print(f"{'view':34} {'p50 ms':>9} {'p95 ms':>9} {'p50 ×':>8} {'p95 ×':>8}")
        for name, (p50, p95) in figures.items():
            print(f"{name:34} {p50:9.2f} {p95:9.2f} {p50 / base50:8.1f} {p95 / base95:8.1f}")
    finally:
        rt.close()


if __name__ == "__main__":
    main()

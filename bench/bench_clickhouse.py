"""ClickHouse backend figures: find_completed at 10M spans, insert rate, one record's cost.

python -m bench.bench_clickhouse [--spans 10000000] [-n 50]

The engine is real ClickHouse (chdb) behind its HTTP interface on loopback, so every figure
includes clickhouse-connect's HTTP round trip as a deployment would pay it (minus the network).
The 10M-span table is generated inside the engine by one INSERT … SELECT (realistic mix: 2M
tasks of 5 records each, 8 task types, 16 agents, attributes as the exporter stores them, spread
over 30 days) and kept under OTEL_MCP_BENCH_CACHE, so later runs start at once.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mcp import Client

from bench._common import CACHE, REPO, p50, summary, timed
from otel_mcp.config import Settings
from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.store.clickhouse import ClickHouseStore
from otel_mcp.store.clickhouse.schema import create_database_ddl, traces_table_ddl
from tests.support.chdb_http import ChdbHttpServer

DATABASE = "otel"
TYPES = ["code_generation", "test", "security_scan", "review", "lint", "build", "deploy", "docs"]
STATUSES = ["planned", "started", "complete", "complete", "failed"]
SPREAD_NS = 30 * 86_400 * 1_000_000_000


def _hex(expr: str, width: int) -> str:
    return f"leftPad(lower(hex({expr})), {width}, '0')"


def _fill_sql(spans: int, now_ns: int) -> str:
    """One INSERT … SELECT that writes `spans` rows in the exporter's layout, oldest first."""
    types = "[" + ", ".join(f"'{t}'" for t in TYPES) + "]"
    statuses = "[" + ", ".join(f"'{s}'" for s in STATUSES) + "]"
    step = SPREAD_NS // spans
    task = "concat('epic', toString(intDiv(number, 5000)), '/task', toString(intDiv(number, 5)))"
    task_type = f"{types}[intDiv(number, 5) % {len(TYPES)} + 1]"
    status = f"{statuses}[number % {len(STATUSES)} + 1]"
    trace = _hex("sipHash64(intDiv(number, 5), 't1')", 16) + " || " + _hex("sipHash64(intDiv(number, 5), 't2')", 16)
    return f"""
INSERT INTO {DATABASE}.otel_traces
    (Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes,
     ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT
    fromUnixTimestamp64Nano(toInt64({now_ns - SPREAD_NS} + number * {step})),
    {trace},
    {_hex("sipHash64(number, 's')", 16)},
    if(number % 5 = 0, '', {_hex("sipHash64(intDiv(number, 5) * 5, 's')", 16)}),
    concat({task_type}, '_', {status}),
    'Internal',
    'otel-mcp',
    map('service.name', 'otel-mcp', 'bench.generated', 'true',
        'gen_ai.agent.id', concat('agent-', toString(sipHash64(number, 'a') % 16))),
    'otel_mcp',
    map('task.id', {task}, 'task.type', {task_type}, 'task.status', {status},
        'task.parent_id', concat('epic', toString(intDiv(number, 5000))), 'otel_mcp.source', 'agent',
        'gen_ai.agent.id', concat('agent-', toString(sipHash64(number, 'a') % 16)),
        'quality.score', toString(round((sipHash64(number, 'q') % 1000) / 1000, 3)),
        'tests.failed', toString(sipHash64(number, 'f') % 4)),
    50000000,
    multiIf({status} = 'complete', 'Ok', {status} = 'failed', 'Error', 'Unset'),
    ''
FROM numbers({spans})
SETTINGS max_insert_threads = 2"""


def filled_engine(spans: int) -> Path:
    """A chdb data directory holding `spans` spans in otel.otel_traces; built once, then reused."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"chdb-{spans}"
    if (path / ".complete").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    t0 = time.perf_counter()
    with ChdbHttpServer(path) as server:
        server.query(create_database_ddl(DATABASE))
        server.query(traces_table_ddl(DATABASE, "otel_traces"))
        server.query(_fill_sql(spans, time.time_ns()))
        server.query(f"OPTIMIZE TABLE {DATABASE}.otel_traces FINAL")
        count = server.query_rows(f"SELECT count() AS n FROM {DATABASE}.otel_traces")[0]["n"]
    (path / ".complete").write_text(str(count))
    print(f"generated {int(count):,} spans in the engine in {time.perf_counter() - t0:.0f} s (cached in {path})")
    return path


_ENGINE_MAIN = """
import sys
from tests.support.chdb_http import ChdbHttpServer
server = ChdbHttpServer(sys.argv[1]).start()
print(server.url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
server.stop()
"""


@contextmanager
def engine_process(path: Path) -> Iterator[str]:
    """The engine in a process of its own, as a ClickHouse server would be: it does not share our GIL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENGINE_MAIN, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,  # where `tests.support` is importable from
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(60)


def _record(i: int, trace: str) -> SpanRecord:
    now = time.time_ns()
    return SpanRecord(
        span_id=f"{0xB0000000 + i:016x}",
        trace_id=trace,
        parent_span_id=None,
        name="bench_complete",
        start_ns=now,
        end_ns=now + 1000,
        attributes={
            "task.id": f"bench/{i}",
            "task.type": "bench",
            "task.status": "complete",
            "otel_mcp.source": "agent",
        },
        resource={"service.name": "otel-mcp"},
        scope_name="otel_mcp",
    )


def insert_rate(store: ClickHouseStore, total: int, batch: int) -> None:
    trace = "c" * 32
    t0 = time.perf_counter()
    for start in range(0, total, batch):
        store.export([_record(i, trace) for i in range(start, start + batch)])
    elapsed = time.perf_counter() - t0
    print(f"insert rate, direct, batches of {batch:>5}: {total / elapsed:10,.0f} spans/s ({total:,} spans)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("-n", type=int, default=50)
    args = parser.parse_args()

    data = filled_engine(args.spans)
    with engine_process(data) as url:
        work = Path(tempfile.mkdtemp())
        settings = Settings(
            agent_id="bench",
            db_path=work / "telemetry.db",
            backend="clickhouse",
            clickhouse_url=url,
            clickhouse_database=DATABASE,
            clickhouse_write="direct",
            spool_dir=work / "spool",
        )
        t0 = time.perf_counter()
        rt = Runtime.open(settings, env={})
        assert isinstance(rt.store, ClickHouseStore)
        # The first server on a table copies its task-status records into otel-mcp's index, once.
        print(f"store opened in {time.perf_counter() - t0:.2f} s")
        version = rt.store.query_sql("SELECT version()", 1, 1000, 5).rows[0][0]
        print(f"engine: ClickHouse {version} (chdb, own process) over HTTP; {rt.store.count():,} spans in otel_traces")
        async with Client(create_server(rt)) as c:
            queries: dict[str, dict[str, Any]] = {
                "find_completed(task_type='security_scan')": {"task_type": "security_scan"},
                "find_completed(task_type='review', limit=10)": {"task_type": "review", "limit": 10},
                "find_completed(parent_task_id='epic7')": {"parent_task_id": "epic7"},
                "find_completed(where={'quality.score': '>= 0.9'}, limit=20)": {
                    "where": {"quality.score": ">= 0.9"},
                    "limit": 20,
                },
                "find_completed(task_type='nothing_like_this')  [scans all]": {"task_type": "nothing_like_this"},
            }
            for label, arguments in queries.items():
                samples = await timed(functools.partial(c.call_tool, "find_completed", arguments), args.n, warmup=3)
                mark = "ok" if p50(samples) < 50 else "OVER 50 ms"
                print(f"{label:<62} {summary(samples)}  [{mark}]")
            i = 0

            async def record() -> None:
                nonlocal i
                i += 1
                await c.call_tool("record_task", {"task_id": f"rec/{i}", "task_type": "bench", "status": "complete"})

            print(f"record_task (one span, direct insert):                         {summary(await timed(record, 100))}")
            span = rt.coordinator.find_completed(task_type="bench", limit=1).records[0].span_id

            async def gate() -> None:
                await c.call_tool("check_prerequisites", {"task_id": "rec/1"})

            print(
                f"check_prerequisites(task_id='rec/1'):                          {summary(await timed(gate, args.n))}"
            )
            got = rt.store.get_spans([span])
            assert span in got
        for batch in (1, 100, 1000, 10_000):
            insert_rate(rt.store, min(batch * 200, 100_000), batch)
        rt.close()
        shutil.rmtree(work, ignore_errors=True)
        # Leave the cached table as generated: what this run added (records, audit spans) goes again.
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=url)
        for table in ("otel_traces", "otel_traces_otel_mcp_tasks"):
            client.command(f"DELETE FROM {DATABASE}.{table} WHERE ResourceAttributes['bench.generated'] != 'true'")
        client.close()


if __name__ == "__main__":
    asyncio.run(main())

"""OTLP receiver figures: spans per second received and durably stored, and an agent's latency meanwhile.

    python -m bench.bench_collect [--batch 200] [--requests 40] [--n 200]

A real `otel-mcp collect` process on the embedded store; senders post OTLP/protobuf requests of
`--batch` spans (bodies built beforehand, each span id new) from 1 and from 8 threads. A request's
200 means its spans were committed, so "stored" counts rows the store holds afterwards. Then one
agent's `record_task` over stdio (its own `otel-mcp serve`, same store) is timed idle and while eight
senders keep the receiver busy, as ratios to an MCP ping (protocol 2025-11-25).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from pathlib import Path

import httpx2
from mcp import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench._common import REPO, server_params, timed

_ids = count(1)


def _body(batch: int, rng: random.Random) -> bytes:
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    kv = resource.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "claude-code"
    kv = resource.resource.attributes.add()
    kv.key, kv.value.string_value = "otel_mcp.agent.id", "bench-host"
    scope = resource.scope_spans.add()
    trace_id = rng.getrandbits(128).to_bytes(16, "big")
    now = time.time_ns()
    for _ in range(batch):
        span = scope.spans.add(name="claude_code.tool", trace_id=trace_id, span_id=next(_ids).to_bytes(8, "big"))
        span.start_time_unix_nano, span.end_time_unix_nano = now, now + 1_000_000
        for key, value in (("tool_name", "Bash"), ("session.id", "bench-session"), ("tool_use_id", "toolu_bench")):
            attr = span.attributes.add()
            attr.key, attr.value.string_value = key, value
    return bytes(request.SerializeToString())


def _start_collect(db: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", "collect", "--port", "0", "--db", str(db), "--rate", "1e9"],
        env=env,
        cwd=db.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.readline()  # store: ...
    return proc, first.split(" at ")[1].split()[0]


def _send(endpoint: str, bodies: list[bytes], stop: threading.Event | None = None) -> int:
    """Post every body until it is taken (a refused one is sent again, as exporters retry); with `stop`,
    go round until it is set. Returns the requests taken."""
    taken = 0
    with httpx2.Client(timeout=60) as client:
        while True:
            for body in bodies:
                while True:
                    answer = client.post(
                        f"{endpoint}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
                    )
                    if answer.status_code == 200:
                        taken += 1
                        break
                    if answer.status_code not in (429, 503):
                        raise RuntimeError(f"receiver answered {answer.status_code}: {answer.text[:200]}")
                    time.sleep(0.05)  # a bench's sender backs off briefly; real exporters wait longer
                if stop is not None and stop.is_set():
                    return taken
            if stop is None:
                return taken


def _stored(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM span_store WHERE source = 'external'").fetchone()[0])
    finally:
        con.close()


def throughput(endpoint: str, db: Path, senders: int, batch: int, requests: int) -> float:
    rng = random.Random(senders)
    bodies = [[_body(batch, rng) for _ in range(requests)] for _ in range(senders)]
    before = _stored(db)
    threads = [threading.Thread(target=_send, args=(endpoint, b)) for b in bodies]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    stored = _stored(db) - before
    rate = stored / elapsed
    expected = senders * batch * requests
    print(
        f"{senders} sender{'s' if senders > 1 else ' '}   {stored:>7} of {expected} spans stored in {elapsed:6.2f} s"
        f"   {rate:9.0f} spans/s"
    )
    return rate


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def agent_under_load(endpoint: str, db: Path, batch: int, n: int) -> None:
    tasks = count()

    async def record(client: Client) -> None:
        result = await client.call_tool(
            "record_task", {"task_id": f"bench/t{next(tasks)}", "task_type": "code_generation", "status": "started"}
        )
        assert not result.is_error

    async with Client(server_params(db, "bench-agent"), mode="legacy") as client:
        ping = await timed(client.send_ping, n)
        idle = await timed(lambda: record(client), n)
        rng = random.Random(99)
        stop = threading.Event()
        bodies = [[_body(batch, rng) for _ in range(20)] for _ in range(8)]
        threads = [threading.Thread(target=_send, args=(endpoint, b, stop)) for b in bodies]
        for t in threads:
            t.start()
        try:
            loaded = await timed(lambda: record(client), n, warmup=5)
            ping_loaded = await timed(client.send_ping, n, warmup=0)
        finally:
            stop.set()
            for t in threads:
                t.join()
    base = statistics.median(ping)
    print("## one agent's record_task over stdio, same store (ratios to an idle ping's p50)")
    print(f"ping, idle                  p50 {base:7.3f} ms   p99 {_p99(ping):7.3f} ms")
    for name, samples in (
        ("record_task, idle", idle),
        ("record_task, 8 senders", loaded),
        ("ping, 8 senders", ping_loaded),
    ):
        print(
            f"{name:<27} p50 {statistics.median(samples):7.3f} ms   p99 {_p99(samples):7.3f} ms   "
            f"p99 = {_p99(samples) / base:.1f}x ping"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batch", type=int, default=200, help="spans per OTLP request")
    parser.add_argument("--requests", type=int, default=40, help="requests per sender")
    parser.add_argument("--n", type=int, default=200, help="timed calls per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="otel-mcp-bench-collect-"))
    db = work / "telemetry.db"
    proc, endpoint = _start_collect(db)
    try:
        print(f"## OTLP/protobuf into `otel-mcp collect` on the embedded store ({args.batch} spans per request)")
        for senders in (1, 8):
            throughput(endpoint, db, senders, args.batch, args.requests)
        await agent_under_load(endpoint, db, args.batch, args.n)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

"""OTLP receiver figures: spans per second received and durably stored, and an agent's latency meanwhile.

    python -m bench.bench_collect [--batch 200] [--requests 40] [--n 200]

A real `otel-mcp collect` process on the embedded store; senders post OTLP/protobuf requests of
`--batch` spans (bodies built beforehand, each span id new) from 1 and from 8 threads. A request's
200 means its spans were committed, so "stored" counts rows the store holds afterwards. Then one
agent's `record_task` over stdio (its own `otel-mcp serve`, same store) is timed idle and while eight
senders (in a process of their own, so they do not hold this one's GIL; each body built as it is
sent, so every span is new and written) keep the receiver busy, as
ratios to an MCP ping (protocol 2025-11-25). The machine's load average is printed before and after:
on a shared machine, rerun when it was high.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
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
from collections.abc import Iterable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

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


def _send(endpoint: str, bodies: Iterable[bytes], stop: threading.Event | None = None) -> int:
    """Post every body until it is taken (a refused one is sent again, as exporters retry), until
    `stop` is set if given. Returns the requests taken."""
    taken = 0
    with httpx2.Client(timeout=60) as client:
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
                break
    return taken


def _fresh_bodies(batch: int, rng: random.Random) -> Iterator[bytes]:
    # Spans never sent before: a body sent again is stored as nothing (its span ids are known).
    while True:
        yield _body(batch, rng)


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


def _senders(endpoint: str, batch: int, first_id: int, stop: Any, ready: Any) -> None:
    """In a process of its own (not the one timing the agent's calls): eight senders until `stop`."""
    global _ids
    _ids = count(first_id)
    halt = threading.Event()
    threads = [
        threading.Thread(target=_send, args=(endpoint, _fresh_bodies(batch, random.Random(i)), halt)) for i in range(8)
    ]
    for t in threads:
        t.start()
    ready.set()
    stop.wait()
    halt.set()
    for t in threads:
        t.join()


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
        spawn = multiprocessing.get_context("spawn")
        stop, ready = spawn.Event(), spawn.Event()
        senders = spawn.Process(target=_senders, args=(endpoint, batch, next(_ids) + 10**12, stop, ready))
        senders.start()
        try:
            if not ready.wait(120):
                raise RuntimeError("the senders' process did not start")
            stored, t0 = _stored(db), time.perf_counter()
            loaded = await timed(lambda: record(client), n, warmup=5)
            ping_loaded = await timed(client.send_ping, n, warmup=0)
            rate = (_stored(db) - stored) / (time.perf_counter() - t0)
        finally:
            stop.set()
            senders.join(60)
    base = statistics.median(ping)
    print(f"## one agent's record_task over stdio, same store, while the receiver stores {rate:.0f} spans/s")
    print("## (ratios to an idle ping's p50)")
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
        # One request first: the receiver starts its worker processes on the first body.
        _send(endpoint, [_body(1, random.Random(0))])
        print(f"# load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
        print(f"## OTLP/protobuf into `otel-mcp collect` on the embedded store ({args.batch} spans per request)")
        for senders in (1, 8):
            throughput(endpoint, db, senders, args.batch, args.requests)
        await agent_under_load(endpoint, db, args.batch, args.n)
        print(f"# load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

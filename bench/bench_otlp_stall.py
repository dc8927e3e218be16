"""Event-loop latency beside OTLP/JSON decoding: does the receiver stall the MCP requests of its process?

    python -m bench.bench_otlp_stall [--events 5000] [--senders 4]

`--senders` requests of `--events` Claude Code log events each (OTLP/JSON, the fixture's events
repeated) are posted at once to an in-process receiver (the app `serve --transport streamable-http`
mounts beside `/mcp`) while a task on the same event loop times a 1 ms sleep; its p50 and p99 are
what an MCP request on that loop waits extra.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

from otel_mcp.server.otlp_http import receiver_for
from otel_mcp.store.sqlite import SQLiteStore

_FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "otlp" / "claude_code_logs.json"


def _body(events: int) -> bytes:
    data = json.loads(_FIXTURE.read_text())
    scope = data["resourceLogs"][0]["scopeLogs"][0]
    kinds = scope["logRecords"]
    scope["logRecords"] = [
        {
            **kinds[i % len(kinds)],
            "attributes": [*kinds[i % len(kinds)]["attributes"], {"key": "n", "value": {"stringValue": str(i)}}],
        }
        for i in range(events)
    ]
    return json.dumps(data).encode()


async def _run(events: int, senders: int, db: Path) -> None:
    body = _body(events)
    store = SQLiteStore(db)
    app = receiver_for(store)
    statuses: list[int] = []
    lags: list[float] = []
    idle: list[float] = []
    for _ in range(500):
        started = time.perf_counter()
        await anyio.sleep(0.001)
        idle.append(time.perf_counter() - started)
    began = time.perf_counter()
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=600) as client:

        async def send() -> None:
            statuses.append(
                (await client.post("/v1/logs", content=body, headers={"Content-Type": "application/json"})).status_code
            )

        async with anyio.create_task_group() as tg:
            for _ in range(senders):
                tg.start_soon(send)
            while len(statuses) < senders:
                started = time.perf_counter()
                await anyio.sleep(0.001)
                lags.append(time.perf_counter() - started)
    wall = time.perf_counter() - began
    store.shutdown()
    lags.sort()
    idle.sort()
    print(
        f"{senders} x {events} events ({len(body) / 2**20:.1f} MiB JSON each): answers {sorted(statuses)}, {wall:.1f} s"
    )
    for label, times in (("idle", idle), ("decoding", lags)):
        p50, p99 = statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000
        print(f"1 ms sleep, {label:<9} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(_run, args.events, args.senders, Path(tmp) / "bench.db")


if __name__ == "__main__":
    main()

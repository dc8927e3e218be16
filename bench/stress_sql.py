"""Replay the hostile query_spans calls of issue 12 against real servers, and time them.

    python -m bench.stress_sql [--clients 4] [--seconds 6] [--spans 20000]

One run, three parts, all on loopback:

1. a stdio server (as hosts start one): each hostile query once, its wall time and answer;
2. a streamable-HTTP server: the same queries from one client;
3. the same HTTP server under load: `--clients` agents each run heavy queries back to back for
   `--seconds`, while another agent runs `SELECT 1` every 0.2 s; its latency is the figure that
   matters (issue 12: 5.7 s behind three heavy queries before the fix).

Every query must answer (a result or a clear error) within the 2 s cap plus a little slack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench._common import REPO, server_params
from otel_mcp.core.tasks import SQL_TIMEOUT_S

HOSTILE: list[tuple[str, str]] = [
    ("cte named spans over sqlite_master", "WITH spans AS (SELECT * FROM sqlite_master) SELECT type, name FROM spans"),
    ("cte named spans over hidden columns", "WITH spans AS (SELECT resource FROM span_store) SELECT * FROM spans"),
    ("count(*) of the table behind the view", "SELECT count(*) FROM span_store"),
    ("printf %.*c 2^31", "SELECT length(printf('%.*c', 2147483647, 'x'))"),
    (
        "printf %.*c 2^31, three times",
        "SELECT length(printf('%.*c', 2147483647, 'x')) + length(printf('%.*c', 2147483647, 'y')) "
        "+ length(printf('%.*c', 2147483647, 'z'))",
    ),
    (
        "unbounded recursive cte",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    ),
    (
        "recursive cte needing temp storage",
        "WITH RECURSIVE c(x, s) AS (SELECT 1, printf('%.*c', 10000, 'x') UNION SELECT x + 1, s FROM c) "
        "SELECT count(*) FROM c",
    ),
    ("group_concat past the value limit", "SELECT length(group_concat(a.attributes)) FROM spans a, spans b"),
    ("json_each over attributes", "SELECT count(*) FROM spans, json_each(spans.attributes)"),
    ("pragma_table_info", "SELECT * FROM pragma_table_info('spans')"),
    ("dbstat", "SELECT * FROM dbstat"),
]
HEAVY = [HOSTILE[3][1], HOSTILE[5][1], HOSTILE[6][1], HOSTILE[7][1]]


async def replay(client: Client, label: str) -> float:
    """Each hostile query once; returns the longest wall time."""
    print(f"\n## {label}: each hostile query once (cap {SQL_TIMEOUT_S:g} s)")
    worst = 0.0
    for name, sql in HOSTILE:
        started = time.monotonic()
        result = await client.call_tool("query_spans", {"sql": sql})
        elapsed = time.monotonic() - started
        worst = max(worst, elapsed)
        text = " ".join(" ".join(getattr(b, "text", "").split()) for b in result.content)
        answer = ("error: " + text.removeprefix("Error executing tool query_spans: ")) if result.is_error else text
        print(f"{elapsed:7.2f} s  {name:<40} {answer[:110]}")
    return worst


async def under_load(url: str, tokens: list[str], clients: int, seconds: float) -> list[float]:
    """`clients` agents loop heavy queries while one more runs SELECT 1; returns its latencies (s)."""
    stop = time.monotonic() + seconds
    heavy_done: list[float] = []
    light: list[float] = []

    async def heavy(i: int) -> None:
        async with _http_client(url, tokens[i]) as c:
            n = 0
            while time.monotonic() < stop and n < 1000:
                started = time.monotonic()
                await c.call_tool("query_spans", {"sql": HEAVY[(i + n) % len(HEAVY)]})
                heavy_done.append(time.monotonic() - started)
                n += 1

    async def probe() -> None:
        async with _http_client(url, tokens[-1]) as c:
            await asyncio.sleep(0.5)  # the heavy queries are running by now
            while time.monotonic() < stop:
                started = time.monotonic()
                result = await c.call_tool("query_spans", {"sql": "SELECT 1"})
                light.append(time.monotonic() - started)
                if result.is_error:
                    print("   light query answered an error:", " ".join(getattr(b, "text", "") for b in result.content))
                await asyncio.sleep(0.2)

    await asyncio.gather(*(heavy(i) for i in range(clients)), probe())
    print(
        f"\n## HTTP under load: {clients} agents ran {len(heavy_done)} heavy queries in {seconds:g} s "
        f"(longest {max(heavy_done, default=0):.2f} s)"
    )
    if light:
        q = sorted(light)
        print(
            f"   another agent's SELECT 1: n={len(q)}  p50 {statistics.median(q) * 1000:.0f} ms  "
            f"max {q[-1] * 1000:.0f} ms"
        )
    return light


def _http_client(url: str, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_http(db: Path, tokens: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    tokens_file = db.parent / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    tokens_file.chmod(0o600)
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_DB": str(db),
        "OTEL_MCP_AGENT_ID": "bench-http",
        "OTEL_MCP_GATES_DIR": str(REPO / "gates"),
        "OTEL_MCP_TOKENS_FILE": str(tokens_file),
    }
    cmd = [sys.executable, "-m", "otel_mcp", "serve", "--transport", "streamable-http", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=db.parent, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("the HTTP server did not start") from None
            time.sleep(0.05)


async def fill(client: Client, spans: int) -> None:
    """Some task records, so the view has rows to join and aggregate."""
    for i in range(spans):
        await client.call_tool(
            "record_task",
            {"task_id": f"t{i}", "task_type": "test", "status": "complete", "attributes": {"tests.failed": i % 3}},
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="otel-mcp-stress-sql-") as tmp:
        db = Path(tmp) / "telemetry.db"
        results: dict[str, Any] = {}
        async with Client(server_params(db, "bench-stdio")) as stdio:
            await fill(stdio, args.spans)
            results["stdio_worst_s"] = await replay(stdio, "stdio server")
        tokens = {f"stress-sql-token-{i:04d}-abcdef": f"agent-{i}" for i in range(args.clients + 2)}
        proc, url = _start_http(db, tokens)
        try:
            async with _http_client(url, list(tokens)[-2]) as one:
                results["http_worst_s"] = await replay(one, "streamable-HTTP server")
            light = await under_load(url, list(tokens), args.clients, args.seconds)
        finally:
            proc.terminate()
            proc.wait(10)
        bound = SQL_TIMEOUT_S + 1.0
        worst_light = max(light, default=0.0)
        ok = results["stdio_worst_s"] < bound and results["http_worst_s"] < bound and worst_light < bound
        print(
            f"\nslowest single query: stdio {results['stdio_worst_s']:.2f} s, HTTP {results['http_worst_s']:.2f} s; "
            f"slowest light query under load {worst_light:.2f} s; bound {bound:.1f} s: {'ok' if ok else 'EXCEEDED'}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="agents running heavy queries at once (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long the load lasts (default 6)")
    parser.add_argument("--spans", type=int, default=200, help="task records written first (default 200)")
    asyncio.run(main(parser.parse_args()))

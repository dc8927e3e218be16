"""One streamable-HTTP server under load: many clients at once, and heavy queries beside light ones."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from bench._common import REPO
from tests.support.processes import cpu_seconds

__all__ = ["http_load", "stall"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def http_server(db: Path) -> Iterator[tuple[str, int]]:
    """`otel-mcp serve --transport streamable-http --no-auth` on a loopback port; yields its URL and pid."""
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_MCP_AGENT_ID": "http-agent",
        "OTEL_MCP_DB": str(db),
        "OTEL_MCP_GATES_DIR": str(REPO / "gates"),
    }
    args = ["serve", "--transport", "streamable-http", "--no-auth", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", *args], cwd=db.parent, env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the HTTP server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _quantiles(samples: list[float]) -> str:
    if len(samples) < 2:
        return "no samples"
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {statistics.median(samples):.1f} ms, p99 {q[98]:.1f} ms, max {max(samples):.1f} ms"


def _fill(db: Path, tasks: int) -> None:
    from otel_mcp.config import Settings
    from otel_mcp.runtime import Runtime

    rt = Runtime.open(Settings(agent_id="filler", db_path=db, gates_dir=REPO / "gates"), env={})
    try:
        for i in range(tasks):
            status = "planned" if i % 10 == 0 else "complete"
            rt.coordinator.record_task(f"load/t{i}", "test", status, {"k": f"v{i}", "n": i})
    finally:
        rt.close()


async def _clients(url: str, clients: int, calls: int) -> dict[str, Any]:
    """`clients` sessions opened at once in this process, each making `calls` find_ready calls."""
    connects: list[float] = []
    latencies: list[float] = []
    errors = 0

    async def one_client() -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            async with Client(url) as client:
                connects.append((time.perf_counter() - t0) * 1000)
                for _ in range(calls):
                    t1 = time.perf_counter()
                    result = await client.call_tool("find_ready", {"limit": 10})
                    latencies.append((time.perf_counter() - t1) * 1000)
                    errors += bool(result.is_error)
        except Exception:
            errors += 1

    with anyio.fail_after(600):
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(one_client)
    return {"connects": connects, "latencies": latencies, "errors": errors}


async def _worker(url: str, clients: int, calls: int) -> None:
    """A load process: says ready, waits for the go line on stdin, reports its samples as JSON."""
    print("ready", flush=True)
    await anyio.to_thread.run_sync(sys.stdin.readline)
    print(json.dumps(await _clients(url, clients, calls)), flush=True)


def _report(worker: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = worker.communicate(timeout=600)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


async def http_load(db: Path, clients: int, calls: int = 5, processes: int = 8) -> None:
    """`clients` sessions opened at once from `processes` load processes, each making `calls` light calls.

    One process holding 200 sessions measures mostly itself (the server used 12% of a core while
    the client process saturated one): the clients are spread over several processes.
    """
    _fill(db, 200)
    processes = max(1, min(processes, clients))
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    with http_server(db) as (url, pid):
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "bench._http_load", url, str(share), str(calls)],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for share in shares
        ]
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [await anyio.to_thread.run_sync(_report, w) for w in workers]
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
    latencies = [x for r in reports for x in r["latencies"]]
    connects = [x for r in reports for x in r["connects"]]
    errors = sum(r["errors"] for r in reports)
    print(
        f"http: {clients} clients at once ({processes} load processes) x {calls} find_ready in {elapsed:.1f} s: "
        f"{_quantiles(latencies)}; session start {_quantiles(connects)}; errors {errors}; "
        f"server CPU {cpu:.1f} s ({cpu / elapsed:.0%} of one core)"
    )


async def stall(db: Path, heavy_clients: int = 4, seconds: float = 8.0) -> None:
    """Another agent's find_ready while others send the largest `where` lists over 2,000 spans."""
    _fill(db, 2000)
    # 100 numbers, the most allowed; numbers are compared in Python row by row, the worst case.
    values: list[Any] = [0, *range(100_000, 100_099)]
    heavy: list[float] = []
    light: list[float] = []

    async def heavy_client(url: str, until: float) -> None:
        async with Client(url) as client:
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                await client.call_tool("find_completed", {"where": {"n": values}, "limit": 1})
                heavy.append((time.perf_counter() - t0) * 1000)

    async def light_client(url: str, until: float) -> None:
        async with Client(url) as client:
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                await client.call_tool("find_ready", {"limit": 10})
                light.append((time.perf_counter() - t0) * 1000)
                await anyio.sleep(0.02)

    with http_server(db) as (url, _):
        until = time.perf_counter() + seconds
        with anyio.fail_after(seconds + 120):
            async with anyio.create_task_group() as tg:
                for _ in range(heavy_clients):
                    tg.start_soon(heavy_client, url, until)
                tg.start_soon(light_client, url, until)
    print(f"stall: find_completed with a 100-number where list over 2,000 spans: {_quantiles(heavy)}")
    print(f"stall: another agent's find_ready meanwhile ({heavy_clients} heavy clients): {_quantiles(light)}")


if __name__ == "__main__":
    anyio.run(_worker, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

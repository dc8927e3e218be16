"""Memory of a streamable-HTTP server after many short sessions that are never closed (issue 21).

python -m bench.bench_sessions [--sessions 10000]

Each session is one `initialize` POST and nothing else: a client that opens sessions and forgets
them, the way a token holder could grow the server's memory without bound. The server bounds them
(per token, in all, oldest idle evicted first: server/http_sessions.py); the figure is its RSS after
N sessions as a ratio to its RSS after the first one. Target: near idle (< 1.5x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx2

from bench._http_load import http_server

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    db = Path(tempfile.mkdtemp()) / "telemetry.db"
    with http_server(db) as (url, pid), httpx2.Client(headers=_HEADERS, timeout=30) as http:
        opened = 0

        def open_one() -> None:
            nonlocal opened
            answer = http.post(url, json=_INIT)
            answer.raise_for_status()
            opened += 1

        open_one()
        idle = _rss_mb(pid)
        started = time.perf_counter()
        peak = idle
        while opened < args.sessions:
            open_one()
            if opened % 500 == 0:
                peak = max(peak, _rss_mb(pid))
        elapsed = time.perf_counter() - started
        after = _rss_mb(pid)
    print(f"## {args.sessions:,} sessions opened and never closed, one server (--no-auth: one token)")
    print(f"RSS after the first session: {idle:.1f} MB; peak {peak:.1f} MB; after all: {after:.1f} MB")
    print(f"after / first = {after / idle:.2f}x (target < 1.5x); {args.sessions / elapsed:.0f} sessions/s")


if __name__ == "__main__":
    main()

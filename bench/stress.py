"""The fuzz and load figures of issue 12, re-run by one script anyone can run.

    python -m bench.stress [--only fuzz,crash,http,stall] [--calls 2000] [--clients 200] [--seed 1]

- fuzz:  ~2,000 calls through the official client over stdio with hostile or careless arguments
         (huge strings, wrong types, deep nesting, unicode oddities, boundary numbers): crashes (a
         call answered "internal error"), timeouts, the longest error message, and whether the
         server still answers.
- crash: 8 processes writing through their own stdio servers to one SQLite file, two servers
         killed with SIGKILL mid-call, three rounds: acknowledged-but-lost, duplicated, and
         `PRAGMA integrity_check`.
- http:  200 clients at once against one streamable-HTTP server: p50/p99 of a light call.
- stall: on that server, another agent's find_ready while others send the largest `where` lists.

One line per figure. Not part of CI: it takes a few minutes and wants a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, MCPError

from bench._common import server_params
from bench._crash import crash_rounds
from bench._hostile import HostileArguments
from bench._http_load import http_load, stall

__all__ = ["fuzz", "main"]


_WORKDIRS: list[Path] = []


def _workdir(name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"otel-mcp-stress-{name}-"))
    _WORKDIRS.append(path)
    return path


async def _alive(client: Client) -> bool:
    try:
        with anyio.fail_after(15):
            await client.list_tools()
    except Exception:
        return False
    return True


async def fuzz(calls: int, seed: int) -> None:
    """Hostile calls through the official client over stdio, one server for as long as it lives."""
    work = _workdir("fuzz")
    db = work / "telemetry.db"
    # A small workspace of its own: run_check with a valid check name runs the real tool, which
    # over the whole repository (the gates' git top level, the default) takes longer than a call may.
    workspace = work / "workspace"
    workspace.mkdir()
    (workspace / "app.py").write_text("def add(a, b):\n    return a + b\n")
    rng = random.Random(seed)
    arguments = HostileArguments(rng)
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    slow: Counter[str] = Counter()
    longest = 0
    done = 0
    started = time.perf_counter()
    while done < calls:
        async with Client(server_params(db, "fuzz", OTEL_MCP_WORKSPACE=str(workspace))) as client:
            tools = (await client.list_tools()).tools
            while done < calls:
                tool = rng.choice(tools)
                args = arguments.for_tool(tool.input_schema)
                done += 1
                try:
                    with anyio.fail_after(60):
                        result = await client.call_tool(tool.name, args)
                except TimeoutError:
                    outcomes["timeout"] += 1
                    slow[tool.name] += 1
                    continue
                except MCPError as exc:  # answered with a JSON-RPC error (e.g. a line the server cannot parse)
                    outcomes["protocol error"] += 1
                    longest = max(longest, len(str(exc)))
                    continue
                except Exception:
                    if await _alive(client):
                        outcomes["client could not send"] += 1
                        continue
                    outcomes["server died"] += 1
                    break  # start a new server and go on
                text = " ".join(getattr(block, "text", "") for block in result.content)
                if not result.is_error:
                    outcomes["ok"] += 1
                    continue
                outcomes["tool error"] += 1
                longest = max(longest, len(text))
                if "internal error" in text:
                    crashes.append(f"{tool.name}: {text[:120]}")
            alive = await _alive(client)
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n:,} {what}" for what, n in outcomes.most_common())
    print(f"fuzz: {done:,} calls over stdio in {elapsed:.0f} s ({summary})")
    print(f"fuzz: crashes (answered 'internal error'): {len(crashes)}; server died: {outcomes['server died']}")
    for line in crashes[:5]:
        print(f"fuzz:   {line}")
    if slow:
        print(f"fuzz: calls past 60 s by tool: {dict(slow)}")
    print(f"fuzz: longest error message: {longest:,} characters; server still answers: {'yes' if alive else 'NO'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="fuzz,crash,http,stall", help="comma-separated parts to run")
    parser.add_argument("--calls", type=int, default=2000, help="fuzz calls")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=200, help="HTTP clients at once")
    parser.add_argument("--keep", action="store_true", help="keep the scratch stores (printed at the end)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    try:
        if "fuzz" in parts:
            await fuzz(args.calls, args.seed)
        if "crash" in parts:
            await crash_rounds(_workdir("crash") / "telemetry.db", args.writers, args.rounds, seed=args.seed)
        if "http" in parts:
            await http_load(_workdir("http") / "telemetry.db", args.clients)
        if "stall" in parts:
            await stall(_workdir("stall") / "telemetry.db")
    finally:
        for path in _WORKDIRS:
            if args.keep:
                print(f"kept: {path}")
            else:
                shutil.rmtree(path, ignore_errors=True)


def _run() -> Any:
    return asyncio.run(main())


if __name__ == "__main__":
    _run()

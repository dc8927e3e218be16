"""Benchmark: what the check supervisor adds to a check's run, as a ratio to the same command started bare.

    python -m bench.bench_checks [--rounds 40]

Each round runs `python -I -c pass` (the smallest check a gate can define) twice, in turn: through
`run_command`, as every check runs (under the supervisor: a second interpreter that marks itself a
subreaper and kills what the check left), and started bare with asyncio and waited for. Pairing
keeps the ratio meaningful when the machine's speed drifts. A real check (bandit, pytest) takes far
longer than this command, so the difference in milliseconds is what to read against it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from otel_mcp.core.gates.checks.process import run_command  # noqa: E402

_ARGV = [sys.executable, "-I", "-c", "pass"]


async def _bare() -> None:
    proc = await asyncio.create_subprocess_exec(*_ARGV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await proc.communicate()


async def _supervised() -> None:
    await run_command(_ARGV, cwd=None, env={}, timeout_s=60, max_output_bytes=4096)


async def main(rounds: int) -> None:
    for _ in range(3):  # warm the page cache for both
        await _bare()
        await _supervised()
    bare, supervised, ratios = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await _bare()
        t1 = time.perf_counter()
        await _supervised()
        t2 = time.perf_counter()
        bare.append((t1 - t0) * 1000)
        supervised.append((t2 - t1) * 1000)
        ratios.append((t2 - t1) / (t1 - t0))
    b, s = statistics.median(bare), statistics.median(supervised)
    print(f"python -I -c pass, {rounds} rounds, p50: bare {b:.1f} ms, as a check {s:.1f} ms")
    print(f"as a check / bare: {statistics.median(ratios):.2f}x (the supervisor adds {s - b:.1f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(main(parser.parse_args().rounds))

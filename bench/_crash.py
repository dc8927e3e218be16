"""Writers whose servers are killed mid-call: is anything acknowledged lost, or recorded twice?

Each writer is an agent with its own `otel-mcp serve` over stdio, recording tasks one after the
other into one shared SQLite file, every call with an idempotency key. In each round two servers
are killed with SIGKILL while a call is in flight; their writers start a new server and retry the
call that got no answer, with the same key, as an agent should.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
from collections import Counter
from contextlib import closing
from itertools import count
from pathlib import Path

import anyio
from mcp import Client

from bench._common import server_params

__all__ = ["crash_rounds"]

_TAG = "OTEL_MCP_STRESS_TAG"
_serial = count()


def _server_pid(tag: str) -> int | None:
    """The server process started with `tag` in its environment (ours, so /proc lets us read it)."""
    marker = f"{_TAG}={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


class _Writer:
    def __init__(self, db: Path, n: int, calls: int, round_: int) -> None:
        self.db, self.n, self.calls, self.round = db, n, calls, round_
        self.tag = ""
        self.in_call = anyio.Event()
        self.acked: dict[str, str] = {}  # task id -> span id the answer named
        self.unanswered: list[str] = []  # task ids whose call got no answer (server killed)
        self.committed_unanswered = 0  # of those, how many the store already held before the retry
        self.errors: list[str] = []  # tool errors (none expected): reported, not retried

    def task(self, i: int) -> str:
        return f"r{self.round}/w{self.n}/t{i}"

    async def run(self) -> None:
        i = 0
        while i < self.calls and len(self.unanswered) < 20:  # a server that keeps dying ends the writer
            self.tag = f"{os.getpid()}-{next(_serial)}"
            params = server_params(self.db, f"writer-{self.n}", **{_TAG: self.tag})
            try:
                async with Client(params) as client:
                    while i < self.calls:
                        arguments = {"task_id": self.task(i), "task_type": "test", "status": "complete"}
                        self.in_call.set()
                        with anyio.fail_after(60):
                            result = await client.call_tool(
                                "record_task", {**arguments, "idempotency_key": f"k-{self.task(i)}"}
                            )
                        self.in_call = anyio.Event()
                        if result.is_error or result.structured_content is None:
                            self.errors.append(" ".join(getattr(b, "text", "") for b in result.content)[:200])
                        else:
                            self.acked[self.task(i)] = result.structured_content["span_id"]
                        i += 1
            except Exception:
                self.in_call = anyio.Event()
                self.unanswered.append(self.task(i))  # retried with the same key on a new server
                self.committed_unanswered += _recorded(self.db, self.task(i))


def _read_only(db: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30))


def _recorded(db: Path, task_id: str) -> int:
    with _read_only(db) as con:
        return int(con.execute("SELECT count(*) > 0 FROM spans WHERE task_id = ?", [task_id]).fetchone()[0])


async def _kill_mid_call(writers: list[_Writer], kills: int, rng: random.Random) -> list[str]:
    await anyio.sleep(rng.uniform(0.3, 1.5))
    killed = []
    for writer in rng.sample(writers, kills):
        with anyio.fail_after(30):
            await writer.in_call.wait()
        pid = _server_pid(writer.tag)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(writer.tag)
    return killed


async def crash_rounds(db: Path, writers: int = 8, rounds: int = 3, *, calls: int = 150, seed: int = 1) -> None:
    rng = random.Random(seed)
    acked: dict[str, str] = {}
    unanswered: list[str] = []
    committed = 0
    errors: list[str] = []
    kills = 0
    started = time.perf_counter()
    for round_ in range(rounds):
        group = [_Writer(db, n, calls, round_) for n in range(writers)]
        async with anyio.create_task_group() as tg:
            for writer in group:
                tg.start_soon(writer.run)
            kills += len(await _kill_mid_call(group, 2, rng))
        for writer in group:
            acked.update(writer.acked)
            unanswered.extend(writer.unanswered)
            committed += writer.committed_unanswered
            errors.extend(writer.errors)
    elapsed = time.perf_counter() - started
    with _read_only(db) as con:
        counts = dict(con.execute("SELECT task_id, count(*) FROM spans WHERE source = 'agent' GROUP BY task_id"))
        spans = {row[0] for row in con.execute("SELECT span_id FROM spans WHERE source = 'agent'")}
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    lost = sum(1 for task, span in acked.items() if span not in spans)
    duplicated = sum(1 for n in counts.values() if n > 1)
    print(
        f"crash: {rounds} rounds x {writers} writers x {calls} calls in {elapsed:.0f} s, {kills} servers SIGKILLed "
        f"mid-call: acknowledged {len(acked):,}, acknowledged-but-lost {lost}, duplicated {duplicated}, "
        f"integrity_check {integrity}"
    )
    print(
        f"crash: {len(unanswered)} calls got no answer, {committed} of them had committed (a retry without a key "
        f"would have recorded those twice); retried with their idempotency key: records per task "
        f"{dict(sorted(Counter(counts.values()).items()))}; tool errors {len(errors)}"
    )
    for error in errors[:3]:
        print(f"crash:   {error}")

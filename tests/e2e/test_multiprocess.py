"""Agents as hosts run them: one `otel-mcp serve` subprocess per agent over stdio, one shared SQLite file.

The first test spawns both servers as a host does; the races fork theirs (`tests.support.forkserver`).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import call, stdio_params

pytestmark = pytest.mark.anyio


async def test_what_agent_a_records_over_stdio_agent_b_finds_in_another_process(db_path: Path) -> None:
    async with (
        Client(stdio_params(db_path, "agent-a", fork=False)) as a,
        Client(stdio_params(db_path, "agent-b", fork=False)) as b,
    ):
        rec = await call(
            a,
            "record_task",
            task_id="auth/login",
            task_type="security_scan",
            status="complete",
            attributes={"vulnerabilities.critical": 0},
        )
        found = await call(b, "find_completed", task_type="security_scan", where={"vulnerabilities.critical": 0})
        assert [(r["span_id"], r["agent_id"]) for r in found["records"]] == [(rec["span_id"], "agent-a")]
        # B builds on A's work, in A's trace
        child = await call(
            b,
            "record_task",
            task_id="auth/login/review",
            task_type="review",
            status="started",
            parent_task_id="auth/login",
        )
        assert child["trace_id"] == rec["trace_id"]
        tree = await call(a, "get_trace", task_id="auth/login")
        assert [s["agent_id"] for s in tree["spans"]] == ["agent-a", "agent-b"]


async def test_eight_server_processes_recording_at_once_lose_and_duplicate_nothing(db_path: Path) -> None:
    agents, per_agent = 8, 100

    async def agent(n: int, client: Client) -> None:
        for i in range(per_agent):
            await call(
                client,
                "record_task",
                task_id=f"agent{n}/task{i}",
                task_type="test",
                status="complete",
                attributes={"n": i},
            )

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(stdio_params(db_path, f"agent-{n}"))) for n in range(agents)]
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for n, c in enumerate(clients):
                    tg.start_soon(agent, n, c)

    db = sqlite3.connect(db_path)
    total, distinct_tasks, distinct_spans = db.execute(
        "SELECT count(*), count(DISTINCT task_id), count(DISTINCT span_id) FROM spans WHERE source = 'agent'"
    ).fetchone()
    per_agent_counts = dict(db.execute("SELECT agent_id, count(*) FROM spans WHERE source='agent' GROUP BY 1"))
    assert (total, distinct_tasks, distinct_spans) == (agents * per_agent,) * 3
    assert per_agent_counts == {f"agent-{n}": per_agent for n in range(agents)}
    audits = db.execute("SELECT count(*) FROM spans WHERE source = 'audit'").fetchone()[0]
    assert audits == agents * per_agent


_OPENER = """
import sys, time
from pathlib import Path
from otel_mcp.store.sqlite import SQLiteStore
work, rounds = Path(sys.argv[1]), int(sys.argv[2])
print("ready", flush=True)
for r in range(rounds):
    deadline = time.monotonic() + 30
    while not (work / f"go-{r}").exists():  # every opener starts the round at the same instant
        if time.monotonic() > deadline:
            sys.exit("no start signal")
    try:
        SQLiteStore(work / f"round-{r}.db").shutdown()
        print("ok", flush=True)
    except Exception as exc:
        print(f"failed: {exc}", flush=True)
"""


def test_eight_processes_opening_a_fresh_store_at_once_all_get_it(tmp_path: Path) -> None:
    # The first agents of a workspace start together (the demo starts four), and the switch to WAL
    # answered "database is locked" to whichever lost the race: about one round in three of eight.
    openers, rounds = 8, 20
    procs = [
        subprocess.Popen([sys.executable, "-c", _OPENER, str(tmp_path), str(rounds)], stdout=subprocess.PIPE, text=True)
        for _ in range(openers)
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * openers  # type: ignore[union-attr]
        for r in range(rounds):
            (tmp_path / f"go-{r}").touch()
            answers = [p.stdout.readline().strip() for p in procs]  # type: ignore[union-attr]
            assert answers == ["ok"] * openers, f"round {r}: {answers}"
        assert [p.wait(timeout=30) for p in procs] == [0] * openers
    finally:
        for p in procs:
            p.kill()
            p.wait()

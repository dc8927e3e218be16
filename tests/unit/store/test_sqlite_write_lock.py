"""The embedded store's write lock, shared with other processes: a writer gets in between another
process's back-to-back transactions, gives up with a clear error when the lock never frees, and a
batch of rows is written whole or not at all."""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_mcp.errors import StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store.sqlite import SQLiteStore

_HOLDER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
hold, gap = float(sys.argv[2]), float(sys.argv[3])
con.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
while True:
    time.sleep(hold)
    con.execute("COMMIT")
    time.sleep(gap)
    con.execute("BEGIN IMMEDIATE")
"""


def _span(n: int) -> SpanRecord:
    return SpanRecord(
        span_id=f"{n + 1:016x}",
        trace_id="ab" * 16,
        parent_span_id=None,
        name=f"span {n}",
        start_ns=1_700_000_000_000_000_000 + n,
        end_ns=1_700_000_000_000_000_000 + n,
        attributes={"otel_mcp.source": "agent", "n": n},
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "telemetry.db", busy_timeout_s=5.0)
    try:
        yield s
    finally:
        s.shutdown()


def _holder(db: Path, hold_s: float, gap_s: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(hold_s), str(gap_s)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def _until_held(db: Path) -> None:
    """Wait (bounded) until another process holds the write lock again."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return
            probe.execute("ROLLBACK")
            time.sleep(0.001)
        raise AssertionError("the other process never took the write lock back")
    finally:
        probe.close()


def test_a_writer_gets_in_between_another_processes_back_to_back_transactions(store: SQLiteStore) -> None:
    # Another process (a receiver under load) holds the write lock 60 ms at a time with 3 ms between.
    # SQLite's busy handler sleeps ever longer between tries (up to 100 ms) and mostly missed those
    # gaps: a median wait of ~0.6 s. Trying every millisecond gets in at the next gap (~0.06 s; a busy
    # machine stretches the other process's transactions, hence the margin).
    holder = _holder(store.path, 0.06, 0.003)
    waits = []
    try:
        for n in range(7):
            _until_held(store.path)
            started = time.perf_counter()
            store.export([_span(n)])
            waits.append(time.perf_counter() - started)
    finally:
        holder.kill()
        holder.wait()
    assert store.count() == 7
    assert statistics.median(waits) < 0.2, [f"{w * 1000:.0f} ms" for w in waits]


def test_a_writer_gives_up_with_a_clear_error_when_the_lock_never_frees(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "telemetry.db", busy_timeout_s=0.3)
    try:
        holder = _holder(store.path, 60.0, 0.0)
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="locked"):
                store.export([_span(0)])
            assert 0.3 <= time.monotonic() - started < 5
        finally:
            holder.kill()
            holder.wait()
        assert store.count() == 0
        store.export([_span(0)])  # the lock is free again; the connection waits as before
        assert store.count() == 1
        assert store.raw().execute("PRAGMA busy_timeout").fetchone()[0] == 300
    finally:
        store.shutdown()


def test_rows_encoded_elsewhere_are_written_whole_or_not_at_all(store: SQLiteStore) -> None:
    encode = store.row_encoder()
    rows = [encode(_span(n)) for n in range(5)]
    broken = (*rows[3][:18], object(), *rows[3][19:])  # attributes that cannot be bound: fails mid-batch
    with pytest.raises(StoreUnavailable):
        store.export_rows([*rows[:3], broken, rows[4]])
    assert store.count() == 0
    store.export_rows(rows)
    stored = store.get_spans([f"{n + 1:016x}" for n in range(5)])
    assert {span_id: r.name for span_id, r in stored.items()} == {f"{n + 1:016x}": f"span {n}" for n in range(5)}

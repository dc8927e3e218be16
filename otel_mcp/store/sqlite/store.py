"""`SQLiteStore`: spans in one SQLite file in WAL mode, shared by every agent's server process.

Each process keeps one writer connection; every export is its own short `BEGIN IMMEDIATE`
transaction, so a span is visible to all other processes the moment the tool call returns. Reads
share that connection under a lock; the agent's own SQL runs in a separate read-only sandbox.

Every statement runs through `_reading` or `_write`: once SQLite reports the file damaged, the
store stops using it (writes into a damaged file can spread the damage) and every later call
raises `StoreDamaged` with what to do, also available as `problem`. Reads with attribute
conditions (`where`), which may check many rows in Python, run on a connection of their own: a long
scan there never holds the lock every write and quick read waits on.

This module opens the file and runs the agent's SQL; the store's other parts are private modules:
`_connection` (the connection, transactions, damage), `_exporting` (writing spans), `_span_reads`,
`_coordination_reads` (task index, claim events) and `_integrity` (what verification reads).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from otel_mcp.errors import OtelMcpError, StoreUnavailable
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.base import SqlRows
from otel_mcp.store.sqlite._connection import _Connection
from otel_mcp.store.sqlite._coordination_reads import _CoordinationReads
from otel_mcp.store.sqlite._exporting import _Exporting
from otel_mcp.store.sqlite._integrity import _Integrity
from otel_mcp.store.sqlite._span_reads import _SpanReads
from otel_mcp.store.sqlite.health import is_damage
from otel_mcp.store.sqlite.queries import PredicateSlots
from otel_mcp.store.sqlite.sandbox import SqlSandbox
from otel_mcp.store.sqlite.schema import migrate
from otel_mcp.store.sqlite.task_index import TaskIndex
from otel_mcp.store.statedir import make_state_dir

__all__ = ["SQLiteStore"]


class SQLiteStore(_Exporting, _SpanReads, _CoordinationReads, _Integrity, _Connection):
    """Spans in one SQLite file, shared safely by many processes."""

    backend = "sqlite"
    blocking_io = False  # microseconds per call: cheaper inline than a thread hop
    exports_otlp = False

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.problem: str | None = None  # set once the file is found damaged
        self._lock = threading.RLock()
        self._busy_timeout_s = busy_timeout_s
        self._predicates = PredicateSlots()
        self._scan: tuple[sqlite3.Connection, threading.Lock] | None = None
        self._scan_open = threading.Lock()
        try:
            # Private to its owner when made here: a check run as another user must not read the store.
            make_state_dir(self.path.parent)
            self._db = connect_wal(self.path, busy_timeout_s)
        except (OSError, sqlite3.Error) as exc:
            raise self._open_error(exc) from exc
        try:
            # NORMAL in WAL mode survives a process crash; FULL would also survive power loss at ~6x the cost.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Index pages stay cached between writes (the default 2 MB is evicted by a 1M-span store).
            self._db.execute("PRAGMA cache_size=-16000")
            migrate(self._db, self.path, self._write)
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            self._db.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise self._open_error(exc) from exc
        self._sandbox = SqlSandbox(self.path, busy_timeout_s)
        self._task_index = TaskIndex()

    # -- the agent's SQL -----------------------------------------------------------------------

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        self._check_usable()
        try:
            return self._sandbox.query(sql, limit, max_bytes, timeout_s)
        except OtelMcpError as exc:
            # The sandbox words SQLite's errors for the agent; damage is the store's business.
            cause = exc.__cause__ or exc.__context__
            if cause is not None and is_damage(cause):
                with self._lock:
                    raise self._damaged(cause) from cause
            raise

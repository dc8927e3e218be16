"""A stand-in for a store that could not be opened, so the server can start and say why.

A server that exits when its store cannot be opened leaves the person at the host with
"connection closed": hosts hide a server's stderr. Behind this stand-in the server starts, lists
its tools, and every call fails with the reason. Calls try to open the real store again (at most
every few seconds), so fixing a permission or freeing a disk needs no restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel_mcp.config import Settings
from otel_mcp.errors import OtelMcpError, StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import ClaimEvent, SpanFilter, SqlRows, Store, TaskState

__all__ = ["UnopenedStore"]


class UnopenedStore:
    """Every call raises StoreUnavailable(reason) until `opener` succeeds; then it is that store."""

    def __init__(self, settings: Settings, reason: str, opener: Callable[[], Store], retry_s: float = 2.0) -> None:
        self.backend = settings.backend
        # As the real store would answer: Telemetry decides on OTLP and threads before it opens.
        self.blocking_io = settings.backend == "clickhouse"
        self._exports_otlp = settings.backend == "clickhouse" and settings.clickhouse_write == "otlp"
        self._reason = reason
        self._opener = opener
        self._retry_s = retry_s
        self._next_try = time.monotonic() + retry_s
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def exports_otlp(self) -> bool:
        return self._exports_otlp

    @property
    def problem(self) -> str | None:
        store = self._opened()
        return self._reason if store is None else store.problem

    def _opened(self) -> Store | None:
        with self._lock:
            if self._store is None and time.monotonic() >= self._next_try:
                try:
                    self._store = self._opener()
                except OtelMcpError as exc:
                    self._reason = str(exc)
                    self._next_try = time.monotonic() + self._retry_s
            return self._store

    def _target(self) -> Store:
        store = self._opened()
        if store is None:
            raise StoreUnavailable(self._reason)
        return store

    def export(self, spans: Sequence[SpanRecord]) -> None:
        self._target().export(spans)

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        return self._target().get_spans(span_ids)

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        return self._target().find_spans(flt)

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        return self._target().latest_status(task_ids)

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        return self._target().status_bounds(task_id)

    def commit_records(self, commits: Sequence[str], limit: int = 500) -> list[SpanRecord]:
        return self._target().commit_records(commits, limit)

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        return self._target().trace(trace_id, limit)

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        return self._target().query_sql(sql, limit, max_bytes, timeout_s)

    def count(self) -> int:
        return self._target().count()

    def task_index(self) -> list[TaskState]:
        return self._target().task_index()

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        return self._target().claim_events(task_ids, active_since_ns, after_ns)

    def __getattr__(self, name: str) -> Any:
        # Backend-specific extras (SQLite's transaction/export_in for claims) once the store is open.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._target(), name)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if self._store is None else self._store.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self._store is not None:
            self._store.shutdown()

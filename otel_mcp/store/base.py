"""The store protocol: what coordination and gates need from a span store.

Two backends implement it: SQLite (embedded default, a file shared by every agent process) and
ClickHouse (the collector's `otel_traces` schema). The write side mirrors an OpenTelemetry span
exporter (`export`, `force_flush`, `shutdown`) so the SDK's processors sit directly in front of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from otel_mcp.core.predicates import Predicate
from otel_mcp.model import SpanRecord

__all__ = ["SPANS_VIEW_COLUMNS", "QueryResult", "SpanFilter", "Store"]

# The flat columns of the read-only `spans` view, identical on every backend.
SPANS_VIEW_COLUMNS: tuple[str, ...] = (
    "span_id",
    "trace_id",
    "parent_span_id",
    "name",
    "agent_id",
    "task_id",
    "task_type",
    "task_status",
    "task_parent_id",
    "quality_score",
    "source",
    "status_code",
    "start_time",
    "end_time",
    "duration_ms",
    "attributes",
)


@dataclass(frozen=True, slots=True)
class SpanFilter:
    """Conditions on spans; every field that is set must hold. Results are newest first."""

    task_id: str | None = None
    task_ids: Sequence[str] | None = None
    task_status: str | None = None
    has_status: bool = False  # only task-status records (record_task), not runner/gate/audit spans
    task_type: str | None = None
    parent_task_id: str | None = None
    agent_id: str | None = None
    name: str | None = None
    trace_id: str | None = None
    source: str | None = None
    since_ns: int | None = None
    where: Sequence[Predicate] = field(default_factory=tuple)
    latest_per_task: bool = False  # keep only the newest matching span of each task
    oldest_first: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = False
    note: str = ""


@runtime_checkable
class Store(Protocol):
    """A shared span store. Every method is safe to call from several processes at once."""

    backend: str

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Durably write spans; visible to every reader when this returns. Re-sent spans are ignored."""

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        """The spans with these ids that exist."""

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        """Spans matching the filter, newest first (or oldest first), at most `flt.limit`."""

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        """For each task id that has any status record, its newest one."""

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        """Spans of one trace, oldest first, at most `limit`."""

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> QueryResult:
        """Run one read-only SELECT over the `spans` view, capped in rows, bytes and time."""

    def count(self) -> int:
        """How many spans the store holds."""

    def force_flush(self, timeout_millis: int = 30000) -> bool: ...

    def shutdown(self) -> None: ...

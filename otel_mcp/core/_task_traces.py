"""A task tree's whole trace, and the agents' read-only SQL over the spans, each within its limits."""

from __future__ import annotations

import time

from otel_mcp.core.arguments import check_limit
from otel_mcp.core.results import QueryResult, SpanSummary, TraceResult, TraceSpan
from otel_mcp.errors import InvalidArgument, NotFound, StoreUnavailable
from otel_mcp.model import SpanRecord, check_span_id, check_task_id, check_trace_id
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.telemetry import Telemetry

__all__ = ["SQL_MAX_BYTES", "SQL_MAX_CHARS", "SQL_MAX_ROWS", "SQL_MIN_BUDGET_S", "SQL_TIMEOUT_S", "TRACE_LIMIT"]

TRACE_LIMIT = 500
SQL_MAX_CHARS = 10_000
SQL_MAX_ROWS = 1000
SQL_MAX_BYTES = 256 * 1024
SQL_TIMEOUT_S = 2.0
SQL_MIN_BUDGET_S = 0.05  # less than this left of the cap: not worth starting the query


class _Tracing:
    """The coordinator's trace and SQL reads (a part of `Coordinator`)."""

    store: Store
    telemetry: Telemetry

    def get_trace(
        self, task_id: str | None = None, trace_id: str | None = None, span_id: str | None = None
    ) -> TraceResult:
        given = [n for n, v in (("task_id", task_id), ("trace_id", trace_id), ("span_id", span_id)) if v]
        if len(given) != 1:
            raise InvalidArgument("get_trace takes exactly one of task_id, trace_id or span_id")
        if task_id:
            check_task_id(task_id)
            latest = self.store.latest_status([task_id]).get(task_id)
            if latest is None:
                found = self.store.find_spans(SpanFilter(task_id=task_id, limit=1))
                if not found:
                    raise NotFound(f"no spans recorded for task {task_id!r}")
                latest = found[0]
            trace_id = latest.trace_id
        elif span_id:
            check_span_id(span_id)
            span = self.store.get_spans([span_id]).get(span_id)
            if span is None:
                raise NotFound(f"span {span_id} does not exist in the store")
            trace_id = span.trace_id
        else:
            check_trace_id(trace_id)
        assert trace_id is not None
        self.telemetry.flush_audit()
        spans = self.store.trace(trace_id, TRACE_LIMIT + 1)
        if not spans:
            raise NotFound(f"trace {trace_id} has no spans in the store")
        if task_id and len(spans) <= TRACE_LIMIT:
            spans += self._host_telemetry_elsewhere(task_id, trace_id, TRACE_LIMIT + 1 - len(spans))
        truncated = len(spans) > TRACE_LIMIT
        return TraceResult(trace_id=trace_id, spans=_depth_first(spans[:TRACE_LIMIT]), truncated=truncated)

    def _host_telemetry_elsewhere(self, task_id: str, trace_id: str, limit: int) -> list[SpanRecord]:
        """Hosts' events named for the task (`otel_mcp.task.id`) in traces of their own (their session's)."""
        found = self.store.find_spans(SpanFilter(task_id=task_id, source="external", oldest_first=True, limit=limit))
        return [s for s in found if s.trace_id != trace_id]

    def query_spans(self, sql: str, limit: int = 100, *, started: float | None = None) -> QueryResult:
        """Run the agent's SELECT; `started` (time.monotonic()) is when the call arrived, if earlier.

        The time cap covers the whole call: time spent waiting for a thread or for other agents'
        queries counts, so a query never answers later than the cap plus a fraction of a second.
        """
        if not isinstance(sql, str) or not sql.strip():
            raise InvalidArgument("sql must be one SELECT statement over the 'spans' view")
        if len(sql) > SQL_MAX_CHARS:
            raise InvalidArgument(f"sql is {len(sql)} characters; the limit is {SQL_MAX_CHARS}")
        check_limit(limit, SQL_MAX_ROWS)
        self.telemetry.flush_audit()
        budget = SQL_TIMEOUT_S - (time.monotonic() - started if started is not None else 0.0)
        if budget < SQL_MIN_BUDGET_S:
            raise StoreUnavailable(
                f"query_spans is busy: this call waited {SQL_TIMEOUT_S - budget:.1f}s of its {SQL_TIMEOUT_S:g}s "
                "limit before it could start; retry in a few seconds"
            )
        result = self.store.query_sql(sql, limit, SQL_MAX_BYTES, budget)
        return QueryResult(
            columns=result.columns,
            rows=result.rows,
            row_count=len(result.rows),
            truncated=result.truncated,
            note=result.note,
        )


def _depth_first(spans: list[SpanRecord]) -> list[TraceSpan]:
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[SpanRecord]] = {}
    for s in spans:
        parent = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(parent, []).append(s)
    out: list[TraceSpan] = []
    stack: list[tuple[SpanRecord, int]] = [(s, 0) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        out.append(TraceSpan(**SpanSummary.of(span).model_dump(), depth=depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(span.span_id, [])))
    return out

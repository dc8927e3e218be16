"""Task records and reading them back: the stigmergy half of otel-mcp.

A task record is a span named `<task_type>_<status>` carrying `task.*` attributes. All records of
one task tree share a trace: a record is parented under the first record of its task, or else
under the first record of its parent task, so `get_trace` shows who did what under one root.
Agents also read a task tree's whole trace and run read-only SQL over the spans, each within its limits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.arguments import (
    MAX_DEPENDS,
    MAX_LIMIT,
    check_agent_id,
    check_branch,
    check_commits,
    check_idempotency_key,
    check_limit,
    check_status,
    check_summary,
    check_task_type,
    check_where,
)
from otel_mcp.core.idempotency import ATTR_IDEMPOTENCY_DIGEST, ATTR_IDEMPOTENCY_KEY, record_once, request_digest
from otel_mcp.core.results import (
    CompletedRecord,
    DependencyState,
    Prerequisites,
    QueryResult,
    RecordedTask,
    SpanList,
    SpanSummary,
    TraceResult,
    TraceSpan,
)
from otel_mcp.errors import InvalidArgument, NotFound, StoreUnavailable
from otel_mcp.model import (
    ATTR_BRANCH,
    ATTR_COMMITS,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_SUMMARY,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    SpanRecord,
    check_attributes,
    check_span_id,
    check_task_id,
    check_trace_id,
    parse_since,
)
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import parse_where
from otel_mcp.telemetry import Telemetry, ref

__all__ = [
    "SQL_MAX_BYTES",
    "SQL_MAX_CHARS",
    "SQL_MAX_ROWS",
    "SQL_MIN_BUDGET_S",
    "SQL_TIMEOUT_S",
    "TRACE_LIMIT",
    "Coordinator",
]

TRACE_LIMIT = 500
SQL_MAX_CHARS = 10_000
SQL_MAX_ROWS = 1000
SQL_MAX_BYTES = 256 * 1024
SQL_TIMEOUT_S = 2.0
SQL_MIN_BUDGET_S = 0.05  # less than this left of the cap: not worth starting the query


class Coordinator:
    """Records tasks as spans and answers what others have done."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        guard: Callable[[str, str, str, str | None], None] | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        # Raises when a transition is guarded by gates that do not stand passed (set by Runtime).
        self.guard = guard

    @property
    def agent_id(self) -> str:
        return self.telemetry.current_agent_id()

    # -- writing -------------------------------------------------------------------------------

    def record_task(
        self,
        task_id: str,
        task_type: str,
        status: str,
        attributes: Mapping[str, Any] | None = None,
        parent_task_id: str | None = None,
        depends_on: Sequence[str] | None = None,
        summary: str | None = None,
        idempotency_key: str | None = None,
        commits: Sequence[str] | None = None,
        branch: str | None = None,
    ) -> RecordedTask:
        check_task_id(task_id)
        check_task_type(task_type)
        check_status(status)
        attrs: dict[str, Any] = check_attributes(attributes)
        if parent_task_id is not None:
            check_task_id(parent_task_id, "parent_task_id")
            if parent_task_id == task_id:
                raise InvalidArgument("parent_task_id must name another task, not the task itself")
        deps = list(depends_on or [])
        if len(deps) > MAX_DEPENDS:
            raise InvalidArgument(f"depends_on lists {len(deps)} tasks; the limit is {MAX_DEPENDS}")
        for dep in deps:
            check_task_id(dep, "depends_on entry")
            if dep == task_id:
                raise InvalidArgument(f"task {task_id!r} cannot depend on itself")
        check_summary(summary)
        shas = check_commits(commits)
        if branch is not None:
            check_branch(branch)
        key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
        # Of the arguments as given, before the server's own attributes join them.
        digest = None if key is None else request_digest(task_type, status, attrs, parent_task_id, deps, summary)

        attrs.update({ATTR_TASK_ID: task_id, ATTR_TASK_TYPE: task_type, ATTR_TASK_STATUS: status, ATTR_SOURCE: "agent"})
        if parent_task_id:
            attrs[ATTR_PARENT_ID] = parent_task_id
        if deps:
            attrs[ATTR_DEPENDS_ON] = tuple(dict.fromkeys(deps))
        if summary:
            attrs[ATTR_SUMMARY] = summary
        if shas:
            attrs[ATTR_COMMITS] = shas
        if branch:
            attrs[ATTR_BRANCH] = branch
        if key is None or digest is None:
            return self._emit_record(task_id, task_type, status, attrs, parent_task_id, summary)
        attrs[ATTR_IDEMPOTENCY_KEY] = key
        attrs[ATTR_IDEMPOTENCY_DIGEST] = digest
        return record_once(
            self.store,
            self.agent_id,
            task_id,
            key,
            digest,
            lambda: self._emit_record(task_id, task_type, status, attrs, parent_task_id, summary),
        )

    def _emit_record(
        self,
        task_id: str,
        task_type: str,
        status: str,
        attrs: dict[str, Any],
        parent_task_id: str | None,
        summary: str | None,
    ) -> RecordedTask:
        if self.guard is not None:
            self.guard(task_id, task_type, status, parent_task_id)  # a refused transition writes nothing
        try:
            anchor = self.anchors.anchor(task_id, parent_task_id)
        except StoreUnavailable:
            # The store cannot be read but the write can still be spooled: record the work in a
            # trace of its own rather than lose it; only the tree placement is missed.
            anchor = None
        record = self.telemetry.spans.emit(
            f"{task_type}_{status}",
            attrs,
            parent=ref(anchor),
            error=(summary or "task failed") if status == "failed" else None,
            ok=status == "complete",
            # Signed and chained like runner and gate spans: a code-change record deleted or altered in
            # the store shows, and `attested: true` can ask that agent evidence came through a server.
            sign=True,
        )
        return RecordedTask(
            span_id=record.span_id,
            trace_id=record.trace_id,
            task_id=task_id,
            status=status,
            name=record.name,
            parent_span_id=record.parent_span_id,
        )

    # -- reading -------------------------------------------------------------------------------

    def find_completed(
        self,
        task_type: str | None = None,
        parent_task_id: str | None = None,
        agent_id: str | None = None,
        since: str | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int = 50,
    ) -> SpanList:
        if task_type is not None:
            check_task_type(task_type)
        if parent_task_id is not None:
            check_task_id(parent_task_id, "parent_task_id")
        if agent_id is not None:
            check_agent_id(agent_id)
        flt = SpanFilter(
            task_status="complete",
            task_type=task_type,
            parent_task_id=parent_task_id,
            agent_id=agent_id,
            since_ns=parse_since(since, time.time_ns()) if since else None,
            where=check_where(where),
            latest_per_task=True,
            limit=check_limit(limit),
        )
        records = [CompletedRecord.of(r) for r in self.store.find_spans(flt)]
        return SpanList(records=records, count=len(records))

    def dependencies_of(self, task_id: str) -> tuple[SpanRecord, list[str]]:
        """The task's latest record and the depends_on of its most recent record that declared any."""
        latest = self.store.latest_status([task_id]).get(task_id)
        if latest is None:
            raise NotFound(
                f"task {task_id!r} has no records yet; record it first with record_task "
                "(status 'planned', with depends_on) so its prerequisites are known"
            )
        deps = list(latest.depends_on)
        if not deps:
            flt = SpanFilter(task_id=task_id, has_status=True, where=parse_where({ATTR_DEPENDS_ON: "exists"}), limit=1)
            declared = self.store.find_spans(flt)
            if declared:
                deps = list(declared[0].depends_on)
        return latest, deps

    @staticmethod
    def _state(task_id: str, record: SpanRecord | None) -> DependencyState:
        if record is None:
            return DependencyState(task_id=task_id, state="missing")
        status = record.task_status
        state = "complete" if status == "complete" else "failed" if status == "failed" else "pending"
        return DependencyState(
            task_id=task_id, state=state, status=status, span_id=record.span_id, agent_id=record.agent_id
        )

    def check_prerequisites(self, task_id: str) -> Prerequisites:
        check_task_id(task_id)
        _, deps = self.dependencies_of(task_id)
        dep_states = self.store.latest_status(deps)
        depends = [self._state(d, dep_states.get(d)) for d in deps]
        children = self.store.find_spans(
            SpanFilter(parent_task_id=task_id, has_status=True, latest_per_task=True, limit=MAX_LIMIT)
        )
        # A subtask's newest record under this parent may be older than its newest record overall.
        child_ids = sorted({c.task_id for c in children if c.task_id})
        child_states = self.store.latest_status(child_ids)
        subtasks = [self._state(c, child_states.get(c)) for c in child_ids]
        everything = depends + subtasks
        complete = [d.task_id for d in everything if d.state == "complete"]
        failed = [d.task_id for d in everything if d.state == "failed"]
        pending = [d.task_id for d in everything if d.state in ("pending", "missing")]
        ready = not failed and not pending
        if ready:
            reason = "ready: " + (
                f"all {len(everything)} prerequisites are complete" if everything else "it has no prerequisites"
            )
        else:
            parts = []
            if failed:
                parts.append("failed: " + ", ".join(failed))
            if pending:
                detail = [
                    f"{d.task_id} ({'never recorded' if d.state == 'missing' else d.status})"
                    for d in everything
                    if d.state in ("pending", "missing")
                ]
                parts.append("waiting on: " + ", ".join(detail))
            reason = "not ready; " + "; ".join(parts)
        return Prerequisites(
            task_id=task_id,
            ready=ready,
            depends_on=depends,
            subtasks=subtasks,
            complete=complete,
            pending=pending,
            failed=failed,
            reason=reason,
        )

    # -- traces and SQL ------------------------------------------------------------------------

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
        truncated = len(spans) > TRACE_LIMIT
        return TraceResult(trace_id=trace_id, spans=_depth_first(spans[:TRACE_LIMIT]), truncated=truncated)

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

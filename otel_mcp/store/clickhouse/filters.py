"""A SpanFilter as ClickHouse SQL: WHERE clauses, predicate prefilters, and the windowed scan.

Values are bound as server-side parameters, never spliced into the text. Attribute predicates
become SQL only as a cheap superset (a prefilter); the exact check runs in Python on the rows that
come back, with `Predicate.holds`, the rule behind the gates' `check`.

Newest-first reads scan time windows from the present backwards (last hour, day, week, month, the
rest): the table is partitioned by day and keyed by second, so "the newest 50 matching" reads a
few recent granules instead of all history, and the answer is exact because windows are disjoint
and visited in order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from otel_mcp.model import ATTR_PARENT_ID, ATTR_SOURCE, ATTR_TASK_ID, ATTR_TASK_STATUS, ATTR_TASK_TYPE, SpanRecord
from otel_mcp.store.base import SpanFilter
from otel_mcp.store.clickhouse.codec import RECORD_COLUMNS
from otel_mcp.store.clickhouse.views import AGENT_SQL
from otel_mcp.store.predicates import Predicate

__all__ = ["prefilter_exact", "scan", "where_clauses"]

_NS: Final = 1_000_000_000
# Newest-first scans visit [now - w, ...) for these w, then everything older (see the module docstring).
_WINDOWS_S: Final = (3600, 86_400, 7 * 86_400, 31 * 86_400)
# The narrow columns of the task-status index, by the attribute they copy.
_INDEX_COLUMNS: Final = {
    ATTR_TASK_ID: "TaskId",
    ATTR_TASK_STATUS: "TaskStatus",
    ATTR_TASK_TYPE: "TaskType",
    ATTR_PARENT_ID: "ParentTaskId",
}


def where_clauses(flt: SpanFilter, *, indexed: bool = False) -> tuple[list[str], dict[str, Any]]:
    """WHERE clauses for `flt`, on the exporter's table or (indexed) on the task-status index."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    task_sql = "TaskId" if indexed else f"SpanAttributes['{ATTR_TASK_ID}']"

    def bind(value: Any, kind: str = "String") -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"{{{name}:{kind}}}"

    for key, value in (
        (ATTR_TASK_ID, flt.task_id),
        (ATTR_TASK_STATUS, flt.task_status),
        (ATTR_TASK_TYPE, flt.task_type),
        (ATTR_PARENT_ID, flt.parent_task_id),
    ):
        if value is not None:
            column = _INDEX_COLUMNS[key] if indexed else f"SpanAttributes['{key}']"
            clauses.append(f"{column} = {bind(value)}")
    if flt.task_ids is not None:
        clauses.append(f"{task_sql} IN {bind(list(flt.task_ids), 'Array(String)')}")
    if flt.has_status and flt.task_status is None and not indexed:  # the index holds only those
        clauses.append(f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}')")
    if flt.agent_id is not None:
        clauses.append(f"{'AgentId' if indexed else AGENT_SQL} = {bind(flt.agent_id)}")
    if flt.name is not None:
        clauses.append(f"SpanName = {bind(flt.name)}")
    if flt.trace_id is not None:
        clauses.append(f"TraceId = {bind(flt.trace_id)}")
    if flt.source is not None:
        if flt.source == "external":
            clauses.append(f"SpanAttributes['{ATTR_SOURCE}'] IN ('', 'external')")
        else:
            clauses.append(f"SpanAttributes['{ATTR_SOURCE}'] = {bind(flt.source)}")
    if flt.since_ns is not None:
        clauses.append(f"Timestamp >= fromUnixTimestamp64Nano({bind(flt.since_ns, 'Int64')})")
    for pred in flt.where:
        clause = _prefilter(pred, bind)
        if clause:
            clauses.append(clause)
    return clauses, params


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _prefilter(pred: Predicate, bind: Any) -> str | None:
    """SQL that keeps a superset of the rows `pred` holds for (None: no cheap superset); values bound."""
    if pred.op == "exists":
        return f"mapContains(SpanAttributes, {bind(pred.key)})"
    if pred.op == "missing":
        return f"NOT mapContains(SpanAttributes, {bind(pred.key)})"
    if pred.op in ("<", "<=", ">", ">="):
        number = _number(pred.operand)
        if number is None:
            return None
        # trimBoth: the shared predicate code reads ' 5' as 5, so the prefilter must not drop it.
        return f"toFloat64OrNull(trimBoth(SpanAttributes[{bind(pred.key)}])) {pred.op} {bind(number, 'Float64')}"
    if pred.op == "==" and isinstance(pred.operand, str) and _number(pred.operand) is None:
        # Text equality: the map holds exactly the text a string attribute was written as. This form
        # (`map[key] = value`) also lets the exporter's bloom filter on map values skip granules.
        return f"SpanAttributes[{bind(pred.key)}] = {bind(pred.operand)}"
    if pred.op == "in" and all(isinstance(v, str) and _number(v) is None for v in pred.operand):
        # The same reasoning for a list of texts: rows are checked in Python only if their value is one of them.
        return f"SpanAttributes[{bind(pred.key)}] IN {bind(list(pred.operand), 'Array(String)')}"
    return None


def prefilter_exact(pred: Predicate) -> bool:
    """Whether the SQL prefilter alone decides the predicate (no check in Python needed)."""
    return pred.op in ("exists", "missing")


def scan(
    records: Callable[[str, Mapping[str, Any]], list[SpanRecord]],
    target: str,
    clauses: list[str],
    params: dict[str, Any],
    *,
    oldest_first: bool,
    since_ns: int | None,
    page: int,
    windows: bool = True,
) -> Iterator[SpanRecord]:
    """Matching rows of `target` in (Timestamp, SpanId) order, page by page, window by window.

    `records(sql, params)` runs one page's query. Pages are keyset-paged on (Timestamp, SpanId).
    """
    order = "ASC" if oldest_first else "DESC"
    now = time.time_ns()
    bounds: list[tuple[int | None, int | None]] = []  # [low, high) in ns; None is unbounded
    if oldest_first or not windows:
        bounds.append((None, None))
    else:
        high: int | None = None
        for window in _WINDOWS_S:
            low = now - window * _NS
            if since_ns is not None and low <= since_ns:
                break
            bounds.append((low, high))
            high = low
        bounds.append((None, high))
    for lower, upper in bounds:
        cursor: tuple[int, str] | None = None
        while True:
            where = list(clauses)
            p = dict(params)
            if lower is not None:
                where.append("Timestamp >= fromUnixTimestamp64Nano({w_low:Int64})")
                p["w_low"] = lower
            if upper is not None:
                where.append("Timestamp < fromUnixTimestamp64Nano({w_high:Int64})")
                p["w_high"] = upper
            if cursor is not None:
                op = ">" if oldest_first else "<"
                where.append(f"(Timestamp, SpanId) {op} (fromUnixTimestamp64Nano({{c_ts:Int64}}), {{c_id:String}})")
                p["c_ts"], p["c_id"] = cursor
            sql = f"SELECT {RECORD_COLUMNS} FROM {target}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY Timestamp {order}, SpanId {order} LIMIT {int(page)}"
            found = records(sql, p)
            yield from found
            if len(found) < page:
                break
            cursor = (found[-1].start_ns, found[-1].span_id)

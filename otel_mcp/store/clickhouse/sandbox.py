"""The agent's own SQL on ClickHouse: one SELECT over the `spans` view, capped in time, memory and size.

The engine enforces the caps, per query: `readonly=1` (no writes, DDL, settings changes or table
functions that reach outside), `max_execution_time` (the call's remaining budget), a memory limit,
no spilling to disk (sorts, GROUP BY and joins stay in memory under that limit), rows read, threads,
recursion depth, and result rows and bytes. What the query may *read* is decided first, from the
engine's own parse and analysis of it (see `sandbox_admission`): the telemetry database's `spans`
view only, not `system.*`, the exporter's raw table, other databases or files. A ClickHouse user
whose grants stop at that database is still worth having (see the README): it holds even for
functions this module does not know about.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from clickhouse_connect.driver.exceptions import DatabaseError

from otel_mcp.errors import InvalidArgument
from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SqlRows
from otel_mcp.store.clickhouse.connection import Connection
from otel_mcp.store.clickhouse.sandbox_admission import check_ast, check_query_tree

__all__ = ["QUERY_MEMORY_BYTES", "run_agent_sql"]

_READ_ONLY_KINDS: Final = ("SELECT", "WITH", "(")
QUERY_MEMORY_BYTES: Final = 256 << 20
_COLUMNS: Final = "columns: " + ", ".join(SPANS_VIEW_COLUMNS)
# Per-query settings (a readonly=1 query cannot change them). Ones an older server does not know
# are left out (see `_settings`); the first four exist on every version otel-mcp supports.
_LIMITS: Final[dict[str, Any]] = {
    "readonly": 1,
    "timeout_overflow_mode": "throw",
    "max_memory_usage": QUERY_MEMORY_BYTES,
    "result_overflow_mode": "break",
    "max_threads": 2,
    "max_rows_to_read": 200_000_000,
    "read_overflow_mode": "throw",
    "max_recursive_cte_evaluation_depth": 1000,
    # Nothing spills to temporary files: a sort, GROUP BY or join too big for memory stops instead.
    "max_bytes_before_external_group_by": 0,
    "max_bytes_before_external_sort": 0,
    "max_bytes_ratio_before_external_group_by": 0,
    "max_bytes_ratio_before_external_sort": 0,
    "join_algorithm": "parallel_hash,hash",
    "max_temporary_data_on_disk_size_for_query": 1 << 20,
}


def run_agent_sql(conn: Connection, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
    """Admit the agent's SELECT by what it reads, then run it read-only within `timeout_s` in all."""
    deadline = time.monotonic() + timeout_s
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    first = text.lstrip("(").split(None, 1)[0].upper() if text else ""
    if not (first in _READ_ONLY_KINDS or text.startswith("(")):
        raise InvalidArgument(
            "query refused: query_spans only runs SELECT (or WITH … SELECT) over the 'spans' view; "
            f"got {first[:40] or 'nothing'}"
        )
    conn.ensure_schema()
    tables = {str(row[0]) for row in conn.run(_TABLES_SQL, {"db": conn.database})}
    check_ast(_explain(conn, "AST", text, deadline, timeout_s), conn.database, tables, _COLUMNS)
    check_query_tree(_explain(conn, "QUERY TREE", text, deadline, timeout_s), conn.database, _COLUMNS)
    settings = {**_settings(conn, deadline, timeout_s), "max_result_rows": limit + 1, "max_result_bytes": max_bytes}
    try:
        result = conn.client().query(text, settings=settings)
    except Exception as exc:
        raise InvalidArgument(_message(conn, exc, timeout_s)) from None
    columns = list(result.column_names)
    rows = [[_jsonable(v) for v in row] for row in result.result_rows]
    truncated, note = False, ""
    if len(rows) > limit:
        rows, truncated, note = rows[:limit], True, f"stopped at {limit} rows; add a WHERE or LIMIT, or raise limit"
    size = 0
    for i, row in enumerate(rows):
        size += len(json.dumps(row, default=str))
        if size > max_bytes:
            rows, truncated = rows[:i], True
            note = f"stopped at {max_bytes} bytes of results; select fewer columns"
            break
    return SqlRows(columns=columns, rows=rows, truncated=truncated, note=note)


_TABLES_SQL: Final = "SELECT name FROM system.tables WHERE database = {db:String}"


def _explain(conn: Connection, kind: str, text: str, deadline: float, timeout_s: float) -> list[str]:
    """The engine's `EXPLAIN <kind>` of the agent's query, one line per element."""
    try:
        result = conn.client().query(f"EXPLAIN {kind} {text}", settings=_settings(conn, deadline, timeout_s))
    except Exception as exc:
        raise InvalidArgument(_message(conn, exc, timeout_s)) from None
    return [str(row[0]) for row in result.result_rows]


def _settings(conn: Connection, deadline: float, timeout_s: float) -> dict[str, Any]:
    remaining = deadline - time.monotonic()
    if remaining <= 0.01:
        raise InvalidArgument(_timed_out(timeout_s))
    known = conn.client().server_settings
    settings = {k: v for k, v in _LIMITS.items() if k in known}
    return {**settings, "readonly": 1, "max_execution_time": round(remaining, 3)}


def _timed_out(timeout_s: float) -> str:
    return (
        f"query_spans stopped the query after {timeout_s:.1f}s, its time limit; narrow it with WHERE on task_id, "
        "trace_id, name or a recent start_time"
    )


def _message(conn: Connection, exc: BaseException, timeout_s: float) -> str:
    text = str(exc)
    if not isinstance(exc, DatabaseError) or "Code:" not in text:
        return conn.down(exc)
    detail = text.split("DB::Exception:", 1)[-1].split("(version")[0].split("(for url")[0].strip()
    if "Code: 164" in text or "READONLY" in text:
        return f"query refused: query_spans only reads ({detail[:300]})"
    if "Multi-statements" in text:
        return "query_spans runs exactly one SELECT statement; remove the ';' and what follows"
    if "only supported with a SELECT" in text or "EXPLAIN QUERY TREE is only supported" in text:
        return "query refused: query_spans only runs SELECT (or WITH … SELECT) over the 'spans' view"
    if "TIMEOUT_EXCEEDED" in text or "Code: 159" in text:
        return _timed_out(timeout_s)
    if "MEMORY_LIMIT_EXCEEDED" in text or "Code: 241" in text:
        return (
            f"query_spans stopped the query: it needed more than {QUERY_MEMORY_BYTES >> 20} MB of memory "
            "(sorting, grouping, joins or large arrays); narrow it with WHERE or LIMIT"
        )
    if "TOO_MANY_ROWS" in text or "Code: 158" in text:
        return f"query_spans stopped the query: it would read too many rows ({detail[:200]}); narrow it with WHERE"
    return f"SQL error: {detail[:500]}. The view is 'spans' with {_COLUMNS}"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)

"""The agent's own SQL on ClickHouse: one read-only SELECT, capped in rows, bytes and time.

`readonly=1` refuses every write, DDL, settings change and table function that reaches outside
(file, url, …). It does not narrow *what* can be read: any table the connecting user may read (the
raw `otel_traces`, `system.*`) is readable too, so give otel-mcp a ClickHouse user whose grants stop
at the telemetry database (see the README).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from otel_mcp.errors import InvalidArgument
from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SqlRows
from otel_mcp.store.clickhouse.connection import Connection

__all__ = ["run_agent_sql"]

_READ_ONLY_KINDS: Final = ("SELECT", "WITH", "(")


def run_agent_sql(conn: Connection, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
    """Run the agent's SELECT with the engine's own read-only mode and caps."""
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    first = text.lstrip("(").split(None, 1)[0].upper() if text else ""
    if not (first in _READ_ONLY_KINDS or text.startswith("(")):
        raise InvalidArgument(
            "query refused: query_spans only runs SELECT (or WITH … SELECT) over the 'spans' view; "
            f"got {first or 'nothing'}"
        )
    settings = {
        "readonly": 1,
        "max_execution_time": max(1, math.ceil(timeout_s)),
        "timeout_overflow_mode": "throw",
        "max_result_rows": limit + 1,
        "max_result_bytes": max_bytes,
        "result_overflow_mode": "break",
    }
    conn.ensure_schema()
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


def _message(conn: Connection, exc: BaseException, timeout_s: float) -> str:
    from clickhouse_connect.driver.exceptions import DatabaseError

    text = str(exc)
    if not isinstance(exc, DatabaseError) or "Code:" not in text:
        return conn.down(exc)
    detail = text.split("DB::Exception:", 1)[-1].split("(version")[0].split("(for url")[0].strip()
    if "Code: 164" in text or "READONLY" in text:
        return f"query refused: query_spans only reads ({detail})"
    if "Multi-statements" in text:
        return "query_spans runs exactly one SELECT statement; remove the ';' and what follows"
    if "TIMEOUT_EXCEEDED" in text or "Code: 159" in text:
        return (
            f"query_spans stopped the query after {timeout_s:g}s; narrow it with WHERE on task_id, trace_id, "
            "name or a recent start_time"
        )
    return f"SQL error: {detail[:500]}. The view is 'spans' with columns: {', '.join(SPANS_VIEW_COLUMNS)}"


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

"""The agent's own SQL on the embedded store: one SELECT over the `spans` view, nothing else.

The query runs on a separate connection that is read-only by construction: opened `mode=ro`,
`query_only`, no attached databases, and an authorizer that admits nothing but SELECT over the
`spans` view and a list of safe functions (a `mode=ro` connection alone would still allow ATTACH and
with it writes elsewhere). Rows, bytes and time are capped; a refusal names what was refused.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from otel_mcp.errors import InvalidArgument
from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SqlRows
from otel_mcp.store.sqlite.rows import dumps

__all__ = ["SqlSandbox"]

# Functions an agent's query may call: enough for analysis, nothing that reaches outside the query
# (no load_extension) or allocates without bound (no randomblob/zeroblob).
_SAFE_FUNCTIONS = frozenset(
    [
        "abs",
        "avg",
        "count",
        "group_concat",
        "max",
        "min",
        "sum",
        "total",
        "coalesce",
        "ifnull",
        "iif",
        "nullif",
        "length",
        "lower",
        "upper",
        "trim",
        "ltrim",
        "rtrim",
        "substr",
        "substring",
        "replace",
        "instr",
        "printf",
        "format",
        "round",
        "typeof",
        "like",
        "glob",
        "hex",
        "quote",
        "unicode",
        "char",
        "date",
        "time",
        "datetime",
        "julianday",
        "strftime",
        "unixepoch",
        "json",
        "json_extract",
        "json_array",
        "json_object",
        "json_type",
        "json_valid",
        "json_array_length",
        "json_each",
        "json_tree",
        "json_group_array",
        "json_group_object",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "cast",
        "ceil",
        "ceiling",
        "floor",
        "ln",
        "log",
        "log10",
        "log2",
        "exp",
        "pow",
        "power",
        "sqrt",
        "sign",
        "mod",
        "pi",
        "trunc",
        "string_agg",
        "median",
        "concat",
        "concat_ws",
        "likely",
        "unlikely",
    ]
)

_STATEMENT_NAMES = {
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_TRANSACTION: "transactions",
}


class SqlSandbox:
    """Runs agents' SELECTs against the store file at `path`, one at a time, on its own connection."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._ro: sqlite3.Connection | None = None
        self._denied: list[str] = []  # why the authorizer refused, for the error message

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        if action == sqlite3.SQLITE_SELECT or action == sqlite3.SQLITE_RECURSIVE:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            # Only through the `spans` view: the table behind it and anything else stay out of reach.
            # db is None for CTE names, and for count(*)-style reads that fetch no column at all.
            if source == "spans" or (arg1 == "spans" and db == "main") or db is None:
                return sqlite3.SQLITE_OK
            self._denied.append(f"table {arg1!r} is not available; query the 'spans' view")
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in _SAFE_FUNCTIONS:
                return sqlite3.SQLITE_OK
            self._denied.append(f"function {arg2}() is not allowed in query_spans")
            return sqlite3.SQLITE_DENY
        what = _STATEMENT_NAMES.get(action, "that statement")
        self._denied.append(f"{what} is not allowed: query_spans only runs SELECT over the 'spans' view")
        return sqlite3.SQLITE_DENY

    def _reader(self) -> sqlite3.Connection:
        if self._ro is None:
            uri = f"file:{quote(str(self._path.resolve()))}?mode=ro"
            ro = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s, check_same_thread=False)
            ro.execute("PRAGMA query_only=1")
            ro.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            ro.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)
            ro.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 20_000)
            ro.set_authorizer(self._authorize)
            self._ro = ro
        return self._ro

    def query(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run one SELECT, stopping at `limit` rows, `max_bytes` of JSON or `timeout_s` seconds."""
        with self._lock:
            ro = self._reader()
            self._denied = []
            deadline = time.monotonic() + timeout_s
            ro.set_progress_handler(lambda: int(time.monotonic() > deadline), 2000)
            try:
                cursor = ro.execute(sql)
                if cursor.description is None:
                    raise InvalidArgument("query_spans runs one SELECT statement; that statement returns no rows")
                columns = [d[0] for d in cursor.description]
                rows: list[list[Any]] = []
                size = 0
                truncated, note = False, ""
                while True:
                    row = cursor.fetchone()
                    if row is None:
                        break
                    if len(rows) >= limit:
                        truncated, note = True, f"stopped at {limit} rows; add a WHERE or LIMIT, or raise limit"
                        break
                    values = [v.hex() if isinstance(v, bytes) else v for v in row]
                    size += len(dumps(values))
                    if size > max_bytes:
                        truncated, note = True, f"stopped at {max_bytes} bytes of results; select fewer columns"
                        break
                    rows.append(values)
                cursor.close()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise InvalidArgument(
                        f"query_spans stopped the query after {timeout_s:g}s; narrow it with WHERE on an "
                        "indexed column (task_id, task_status, task_type, trace_id, agent_id, name)"
                    ) from None
                raise InvalidArgument(self._message(exc)) from None
            except sqlite3.ProgrammingError as exc:
                if "one statement" in str(exc):
                    raise InvalidArgument(
                        "query_spans runs exactly one SELECT statement; remove the ';' and what follows"
                    ) from None
                raise InvalidArgument(self._message(exc)) from None
            except sqlite3.DatabaseError as exc:
                raise InvalidArgument(self._message(exc)) from None
            finally:
                ro.set_progress_handler(None, 0)
        return SqlRows(columns=columns, rows=rows, truncated=truncated, note=note)

    def _message(self, exc: sqlite3.Error) -> str:
        if self._denied:
            return f"query refused: {self._denied[0]}"
        if any(word in str(exc) for word in ("readonly", "read-only", "cannot modify")):
            return "query refused: query_spans only reads"
        return f"SQL error: {exc}. The view is 'spans' with columns: {', '.join(SPANS_VIEW_COLUMNS)}"

    def close(self) -> None:
        with self._lock:
            if self._ro is not None:
                self._ro.close()
                self._ro = None

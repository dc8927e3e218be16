"""The embedded store: one SQLite file in WAL mode, shared by every agent's server process.

Each process keeps one writer connection; every export is its own short `BEGIN IMMEDIATE`
transaction, so a span is visible to all other processes the moment the tool call returns.
`query_spans` gets a separate connection that is read-only by construction: opened `mode=ro`,
`query_only`, and an authorizer that admits nothing but SELECT over the `spans` view (a `mode=ro`
connection alone would still allow ATTACH and with it writes elsewhere).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.model import SpanRecord, format_time
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_SPAN_NAMES,
    SPANS_VIEW_COLUMNS,
    ClaimEvent,
    SpanFilter,
    SqlRows,
    TaskState,
)
from otel_mcp.store.predicates import Predicate

__all__ = ["SQLiteStore"]

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 4

# Steps from an older schema version; _SCHEMA (all IF NOT EXISTS) then adds what is new.
_UPGRADES = {
    1: """
DROP INDEX IF EXISTS span_store_status;
DROP INDEX IF EXISTS span_store_type;
DROP INDEX IF EXISTS span_store_parent;
DROP INDEX IF EXISTS span_store_task;
DROP INDEX IF EXISTS span_store_agent;
DROP INDEX IF EXISTS span_store_name;
""",
    # find_completed(agent_id=...) filters the status index instead: one index less on every write.
    2: "DROP INDEX IF EXISTS span_store_agent2;",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS span_store (
    seq            INTEGER PRIMARY KEY,
    span_id        TEXT NOT NULL UNIQUE,
    trace_id       TEXT NOT NULL,
    parent_span_id TEXT,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    agent_id       TEXT,
    task_id        TEXT,
    task_type      TEXT,
    task_status    TEXT,
    task_parent_id TEXT,
    quality_score  REAL,
    source         TEXT NOT NULL,
    status_code    TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    start_time     TEXT NOT NULL,
    end_time       TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    resource       TEXT NOT NULL,
    scope_name     TEXT NOT NULL DEFAULT '',
    links          TEXT NOT NULL DEFAULT '[]'
);
-- Partial indexes: every query that uses them compares the column with '=', which implies
-- IS NOT NULL, and audit spans (one per tool call, no task columns) then update none of them.
-- Each index costs about 6 us per insert.
CREATE INDEX IF NOT EXISTS span_store_status2 ON span_store (task_status, start_ns) WHERE task_status IS NOT NULL;
CREATE INDEX IF NOT EXISTS span_store_type2 ON span_store (task_type, task_status, start_ns)
    WHERE task_type IS NOT NULL;
CREATE INDEX IF NOT EXISTS span_store_parent2 ON span_store (task_parent_id, task_status, start_ns)
    WHERE task_parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS span_store_task2 ON span_store (task_id, start_ns) WHERE task_id IS NOT NULL;
-- A task's first and latest status records (the trace anchor, check_prerequisites): without it both
-- walk the task's whole claim history, which every lease renewal lengthens.
CREATE INDEX IF NOT EXISTS span_store_task_status ON span_store (task_id, start_ns) WHERE task_status IS NOT NULL;
CREATE INDEX IF NOT EXISTS span_store_trace ON span_store (trace_id, start_ns);
CREATE INDEX IF NOT EXISTS span_store_name2 ON span_store (name, task_id, start_ns);
-- task_index reads status records in insertion order from where it last stopped; this keeps that a
-- range scan that skips audit, runner and gate spans.
CREATE INDEX IF NOT EXISTS span_store_status_seq ON span_store (seq) WHERE task_status IS NOT NULL;
CREATE VIEW IF NOT EXISTS spans AS
    SELECT span_id, trace_id, parent_span_id, name, agent_id, task_id, task_type, task_status,
           task_parent_id, quality_score, source, status_code, start_time, end_time,
           (end_ns - start_ns) / 1e6 AS duration_ms, attributes
    FROM span_store;
"""

_COLUMNS = (
    "span_id, trace_id, parent_span_id, name, kind, agent_id, task_id, task_type, task_status, task_parent_id, "
    "quality_score, source, status_code, status_message, start_ns, end_ns, start_time, end_time, attributes, "
    "resource, scope_name, links"
)
_INSERT = f"INSERT OR IGNORE INTO span_store ({_COLUMNS}) VALUES ({', '.join('?' * 22)})"
_SELECT = (
    "SELECT span_id, trace_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, "
    "attributes, resource, scope_name, links, seq FROM span_store"
)

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


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=list)


def _json_lists(mapping: Mapping[str, Any]) -> str:
    return _dumps({k: list(v) if isinstance(v, tuple) else v for k, v in mapping.items()})


# A process writes one resource on nearly every span: dump it once, not per row.
_last_resource: tuple[dict[str, Any], str] = ({}, "{}")


def _resource_json(resource: Mapping[str, Any]) -> str:
    global _last_resource
    known, text = _last_resource
    if resource != known:
        text = _json_lists(resource)
        _last_resource = (dict(resource), text)
    return text


def _row(record: SpanRecord) -> tuple[Any, ...]:
    start_time = format_time(record.start_ns)
    return (
        record.span_id,
        record.trace_id,
        record.parent_span_id,
        record.name,
        record.kind,
        record.agent_id,
        record.task_id,
        record.task_type,
        record.task_status,
        record.task_parent_id,
        record.quality_score,
        record.source,
        record.status_code,
        record.status_message,
        record.start_ns,
        record.end_ns,
        start_time,
        start_time if record.end_ns == record.start_ns else format_time(record.end_ns),
        _json_lists(record.attributes),
        _resource_json(record.resource),
        record.scope_name,
        _dumps([list(link) for link in record.links]),
    )


def _tuples(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in mapping.items()}


# Rows of one store share a handful of resources: decode each text once, shared read-only.
_resources_read: dict[str, Mapping[str, Any]] = {}


def _resource(text: str) -> Mapping[str, Any]:
    known = _resources_read.get(text)
    if known is None:
        if len(_resources_read) >= 256:
            _resources_read.clear()
        known = _resources_read[text] = MappingProxyType(_tuples(json.loads(text)))
    return known


def _record(row: sqlite3.Row | tuple[Any, ...]) -> SpanRecord:
    return SpanRecord(
        span_id=row[0],
        trace_id=row[1],
        parent_span_id=row[2],
        name=row[3],
        kind=row[4],
        start_ns=row[5],
        end_ns=row[6],
        status_code=row[7],
        status_message=row[8],
        attributes=_tuples(json.loads(row[9])),
        resource=_resource(row[10]),
        scope_name=row[11],
        links=tuple((t, s) for t, s in json.loads(row[12])),
    )


_TASK_INDEX_SQL = (
    "SELECT seq, task_id, task_type, task_status, start_ns, span_id, agent_id, "
    # Task ids cannot contain ',' (model._TASK_ID), so a joined string splits back losslessly and
    # costs far less than json.loads per row.
    "(SELECT group_concat(value, ',') FROM json_each(attributes, '$.\"task.depends_on\"')) "
    "FROM span_store WHERE task_status IS NOT NULL AND task_id IS NOT NULL AND seq > ? ORDER BY seq"
)
# A task's oldest / newest status record, by (start time, insertion order); one parameter: the task id.
_OLDEST_STATUS_SEQ = (
    "SELECT seq FROM span_store WHERE task_id = ? AND task_status IS NOT NULL ORDER BY start_ns, seq LIMIT 1"
)
_NEWEST_STATUS_SEQ = (
    "SELECT seq FROM span_store WHERE task_id = ? AND task_status IS NOT NULL ORDER BY start_ns DESC, seq DESC LIMIT 1"
)
_CLAIM_NAMES_SQL = ", ".join(f"'{name}'" for name in CLAIM_SPAN_NAMES)
_CLAIM_EVENTS_SQL = (
    f"SELECT task_id, json_extract(attributes, '$.\"{CLAIM_ACTION_ATTR}\"'), agent_id, start_ns, span_id, "
    f"coalesce(json_extract(attributes, '$.\"{CLAIM_LEASE_ATTR}\"'), 0) FROM span_store "
    # No condition on task_status here: it would steer the planner onto the status index.
    f"WHERE name IN ({_CLAIM_NAMES_SQL}) AND task_id IS NOT NULL AND agent_id IS NOT NULL"
)


def _statements(script: str) -> Iterator[str]:
    """Split a schema script into statements; `;` inside comments or strings does not end one."""
    current: list[str] = []
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        if sqlite3.complete_statement("".join(current)):
            yield "".join(current)
            current = []


def _json_path(key: str) -> str:
    # Keys are validated to [A-Za-z0-9_.-/] by the predicate parser's callers; quoting makes the
    # dotted name one JSON member, and it travels as a bound parameter, never as SQL text.
    return '$."' + key + '"'


def _predicate_fn(value: Any, op: str, operand_json: str, key: str) -> int:
    operand = json.loads(operand_json)
    return int(Predicate(key, op, tuple(operand) if op == "in" else operand).check(value)[0])  # type: ignore[arg-type]


class SQLiteStore:
    """Spans in one SQLite file, shared safely by many processes."""

    backend = "sqlite"
    blocking_io = False  # microseconds per call: cheaper inline than a thread hop
    exports_otlp = False

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._ro_lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        try:
            self._db = connect_wal(self.path, busy_timeout_s)
            # NORMAL in WAL mode survives a process crash; FULL would also survive power loss at ~6x the cost.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Index pages stay cached between writes (the default 2 MB is evicted by a 1M-span store).
            self._db.execute("PRAGMA cache_size=-16000")
            self._db.create_function("otel_pred", 4, _predicate_fn, deterministic=True)
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the telemetry store at {self.path}: {exc}") from exc
        self._ro: sqlite3.Connection | None = None
        self._denied: list[str] = []
        # task_index cache: task id -> (newest record key, state, key of the newest record with depends_on)
        self._tasks: dict[str, tuple[tuple[int, int], TaskState, tuple[int, int]]] = {}
        self._tasks_seq = 0

    # -- schema --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == _SCHEMA_VERSION:
            return
        if version > _SCHEMA_VERSION:
            raise StoreUnavailable(f"{self.path} was written by a newer otel-mcp (schema {version}); upgrade otel-mcp")
        with self._write():
            # Re-read inside the lock: another process may have migrated meanwhile.
            current = self._db.execute("PRAGMA user_version").fetchone()[0]
            if current < _SCHEMA_VERSION:
                for step in range(current, _SCHEMA_VERSION):
                    for statement in _statements(_UPGRADES.get(step, "")):
                        self._db.execute(statement)
                for statement in _statements(_SCHEMA):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for read-then-write decisions (claims) that must not interleave."""
        try:
            with self._write() as db:
                yield db
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"the telemetry store at {self.path} is busy or unavailable: {exc}") from exc

    # -- exporter side -------------------------------------------------------------------------

    def export(self, spans: Sequence[SpanRecord]) -> None:
        if not spans:
            return
        rows = [_row(s) for s in spans]
        try:
            with self._write() as db:
                db.executemany(_INSERT, rows)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"could not write to the telemetry store at {self.path}: {exc}") from exc

    def export_in(self, db: sqlite3.Connection, spans: Sequence[SpanRecord]) -> None:
        """Write inside a transaction opened with `transaction()`."""
        db.executemany(_INSERT, [_row(s) for s in spans])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._db.close()
        with self._ro_lock:
            if self._ro is not None:
                self._ro.close()
                self._ro = None

    close = shutdown

    # -- reads ---------------------------------------------------------------------------------

    def _select(self, sql: str, params: Sequence[Any], db: sqlite3.Connection | None = None) -> list[SpanRecord]:
        with self._lock:
            rows = (db or self._db).execute(sql, params).fetchall()
        return [_record(r) for r in rows]

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        if not span_ids:
            return {}
        found = self._select(f"{_SELECT} WHERE span_id IN (SELECT value FROM json_each(?))", [_dumps(list(span_ids))])
        return {r.span_id: r for r in found}

    def _where(self, flt: SpanFilter) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("task_id", flt.task_id),
            ("task_status", flt.task_status),
            ("task_type", flt.task_type),
            ("task_parent_id", flt.parent_task_id),
            ("agent_id", flt.agent_id),
            ("name", flt.name),
            ("trace_id", flt.trace_id),
            ("source", flt.source),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if flt.task_ids is not None:
            clauses.append(f"task_id IN ({','.join('?' * len(flt.task_ids))})")
            params.extend(flt.task_ids)
        if flt.has_status and flt.task_status is None:
            clauses.append("task_status IS NOT NULL")
        if flt.since_ns is not None:
            clauses.append("start_ns >= ?")
            params.append(flt.since_ns)
        for pred in flt.where:
            path = _json_path(pred.key)
            # Booleans come back from json_extract as 1/0; name them so `== true` compares as intended.
            clauses.append(
                "otel_pred(CASE json_type(attributes, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                "ELSE json_extract(attributes, ?) END, ?, ?, ?)"
            )
            operand = list(pred.operand) if pred.op == "in" else pred.operand
            params.extend([path, path, pred.op, _dumps(operand), pred.key])
        return clauses, params

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        if flt.limit <= 0:
            return []
        if flt.task_ids is not None and not flt.task_ids:
            return []
        clauses, params = self._where(flt)
        order = "ASC" if flt.oldest_first else "DESC"
        if not flt.latest_per_task:
            where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
            sql = f"{_SELECT}{where} ORDER BY start_ns {order}, seq {order} LIMIT ?"
            return self._select(sql, [*params, flt.limit])
        # Keep the newest record per task: page through newest-first and drop tasks already seen.
        # Keyset paging keeps each page an index range scan however deep we go.
        out: list[SpanRecord] = []
        seen: set[str | None] = set()
        cursor: tuple[int, int] | None = None
        page = max(flt.limit * 2, 64)
        while len(out) < flt.limit:
            page_clauses = list(clauses)
            page_params = list(params)
            if cursor is not None:
                page_clauses.append("(start_ns, seq) < (?, ?)")
                page_params.extend(cursor)
            where = f" WHERE {' AND '.join(page_clauses)}" if page_clauses else ""
            sql = f"{_SELECT}{where} ORDER BY start_ns DESC, seq DESC LIMIT ?"
            with self._lock:
                rows = self._db.execute(sql, [*page_params, page]).fetchall()
            for row in rows:
                record = _record(row)
                if record.task_id in seen:
                    continue
                seen.add(record.task_id)
                out.append(record)
                if len(out) == flt.limit:
                    break
            if len(rows) < page:
                break
            cursor = (rows[-1][5], rows[-1][13])
        if flt.oldest_first:
            out.reverse()
        return out

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        out: dict[str, SpanRecord] = {}
        ids = list(dict.fromkeys(task_ids))
        if len(ids) == 1:  # check_prerequisites and claim_task: one index probe, no json_each
            found = self._select(f"{_SELECT} WHERE seq = ({_NEWEST_STATUS_SEQ})", ids)
            return {ids[0]: found[0]} if found else {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            # Newest status record per task: the max (start_ns, seq) within each task's index range.
            sql = (
                f"{_SELECT} WHERE seq IN (SELECT (SELECT s.seq FROM span_store s WHERE s.task_id = t.value "
                "AND s.task_status IS NOT NULL ORDER BY s.start_ns DESC, s.seq DESC LIMIT 1) "
                f"FROM json_each(?) t)"
            )
            for record in self._select(sql, [_dumps(chunk)]):
                if record.task_id is not None:
                    out[record.task_id] = record
        return out

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        # One statement for both ends (a claim needs both); a task recorded once returns one row.
        found = self._select(
            f"{_SELECT} WHERE seq IN (({_OLDEST_STATUS_SEQ}), ({_NEWEST_STATUS_SEQ})) ORDER BY start_ns, seq",
            [task_id, task_id],
        )
        return (found[0], found[-1]) if found else (None, None)

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        return self._select(f"{_SELECT} WHERE trace_id = ? ORDER BY start_ns, seq LIMIT ?", [trace_id, limit])

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM span_store").fetchone()[0])

    def raw(self) -> sqlite3.Connection:
        """The writer connection, for tests and admin tooling only."""
        return self._db

    # -- the agent's SQL -----------------------------------------------------------------------

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
        names = {
            sqlite3.SQLITE_ATTACH: "ATTACH",
            sqlite3.SQLITE_DETACH: "DETACH",
            sqlite3.SQLITE_PRAGMA: "PRAGMA",
            sqlite3.SQLITE_INSERT: "INSERT",
            sqlite3.SQLITE_UPDATE: "UPDATE",
            sqlite3.SQLITE_DELETE: "DELETE",
            sqlite3.SQLITE_TRANSACTION: "transactions",
        }
        what = names.get(action, "that statement")
        self._denied.append(f"{what} is not allowed: query_spans only runs SELECT over the 'spans' view")
        return sqlite3.SQLITE_DENY

    def _reader(self) -> sqlite3.Connection:
        if self._ro is None:
            uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
            ro = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout_s, check_same_thread=False)
            ro.execute("PRAGMA query_only=1")
            ro.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            ro.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000)
            ro.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 20_000)
            ro.set_authorizer(self._authorize)
            self._ro = ro
        return self._ro

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        with self._ro_lock:
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
                    size += len(_dumps(values))
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
                raise InvalidArgument(self._sql_message(exc)) from None
            except sqlite3.ProgrammingError as exc:
                if "one statement" in str(exc):
                    raise InvalidArgument(
                        "query_spans runs exactly one SELECT statement; remove the ';' and what follows"
                    ) from None
                raise InvalidArgument(self._sql_message(exc)) from None
            except sqlite3.DatabaseError as exc:
                raise InvalidArgument(self._sql_message(exc)) from None
            finally:
                ro.set_progress_handler(None, 0)
        return SqlRows(columns=columns, rows=rows, truncated=truncated, note=note)

    def _sql_message(self, exc: sqlite3.Error) -> str:
        if self._denied:
            return f"query refused: {self._denied[0]}"
        if any(word in str(exc) for word in ("readonly", "read-only", "cannot modify")):
            return "query refused: query_spans only reads"
        return f"SQL error: {exc}. The view is 'spans' with columns: {', '.join(SPANS_VIEW_COLUMNS)}"

    # -- coordination reads (find_ready, claims, report) -------------------------------------------

    def task_index(self) -> list[TaskState]:
        """Every task as of its newest status record; see `Store.task_index`.

        Kept in memory and brought up to date from the rows inserted since the last call: writers
        are serialised (BEGIN IMMEDIATE), so committed rows form a prefix of `seq` and reading past
        the last seen `seq` misses nothing. Rows can arrive out of start-time order (explicit start
        times, other processes' clocks), so each row wins only if its (start_ns, seq) is greater.
        """
        with self._lock:
            rows = self._db.execute(_TASK_INDEX_SQL, [self._tasks_seq]).fetchall()
            tasks = self._tasks
            for seq, task_id, task_type, status, start_ns, span_id, agent_id, deps_text in rows:
                key = (start_ns, seq)
                deps = tuple(deps_text.split(",")) if deps_text else None
                entry = tasks.get(task_id)
                if entry is None:
                    state = TaskState(task_id, task_type, status, deps or (), start_ns, span_id, agent_id)
                    tasks[task_id] = (key, state, key if deps is not None else (0, 0))
                    continue
                old_key, old, deps_key = entry
                if deps is not None and key > deps_key:
                    deps_key, declared = key, deps
                else:
                    declared = old.depends_on
                if key > old_key:
                    tasks[task_id] = (
                        key,
                        TaskState(task_id, task_type, status, declared, start_ns, span_id, agent_id),
                        deps_key,
                    )
                elif declared is not old.depends_on:
                    tasks[task_id] = (
                        old_key,
                        TaskState(
                            old.task_id, old.task_type, old.status, declared, old.start_ns, old.span_id, old.agent_id
                        ),
                        deps_key,
                    )
            if rows:
                self._tasks_seq = rows[-1][0]
            return [entry[1] for entry in tasks.values()]

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        sql = _CLAIM_EVENTS_SQL
        params: list[Any] = []
        if task_ids is not None:
            if not task_ids:
                return []
            if len(task_ids) == 1:  # the claim path: one index range on (task_id, start_ns)
                sql += " AND task_id = ?"
                params.append(task_ids[0])
            else:
                sql += " AND task_id IN (SELECT value FROM json_each(?))"
                params.append(_dumps(list(task_ids)))
        if after_ns is not None:
            sql += " AND start_ns > ?"
            params.append(after_ns)
        if active_since_ns is not None:
            sql += (
                f" AND task_id IN (SELECT task_id FROM span_store WHERE name IN ({_CLAIM_NAMES_SQL}) AND start_ns >= ?)"
            )
            params.append(active_since_ns)
        sql += " ORDER BY start_ns, span_id"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [
            ClaimEvent(task_id, action, agent_id, start_ns, span_id, int(lease or 0))
            for task_id, action, agent_id, start_ns, span_id, lease in rows
            if action in ("claim", "release")
        ]

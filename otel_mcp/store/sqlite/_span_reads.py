"""Reading spans back: by id, by filter (attribute conditions on a connection of their own), by status, by trace.

Reads with attribute conditions (`where`), which may check many rows in Python, run on a connection
of their own: a long scan there never holds the lock every write and quick read waits on.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from otel_mcp.errors import StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.base import SpanFilter
from otel_mcp.store.sqlite._connection import _Connection
from otel_mcp.store.sqlite.queries import (
    COMMIT_RECORDS_WHERE,
    NEWEST_STATUS_SEQ,
    OLDEST_STATUS_SEQ,
    PREDICATE_FUNCTION,
    where_clauses,
)
from otel_mcp.store.sqlite.rows import SELECT_SQL, dumps, record_from_row


class _SpanReads(_Connection):
    """The store's span reads (a part of `SQLiteStore`)."""

    def _select(self, sql: str, params: Sequence[Any]) -> list[SpanRecord]:
        with self._reading() as db:
            rows = db.execute(sql, params).fetchall()
        return [record_from_row(r) for r in rows]

    def _scanner(self) -> tuple[sqlite3.Connection, threading.Lock]:
        """The connection (and its lock) for reads that evaluate predicates; opened on first use."""
        with self._scan_open:
            if self._scan is None:
                try:
                    db = connect_wal(self.path, self._busy_timeout_s)
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"cannot open the telemetry store at {self.path}: {exc}") from exc
                db.create_function(PREDICATE_FUNCTION, 2, self._predicates.evaluate, deterministic=True)
                self._scan = (db, threading.Lock())
            return self._scan

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        if not span_ids:
            return {}
        found = self._select(f"{SELECT_SQL} WHERE span_id IN (SELECT value FROM json_each(?))", [dumps(list(span_ids))])
        return {r.span_id: r for r in found}

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        if flt.limit <= 0:
            return []
        if flt.task_ids is not None and not flt.task_ids:
            return []
        if not flt.where:
            return self._find(flt, self._db, self._lock, ())
        db, lock = self._scanner()
        with self._predicates.bound(flt.where) as slots:
            return self._find(flt, db, lock, slots)

    def _find(
        self, flt: SpanFilter, db: sqlite3.Connection, lock: threading.Lock | threading.RLock, slots: Sequence[int]
    ) -> list[SpanRecord]:
        clauses, params = where_clauses(flt, slots)
        order = "ASC" if flt.oldest_first else "DESC"
        if not flt.latest_per_task:
            where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
            sql = f"{SELECT_SQL}{where} ORDER BY start_ns {order}, seq {order} LIMIT ?"
            with self._reading(db, lock) as conn:
                rows = conn.execute(sql, [*params, flt.limit]).fetchall()
            return [record_from_row(r) for r in rows]
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
            sql = f"{SELECT_SQL}{where} ORDER BY start_ns DESC, seq DESC LIMIT ?"
            with self._reading(db, lock) as conn:
                rows = conn.execute(sql, [*page_params, page]).fetchall()
            for row in rows:
                record = record_from_row(row)
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
            found = self._select(f"{SELECT_SQL} WHERE seq = ({NEWEST_STATUS_SEQ})", ids)
            return {ids[0]: found[0]} if found else {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            # Newest status record per task: the max (start_ns, seq) within each task's index range.
            sql = (
                f"{SELECT_SQL} WHERE seq IN (SELECT (SELECT s.seq FROM span_store s WHERE s.task_id = t.value "
                "AND s.task_status IS NOT NULL ORDER BY s.start_ns DESC, s.seq DESC LIMIT 1) "
                f"FROM json_each(?) t)"
            )
            for record in self._select(sql, [dumps(chunk)]):
                if record.task_id is not None:
                    out[record.task_id] = record
        return out

    def commit_records(self, commits: Sequence[str], limit: int = 500) -> list[SpanRecord]:
        if not commits or limit <= 0:
            return []
        sql = f"{SELECT_SQL} WHERE {COMMIT_RECORDS_WHERE} ORDER BY start_ns DESC, seq DESC LIMIT ?"
        return self._select(sql, [dumps(list(dict.fromkeys(commits))), limit])

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        # One statement for both ends (a claim needs both); a task recorded once returns one row.
        found = self._select(
            f"{SELECT_SQL} WHERE seq IN (({OLDEST_STATUS_SEQ}), ({NEWEST_STATUS_SEQ})) ORDER BY start_ns, seq",
            [task_id, task_id],
        )
        return (found[0], found[-1]) if found else (None, None)

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        return self._select(f"{SELECT_SQL} WHERE trace_id = ? ORDER BY start_ns, seq LIMIT ?", [trace_id, limit])

    def count(self) -> int:
        with self._reading() as db:
            return int(db.execute("SELECT count(*) FROM span_store").fetchone()[0])

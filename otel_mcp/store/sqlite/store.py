"""`SQLiteStore`: spans in one SQLite file in WAL mode, shared by every agent's server process.

Each process keeps one writer connection; every export is its own short `BEGIN IMMEDIATE`
transaction, so a span is visible to all other processes the moment the tool call returns. Reads
share that connection under a lock; the agent's own SQL runs in a separate read-only sandbox.

Every statement runs through `_reading` or `_write`: once SQLite reports the file damaged, the
store stops using it (writes into a damaged file can spread the damage) and every later call
raises `StoreDamaged` with what to do, also available as `problem`. Likewise once the path no
longer leads to the opened file (deleted, replaced, moved: `placement`), checked before each commit
and each time `problem` is read, and then `StoreDisplaced`. Reads with attribute
conditions (`where`), which may check many rows in Python, run on a connection of their own: a long
scan there never holds the lock every write and quick read waits on.

The SQL the reads run is in `queries`, the row shape in `rows`, the file's schema in `schema`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from otel_mcp.errors import OtelMcpError, StoreDamaged, StoreDisplaced, StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.base import ClaimEvent, SpanFilter, SqlRows, TaskState, claim_event
from otel_mcp.store.sqlite.health import damaged_message, is_damage, not_a_store, open_failure, write_failure
from otel_mcp.store.sqlite.placement import Placement
from otel_mcp.store.sqlite.queries import (
    CHAIN_LINKS_SQL,
    CHAIN_SUMMARY_SQL,
    CLAIM_EVENTS_SQL,
    CLAIM_LOG_SQL,
    CLAIM_NAMES_SQL,
    COLUMN_MISMATCH_SQL,
    COMMIT_RECORDS_WHERE,
    MALFORMED_ROWS_SQL,
    NEWEST_STATUS_SEQ,
    OLDEST_STATUS_SEQ,
    PREDICATE_FUNCTION,
    PredicateSlots,
    where_clauses,
)
from otel_mcp.store.sqlite.rows import INSERT_SQL, SELECT_SQL, dumps, record_from_row, record_to_row
from otel_mcp.store.sqlite.sandbox import SqlSandbox
from otel_mcp.store.sqlite.schema import Legacy, check_readable, legacy_rows, migrate, schema_problems
from otel_mcp.store.sqlite.task_index import TaskIndex
from otel_mcp.store.statedir import make_state_dir

__all__ = ["SQLiteStore"]

_log = logging.getLogger(__name__)
_LOCK_POLL_S = 0.001  # between tries for the write lock another process holds


class SQLiteStore:
    """Spans in one SQLite file, shared safely by many processes."""

    backend = "sqlite"
    blocking_io = False  # microseconds per call: cheaper inline than a thread hop
    exports_otlp = False

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0, read_only: bool = False) -> None:
        """`read_only` for commands that only read: the file is opened as it is (never created, upgraded
        or written; SQLite refuses writes through it) and must be of this schema or an older one."""
        self.path = Path(path)
        self.read_only = read_only
        self.upgrade_note: str | None = None  # what opening did to an older file, said once at start-up
        self._problem: str | None = None  # set once the file is found damaged or displaced
        self._stopped: type[StoreUnavailable] = StoreDamaged
        self._placement: Placement | None = None
        self._lock = threading.RLock()
        self._busy_timeout_s = busy_timeout_s
        self._predicates = PredicateSlots()
        self._scan: tuple[sqlite3.Connection, threading.Lock] | None = None
        self._scan_open = threading.Lock()
        try:
            # Private to its owner when made here: a check run as another user must not read the store.
            if not read_only:
                make_state_dir(self.path.parent)
            self._db = connect_wal(self.path, busy_timeout_s, read_only=read_only)
        except (OSError, sqlite3.Error) as exc:
            raise self._open_error(exc) from exc
        try:
            placement = self._placement = Placement(self.path)
        except OSError as exc:
            self._db.close()
            raise self._open_error(exc) from exc
        try:
            # NORMAL in WAL mode survives a process crash; FULL would also survive power loss at ~6x the cost.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Index pages stay cached between writes (the default 2 MB is evicted by a 1M-span store).
            self._db.execute("PRAGMA cache_size=-16000")
            if read_only:
                check_readable(self._db, self.path)
            else:
                self.upgrade_note = migrate(self._db, self.path, self._write)
                if self.upgrade_note:
                    _log.warning("%s", self.upgrade_note)
        except (OSError, sqlite3.Error, StoreUnavailable) as exc:
            self._db.close()
            placement.close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise self._open_error(exc) from exc
        self._sandbox = SqlSandbox(self.path, busy_timeout_s)
        self._task_index = TaskIndex()

    # -- the file: connection, transactions, damage -------------------------------------------

    def _open_error(self, exc: BaseException) -> StoreUnavailable:
        message = open_failure(self.path, exc)
        damaged = is_damage(exc) and not_a_store(self.path) is None
        return StoreDamaged(message) if damaged else StoreUnavailable(message)

    @property
    def problem(self) -> str | None:
        """Why this process no longer uses the file (damaged, deleted, replaced, moved); None while it does."""
        if self._problem is None and self._placement is not None:
            displaced = self._placement.displaced()
            if displaced is not None:
                self._stop(displaced, StoreDisplaced)
        return self._problem

    def _stop(self, problem: str, kind: type[StoreUnavailable]) -> StoreUnavailable:
        """Stop using the file for good (this process) and say why."""
        if self._problem is None:
            self._problem, self._stopped = problem, kind
            _log.error("%s", problem)
            # Closing the last connection would checkpoint the WAL into the file (and, displaced, into
            # the WAL the path's new file now shares); Python 3.12+ can say no.
            no_checkpoint = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)
            if no_checkpoint is not None and hasattr(self._db, "setconfig"):
                self._db.setconfig(no_checkpoint, True)
        return self._stopped(self._problem)

    def _damaged(self, exc: BaseException) -> StoreUnavailable:
        return self._stop(damaged_message(self.path, exc), StoreDamaged)

    def _check_placement(self) -> None:
        """StoreDisplaced once the path no longer leads to the opened file: one stat."""
        displaced = self._placement.displaced() if self._placement is not None else None
        if displaced is not None:
            raise self._stop(displaced, StoreDisplaced)

    def _check_usable(self) -> None:
        if self._problem is not None:
            raise self._stopped(self._problem)

    @contextmanager
    def _reading(
        self, db: sqlite3.Connection | None = None, lock: threading.Lock | threading.RLock | None = None
    ) -> Iterator[sqlite3.Connection]:
        """A connection for reads (the shared one by default); damage found here stops every later write."""
        with lock or self._lock:
            self._check_usable()
            try:
                yield db or self._db
            except sqlite3.DatabaseError as exc:
                if is_damage(exc):
                    raise self._damaged(exc) from exc
                raise

    def _begin(self) -> None:
        """BEGIN IMMEDIATE, waiting for another process's write by trying again every millisecond.

        SQLite's own busy handler sleeps longer each time (up to 100 ms between tries): beside a writer
        that takes the lock back at once, as a receiver under load does, an agent's record_task waited
        hundreds of milliseconds for a lock that was free most of the time.
        """
        db = self._db
        db.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + self._busy_timeout_s
            while True:
                try:
                    db.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    busy = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF == sqlite3.SQLITE_BUSY
                    if not busy or time.monotonic() >= deadline:
                        raise
                time.sleep(_LOCK_POLL_S)
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_usable()
            try:
                self._begin()
            except sqlite3.DatabaseError as exc:
                if is_damage(exc):
                    raise self._damaged(exc) from exc
                raise
            try:
                yield self._db
            except BaseException as exc:
                # SQLite may already have rolled back (a full disk does): a second ROLLBACK would
                # replace the real error with "no transaction is active".
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        _log.warning("rollback failed after %s", type(exc).__name__, exc_info=True)
                if is_damage(exc):
                    raise self._damaged(exc) from exc
                raise
            else:
                try:
                    # Before the commit, not after: the commit would write into the WAL file the
                    # path's new file may now share, and acknowledge a write the path no longer has.
                    self._check_placement()
                except StoreDisplaced:
                    self._db.execute("ROLLBACK")
                    raise
                try:
                    self._db.execute("COMMIT")
                except sqlite3.DatabaseError as exc:
                    if is_damage(exc):
                        raise self._damaged(exc) from exc
                    raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for read-then-write decisions (claims) that must not interleave."""
        try:
            with self._write() as db:
                yield db
        except sqlite3.OperationalError as exc:
            message = write_failure(self.path, exc, default="the telemetry store at {path} is busy or unavailable")
            raise StoreUnavailable(message) from exc

    def raw(self) -> sqlite3.Connection:
        """The writer connection, for tests and admin tooling only."""
        return self._db

    # -- writing spans ---------------------------------------------------------------------------

    def export(self, spans: Sequence[SpanRecord]) -> None:
        self.export_rows([record_to_row(s) for s in spans])

    def row_encoder(self) -> Callable[[SpanRecord], tuple[Any, ...]]:
        return record_to_row

    def export_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        # Rows are encoded before the write lock is taken: the transaction is only SQLite's own work.
        if not rows:
            return
        try:
            with self._write() as db:
                db.executemany(INSERT_SQL, rows)
        except sqlite3.Error as exc:
            raise StoreUnavailable(write_failure(self.path, exc)) from exc

    def export_in(self, db: sqlite3.Connection, spans: Sequence[SpanRecord]) -> None:
        """Write inside a transaction opened with `transaction()`."""
        db.executemany(INSERT_SQL, [record_to_row(s) for s in spans])

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._db.close()
        with self._scan_open:
            if self._scan is not None:
                with self._scan[1]:
                    self._scan[0].close()
        self._sandbox.close()
        if self._placement is not None:
            self._placement.close()  # last: see placement's note on SQLite's locks

    close = shutdown

    # -- span reads ------------------------------------------------------------------------------

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

    # -- coordination reads: the task index, claim/release events --------------------------------

    def task_index(self) -> list[TaskState]:
        """Every task as of its newest status record; see `Store.task_index` and `TaskIndex`."""
        with self._reading() as db:
            return self._task_index.catch_up(db)

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        sql = CLAIM_EVENTS_SQL
        params: list[Any] = []
        if task_ids is not None:
            if not task_ids:
                return []
            if len(task_ids) == 1:  # the claim path: one index range on (task_id, start_ns)
                sql += " AND task_id = ?"
                params.append(task_ids[0])
            else:
                sql += " AND task_id IN (SELECT value FROM json_each(?))"
                params.append(dumps(list(task_ids)))
        if after_ns is not None:
            sql += " AND start_ns > ?"
            params.append(after_ns)
        if active_since_ns is not None:
            sql += (
                f" AND task_id IN (SELECT task_id FROM span_store WHERE name IN ({CLAIM_NAMES_SQL}) AND start_ns >= ?)"
            )
            params.append(active_since_ns)
        sql += " ORDER BY start_ns, span_id"
        with self._reading() as db:
            rows = db.execute(sql, params).fetchall()
        return [claim_event(*row) for row in rows if row[1] in ("claim", "release")]

    def claim_log(self, after_seq: int | None) -> tuple[list[ClaimEvent], int]:
        """Claim/release events in the order they were committed, after position `after_seq`, and the new position.

        None: no events, the current position. Commit order is what a process that already folded the
        history up to a position needs to catch up on, whatever the events' timestamps.
        """
        with self._reading() as db:
            if after_seq is None:
                return [], int(db.execute("SELECT coalesce(max(seq), 0) FROM span_store").fetchone()[0])
            rows = db.execute(CLAIM_LOG_SQL, (after_seq,)).fetchall()
        events = [claim_event(*row[1:]) for row in rows if row[2] in ("claim", "release")]
        return events, int(rows[-1][0]) if rows else after_seq

    # -- integrity: what verification reads -----------------------------------------------------

    def chain_summary(self, writer: str) -> tuple[int, int]:
        with self._reading() as db:
            count, highest = db.execute(CHAIN_SUMMARY_SQL, [writer]).fetchone()
        return int(count or 0), int(highest or 0)

    def chain_links(self, writer: str, seqs: Sequence[int]) -> dict[int, str]:
        if not seqs:
            return {}
        with self._reading() as db:
            rows = db.execute(CHAIN_LINKS_SQL, [writer, dumps([int(s) for s in seqs])]).fetchall()
        return {int(seq): str(attestation) for seq, attestation in rows if attestation is not None}

    def column_mismatches(self, limit: int = 200) -> list[str]:
        """Rows whose filter columns say something else than their own attributes (rewritten columns)."""
        names = ("task_id", "task_type", "task_status", "task_parent_id", "source")
        out = []
        with self._reading() as db:
            rows = db.execute(COLUMN_MISMATCH_SQL, [limit]).fetchall()
        for row in rows:
            pairs = zip(names, zip(row[1::2], row[2::2], strict=True), strict=True)
            for name, (column, attribute) in pairs:
                if column != attribute:
                    out.append(
                        f"span {row[0]}: its {name} column says {column!r} but its own content says {attribute!r}"
                    )
        return out

    def schema_problems(self) -> list[str]:
        """How the file's schema differs from otel-mcp's (added triggers, a replaced view, dropped indexes)."""
        with self._reading() as db:
            return schema_problems(db, self.path)

    def legacy_rows(self) -> Legacy | None:
        """Task rows written before signing existed (an upgraded older file), which audit does not call forged."""
        with self._reading() as db:
            return legacy_rows(db)

    def malformed_rows(self, limit: int = 200) -> list[str]:
        """Rows no server could have written, which every read that meets them fails on."""
        with self._reading() as db:
            rows = db.execute(MALFORMED_ROWS_SQL, [limit]).fetchall()
        return [
            f"span {str(span_id)[:32]!r} (seq {seq}) is not a row otel-mcp writes (its attributes, resource or links "
            "are not JSON of the right shape, or its times are not integers): forged or damaged; delete it"
            for seq, span_id in rows
        ]

    # -- the agent's SQL -----------------------------------------------------------------------

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        self._check_usable()
        try:
            return self._sandbox.query(sql, limit, max_bytes, timeout_s)
        except OtelMcpError as exc:
            # The sandbox words SQLite's errors for the agent; damage is the store's business.
            cause = exc.__cause__ or exc.__context__
            if cause is not None and is_damage(cause):
                with self._lock:
                    raise self._damaged(cause) from cause
            raise

"""The store's one way to the file: the shared connection, write transactions, and what damage does.

Every statement runs through `_reading` or `_write`: once SQLite reports the file damaged, the
store stops using it (writes into a damaged file can spread the damage) and every later call
raises `StoreDamaged` with what to do, also available as `problem`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from otel_mcp.errors import StoreDamaged, StoreUnavailable
from otel_mcp.store.sqlite.health import damaged_message, is_damage, open_failure, write_failure
from otel_mcp.store.sqlite.queries import PredicateSlots
from otel_mcp.store.sqlite.sandbox import SqlSandbox
from otel_mcp.store.sqlite.task_index import TaskIndex

_log = logging.getLogger(__name__)


class _Connection:
    """What `SQLiteStore` holds (set in its constructor) and how each of its parts reaches the file."""

    path: Path
    problem: str | None
    _lock: threading.RLock
    _busy_timeout_s: float
    _predicates: PredicateSlots
    _scan: tuple[sqlite3.Connection, threading.Lock] | None
    _scan_open: threading.Lock
    _db: sqlite3.Connection
    _sandbox: SqlSandbox
    _task_index: TaskIndex

    def _open_error(self, exc: BaseException) -> StoreUnavailable:
        message = open_failure(self.path, exc)
        return StoreDamaged(message) if is_damage(exc) else StoreUnavailable(message)

    def _damaged(self, exc: BaseException) -> StoreDamaged:
        """Stop using the file for good (this process) and say why."""
        if self.problem is None:
            self.problem = damaged_message(self.path, exc)
            _log.error("%s", self.problem)
            # Closing the last connection would checkpoint the WAL into the file; Python 3.12+ can say no.
            no_checkpoint = getattr(sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)
            if no_checkpoint is not None and hasattr(self._db, "setconfig"):
                self._db.setconfig(no_checkpoint, True)
        return StoreDamaged(self.problem)

    def _check_usable(self) -> None:
        if self.problem is not None:
            raise StoreDamaged(self.problem)

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

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_usable()
            try:
                self._db.execute("BEGIN IMMEDIATE")
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

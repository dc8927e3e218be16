"""The store's exporter side: spans written by the TracerProvider, each batch its own transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from otel_mcp.errors import StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store.sqlite._connection import _Connection
from otel_mcp.store.sqlite.health import write_failure
from otel_mcp.store.sqlite.rows import INSERT_SQL, record_to_row


class _Exporting(_Connection):
    """Writing spans and closing the store (a part of `SQLiteStore`)."""

    def export(self, spans: Sequence[SpanRecord]) -> None:
        if not spans:
            return
        rows = [record_to_row(s) for s in spans]
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

    close = shutdown

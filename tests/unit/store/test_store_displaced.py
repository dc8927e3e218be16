"""The store class itself (what the CLI and the servers share) refuses a path that left its file."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from otel_mcp.errors import StoreDisplaced
from otel_mcp.model import SpanRecord
from otel_mcp.store.sqlite import SQLiteStore


def _span(span_id: str) -> SpanRecord:
    return SpanRecord(
        trace_id="a" * 32, span_id=span_id, parent_span_id=None, name="test", start_ns=1, end_ns=2, attributes={}
    )


def test_a_write_after_the_file_is_replaced_is_refused_and_never_reaches_either_file(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        store.export([_span("1" * 16)])
        fresh = db_path.with_name("fresh.db")
        sqlite3.connect(fresh).close()
        os.replace(fresh, db_path)
        with pytest.raises(StoreDisplaced, match="replaced by another file"):
            store.export([_span("2" * 16)])
        assert store.problem is not None and "replaced" in store.problem
        with pytest.raises(StoreDisplaced):
            store.count()
        # Rolled back: the unlinked file (still readable through the store's own connection) has only the first.
        assert store.raw().execute("SELECT count(*) FROM span_store").fetchone()[0] == 1
    finally:
        store.shutdown()


def test_problem_names_a_deleted_store_before_any_write(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert store.problem is None
        db_path.unlink()
        assert store.problem is not None and "was deleted" in store.problem and "Restore it" in store.problem
    finally:
        store.shutdown()

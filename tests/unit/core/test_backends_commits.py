"""Tasks are found by the commits they recorded, the same way on SQLite and on ClickHouse.

This is how the git pre-push hook learns which tasks a pushed commit belongs to when its message
has no `Task:` trailer: `record_task(..., commits=[...])` lists them, full or abbreviated.
"""

from __future__ import annotations

import pytest

from otel_mcp.runtime import Runtime

FULL_A = "3f2a9c1e" + "0" * 32
FULL_B = "b7e4d2a9" + "1" * 32
FULL_C = "c0ffee00" + "2" * 56  # a SHA-256 object id
OTHER = "3f2a9c0e" + "0" * 32  # shares six characters with A (and its abbreviation), not seven


def test_records_are_found_by_full_and_abbreviated_commit_ids(backend_runtime: Runtime) -> None:
    tasks = backend_runtime.coordinator
    tasks.record_task("auth/login", "code_generation", "started", commits=["3f2a9c1"])
    tasks.record_task("auth/logout", "code_generation", "complete", commits=[FULL_B, FULL_C[:20]])
    tasks.record_task("docs/readme", "docs", "complete")
    store = backend_runtime.store

    found = store.commit_records([FULL_A])
    assert [r.task_id for r in found] == ["auth/login"]
    both = store.commit_records([FULL_A, FULL_B, FULL_C])
    assert [r.task_id for r in both] == ["auth/logout", "auth/login"]  # newest first
    assert store.commit_records([OTHER]) == []
    assert store.commit_records([]) == []
    assert len(store.commit_records([FULL_A, FULL_B], limit=1)) == 1


@pytest.mark.parametrize("store_backend", ["sqlite"])
def test_the_embedded_store_reads_only_spans_that_name_commits(backend_runtime: Runtime) -> None:
    """The lookup stays cheap on a large store: the plan uses the partial index, not a table scan."""
    from otel_mcp.store.sqlite import SQLiteStore
    from otel_mcp.store.sqlite.queries import COMMIT_RECORDS_WHERE
    from otel_mcp.store.sqlite.rows import SELECT_SQL

    store = backend_runtime.store
    assert isinstance(store, SQLiteStore)
    sql = f"EXPLAIN QUERY PLAN {SELECT_SQL} WHERE {COMMIT_RECORDS_WHERE} ORDER BY start_ns DESC, seq DESC LIMIT 5"
    plan = " ".join(str(row[-1]) for row in store.raw().execute(sql, ['["' + FULL_A + '"]']).fetchall())
    assert "span_store_commits" in plan, plan

"""The embedded store's schema: the `span_store` table, its indexes, the `spans` view, and upgrades.

The version lives in `PRAGMA user_version`. Opening a file of an older version runs the steps from
that version on, then the whole schema script (every statement is IF NOT EXISTS); a file written by
a newer otel-mcp is refused rather than guessed at. `schema_problems` compares a file's schema with
this one, for `otel-mcp audit`: a writer of the file can add a trigger that alters spans as servers
store them, or replace the `spans` view every agent's SQL reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from otel_mcp.errors import StoreUnavailable

__all__ = ["SCHEMA_VERSION", "migrate", "schema_problems"]

SCHEMA_VERSION = 7

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
-- Decisions and evidence looked up by their signed task id, not by the task_id column derived from it
-- (a writer without the key could move a row to another task by rewriting that column).
CREATE INDEX IF NOT EXISTS span_store_signed_task ON span_store (
    json_extract(attributes, '$."task.id"'), name, start_ns
);
-- Signed spans by their writer's hash chain (tamper evidence: a missing number is a deleted row).
-- Audit spans are never signed and stay out of it; queries repeat these exact expressions.
CREATE INDEX IF NOT EXISTS span_store_chain ON span_store (
    json_extract(attributes, '$."otel_mcp.chain.writer"'), json_extract(attributes, '$."otel_mcp.chain.seq"')
) WHERE source != 'audit';
-- Records naming the commits a task produced (record_task's `commits`), for the git pre-push hook:
-- a partial index, so spans without commits cost one json_type per insert and are never scanned.
CREATE INDEX IF NOT EXISTS span_store_commits ON span_store (start_ns)
    WHERE json_type(attributes, '$."task.commits"') IS NOT NULL;
CREATE VIEW IF NOT EXISTS spans AS
    SELECT span_id, trace_id, parent_span_id, name, agent_id, task_id, task_type, task_status,
           task_parent_id, quality_score, source, status_code, start_time, end_time,
           (end_ns - start_ns) / 1e6 AS duration_ms, attributes
    FROM span_store;
"""


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


def migrate(
    db: sqlite3.Connection, path: Path, write: Callable[[], AbstractContextManager[sqlite3.Connection]]
) -> None:
    """Bring the file behind `db` to SCHEMA_VERSION; `write` opens the store's write transaction.

    Several processes may open a fresh file at once: the version is read again inside the write
    transaction, so only one of them creates or upgrades it.
    """
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(f"{path} was written by a newer otel-mcp (schema {version}); upgrade otel-mcp")
    with write():
        # Re-read inside the lock: another process may have migrated meanwhile.
        current = db.execute("PRAGMA user_version").fetchone()[0]
        if current < SCHEMA_VERSION:
            for step in range(current, SCHEMA_VERSION):
                for statement in _statements(_UPGRADES.get(step, "")):
                    db.execute(statement)
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _objects(db: sqlite3.Connection) -> dict[tuple[str, str], str]:
    rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall()
    return {(kind, name): " ".join(str(sql or "").split()) for kind, name, sql in rows}


def _expected() -> dict[tuple[str, str], str]:
    db = sqlite3.connect(":memory:")
    try:
        for statement in _statements(_SCHEMA):
            db.execute(statement)
        return _objects(db)
    finally:
        db.close()


def schema_problems(db: sqlite3.Connection, path: Path) -> list[str]:
    """How the schema of the file behind `db` differs from the one otel-mcp creates, each with what to do.

    Triggers, tables and views are compared by definition; indexes by name only (an index an older
    version made keeps its text), since a missing one only slows reads.
    """
    expected, actual = _expected(), _objects(db)
    recreate = (
        f"drop it and run `sqlite3 {path} 'PRAGMA user_version=0'`: the next otel-mcp process to open the store "
        "re-creates its schema"
    )
    out = []
    for (kind, name), sql in sorted(actual.items()):
        if (kind, name) not in expected:
            what = (
                "it runs on every write and can alter or delete spans as the servers store them"
                if kind == "trigger"
                else "otel-mcp never creates it"
            )
            out.append(f"the store has a {kind} '{name}' that is not otel-mcp's ({what}): drop it")
        elif kind != "index" and sql != expected[(kind, name)]:
            why = "every agent's query_spans reads it" if kind == "view" else "every server writes and reads it"
            out.append(f"the {kind} '{name}' was redefined ({why}): {recreate}")
    for kind, name in sorted(expected.keys() - actual.keys()):
        out.append(f"the {kind} '{name}' is missing: {recreate}")
    return out

"""The embedded store's schema: the `span_store` table, its indexes, the `spans` view, and upgrades.

The version lives in `PRAGMA user_version`; the `store_versions` table (schema 9) records which
otel-mcp versions wrote the file, and where rows written before signing existed (schema < 5) end.
The first writer of a newer version that opens a file of an older schema copies it aside
(`<name>.schema<N>.bak`), runs the steps from that version on, then the whole schema script
(every statement is IF NOT EXISTS), and says so once; readers never migrate. A file written by a
newer otel-mcp is refused rather than guessed at, naming the version that wrote it.
`schema_problems` compares a file's schema with this one, for `otel-mcp audit`: a writer of the
file can add a trigger that alters spans as servers store them, or replace the `spans` view every
agent's SQL reads.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from otel_mcp import __version__
from otel_mcp.errors import StoreUnavailable

__all__ = [
    "SCHEMA_VERSION",
    "SIGNED_SINCE_SCHEMA",
    "Legacy",
    "check_readable",
    "legacy_rows",
    "migrate",
    "schema_problems",
]

SCHEMA_VERSION = 9
# Task records are signed from schema 5 on (per-writer hash chains); rows of older files are not.
SIGNED_SINCE_SCHEMA = 5

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
-- Spans in a time window, newest first (the web pages' timeline and Now): without it every window
-- sorts the whole table.
CREATE INDEX IF NOT EXISTS span_store_start ON span_store (start_ns);
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
-- Which otel-mcp versions wrote this file (schema 9). from_schema: the file's schema when that version first
-- wrote it; legacy_until_seq: the last row written before signing existed, set when a file older
-- than SIGNED_SINCE_SCHEMA was upgraded (`otel-mcp audit` tells those rows from forged ones).
CREATE TABLE IF NOT EXISTS store_versions (
    version          TEXT NOT NULL,
    schema           INTEGER NOT NULL,
    first_write_ns   INTEGER NOT NULL,
    from_schema      INTEGER,
    legacy_until_seq INTEGER,
    PRIMARY KEY (version, schema)
);
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


def _writer_of(db: sqlite3.Connection) -> str:
    """The newest otel-mcp version recorded in the file, in words ('' when the file records none)."""
    try:
        row = db.execute(
            "SELECT version, schema FROM store_versions ORDER BY schema DESC, first_write_ns DESC"
        ).fetchone()
    except sqlite3.OperationalError:  # no such table: written before versions were recorded
        return ""
    return f"otel-mcp {row[0]}" if row else ""


def check_readable(db: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; StoreUnavailable naming who wrote it when it is newer than this otel-mcp's."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        writer = _writer_of(db) or "a newer otel-mcp"
        raise StoreUnavailable(
            f"{path} was written by {writer} (schema {version}); this is otel-mcp {__version__} (schema "
            f"{SCHEMA_VERSION}), which does not read newer schemas: upgrade otel-mcp to the version that wrote it"
        )
    return version


def migrate(
    db: sqlite3.Connection, path: Path, write: Callable[[], AbstractContextManager[sqlite3.Connection]]
) -> str | None:
    """Bring the file behind `db` to SCHEMA_VERSION and record this version as a writer; `write`
    opens the store's write transaction. Returns the one line to say when it upgraded a file.

    Several processes may open a fresh file at once: the version is read again inside the write
    transaction, so only one of them creates or upgrades it (and copies it aside).
    """
    version = check_readable(db, path)
    if version == SCHEMA_VERSION:
        known = db.execute("SELECT 1 FROM store_versions WHERE version = ? AND schema = ?", (__version__, version))
        if known.fetchone() is not None:
            return None  # the usual start: no write at all
    with write():
        # Re-read inside the lock: another process may have migrated meanwhile.
        current = db.execute("PRAGMA user_version").fetchone()[0]
        if current == SCHEMA_VERSION:
            db.execute(
                "INSERT OR IGNORE INTO store_versions (version, schema, first_write_ns) VALUES (?, ?, ?)",
                (__version__, SCHEMA_VERSION, time.time_ns()),
            )
            return None
        backup = _copy_aside(path, current) if current > 0 else None
        legacy = None
        if 0 < current < SIGNED_SINCE_SCHEMA:
            legacy = db.execute("SELECT max(seq) FROM span_store").fetchone()[0]
        for step in range(current, SCHEMA_VERSION):
            for statement in _statements(_UPGRADES.get(step, "")):
                db.execute(statement)
        for statement in _statements(_SCHEMA):
            db.execute(statement)
        db.execute(
            "INSERT OR IGNORE INTO store_versions (version, schema, first_write_ns, from_schema, legacy_until_seq) "
            "VALUES (?, ?, ?, ?, ?)",
            (__version__, SCHEMA_VERSION, time.time_ns(), current or None, legacy),
        )
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    if current == 0:
        return None
    return (
        f"upgraded the telemetry store {path} from schema {current} to {SCHEMA_VERSION} "
        f"(otel-mcp {__version__}); {backup}"
    )


def _copy_aside(path: Path, schema: int) -> str:
    """Copy the file as it is to `<name>.schema<N>.bak` (the caller holds the write lock); what happened, in words."""
    target = path.with_name(f"{path.name}.schema{schema}.bak")
    if target.exists():
        return f"the copy of schema {schema} already at {target} was kept, not overwritten"
    try:
        # Another connection reads while the caller holds the write lock: its snapshot is the file as it is.
        source = sqlite3.connect(path)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
            finally:
                copy.close()
        finally:
            source.close()
    except (OSError, sqlite3.Error) as exc:
        target.unlink(missing_ok=True)
        return f"NO copy of the previous file was kept ({exc}): older otel-mcp versions can no longer open it"
    return f"the previous file is kept at {target} for older otel-mcp versions"


@dataclass(frozen=True, slots=True)
class Legacy:
    """Rows written before signing existed, by span id, and the schema of the file they were written in."""

    span_ids: frozenset[str]
    schema: int | None  # None: upgraded before versions were recorded, so the exact schema is unknown


def legacy_rows(db: sqlite3.Connection) -> Legacy | None:
    """This file's task rows written before signing existed, if it has any.

    A file still of a schema before SIGNED_SINCE_SCHEMA (read, not upgraded): all of them. Upgraded
    from one: up to where the upgrade recorded. A file created by a version that records versions:
    none. A file upgraded before versions were recorded: the rows before its first chained (signed)
    span, if it has one (rows written later get higher numbers).
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    try:
        rows = db.execute("SELECT from_schema, legacy_until_seq FROM store_versions").fetchall()
    except sqlite3.OperationalError:  # no such table: a file older than schema 9
        rows = []
    marked = [(schema, until) for schema, until in rows if until is not None]
    schema: int | None
    if 0 < version < SIGNED_SINCE_SCHEMA:
        schema, until = version, db.execute("SELECT coalesce(max(seq), 0) FROM span_store").fetchone()[0]
    elif marked:
        schema, until = max(marked, key=lambda r: int(r[1]))
    elif any(from_schema is None for from_schema, _ in rows):
        return None  # created signed: no row of it predates signing
    else:
        first = db.execute(
            "SELECT min(seq) FROM span_store WHERE source != 'audit' "
            """AND json_extract(attributes, '$."otel_mcp.chain.writer"') IS NOT NULL"""
        ).fetchone()[0]
        if first is None:
            return None  # nothing signed to tell old rows from new ones by
        schema, until = None, int(first) - 1
    ids = db.execute("SELECT span_id FROM span_store WHERE source = 'agent' AND seq BETWEEN 1 AND ?", (until,))
    found = frozenset(str(r[0]) for r in ids)
    return Legacy(found, schema) if found else None


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
    # A file read as an older otel-mcp left it: its upgrade drops old indexes and adds what is missing.
    older = db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION
    for (kind, name), sql in sorted(actual.items()):
        if (kind, name) not in expected:
            if older and kind == "index":
                continue
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
        if older:
            break
        out.append(f"the {kind} '{name}' is missing: {recreate}")
    return out

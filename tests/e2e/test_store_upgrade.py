"""Stores written by every earlier schema that landed on main, opened by this otel-mcp.

Each store is made once in set-up by the real code of its commit (`git archive` of the package into
a temp dir, run with this venv's python), and each test works on a copy: nothing binary is kept in
git. Read-only commands must leave them byte for byte as they were; the first writer upgrades,
keeps a copy and says so once; `audit` tells rows written before signing from forged ones.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from otel_mcp.store.sqlite import SQLiteStore
from otel_mcp.store.sqlite.schema import SCHEMA_VERSION
from tests.conftest import REPO
from tests.support.forkserver import server_command

# The commit that last set each schema version on main (git log -- otel_mcp/store/sqlite/schema.py
# and, before it was a package, otel_mcp/store/sqlite.py).
SCHEMA_COMMITS = {
    1: "e681512",
    2: "0e79be8",
    3: "21287d6",
    4: "54a71c4",
    5: "b12dd44",
    6: "8725718",
    7: "22551ef",
    8: "f89638b",
}

_WRITE = """
import sys
from otel_mcp.store.sqlite import SQLiteStore
from otel_mcp.model import SpanRecord
store = SQLiteStore(sys.argv[1])
store.export([
    SpanRecord(span_id=f"{i + 1:016x}", trace_id="ab" * 16, parent_span_id=None, name="build_complete",
               start_ns=1_700_000_000_000_000_000 + i, end_ns=1_700_000_000_000_000_001 + i,
               attributes={"task.id": f"old/{i}", "task.type": "build", "task.status": "complete",
                           "otel_mcp.source": "agent", "gen_ai.agent.id": "old-agent"})
    for i in range(3)
])
(store.shutdown if hasattr(store, "shutdown") else store.close)()
"""


@pytest.fixture(scope="module")
def old_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A store written by each earlier schema's commit (its package extracted from git), made once: tests copy it."""
    out = {}
    for schema, commit in SCHEMA_COMMITS.items():
        code = tmp_path_factory.mktemp(f"schema{schema}")
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", commit, "otel_mcp"], check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(code, filter="data")
        db = code / "store" / "telemetry.db"
        db.parent.mkdir()
        env = {**os.environ, "PYTHONPATH": str(code)}
        subprocess.run([sys.executable, "-c", _WRITE, str(db)], check=True, env=env, cwd=db.parent, timeout=60)
        assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == schema
        out[schema] = db.parent
    return out


def _old_store(written: Path, db: Path) -> Path:
    """A copy of the store an earlier schema wrote (every file of it: the database, its WAL if any)."""
    for path in written.iterdir():
        shutil.copyfile(path, db.with_name(path.name.replace("telemetry.db", db.name)))
    return db


def _digest(db: Path) -> str:
    """The database and its WAL, byte for byte (a WAL a reader opens empty holds nothing: as none)."""
    return "".join(
        hashlib.sha256(p.read_bytes() if p.exists() else b"").hexdigest() for p in (db, db.with_name(db.name + "-wal"))
    )


def _cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OTEL_MCP_DB": str(db),
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_WORKSPACE": str(db.parent),
        # Old stores written without a server have no key file; audit needs one to check signatures.
        "OTEL_MCP_ATTESTATION_KEY": "k" * 40,
    }
    # Forked from the worker's zygote (`tests.support.forkserver`): each command is still a process of
    # its own on the store, without a second of imports.
    return subprocess.run(server_command(args, env), env=env, cwd=db.parent, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("schema", sorted(SCHEMA_COMMITS))
def test_read_only_commands_leave_an_older_store_as_it_was(
    schema: int, old_stores: dict[int, Path], tmp_path: Path
) -> None:
    db = _old_store(old_stores[schema], tmp_path / "telemetry.db")
    before = _digest(db)
    for args in (["audit"], ["trace", "old/0"], ["report"]):
        result = _cli(db, *args)
        assert "Traceback" not in result.stderr, result.stderr[-600:]
    assert _digest(db) == before
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == schema
    assert not list(tmp_path.glob("*.bak"))


@pytest.mark.parametrize("schema", sorted(SCHEMA_COMMITS))
def test_the_first_writer_upgrades_an_older_store_keeps_a_copy_and_says_so_once(
    schema: int, old_stores: dict[int, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = _old_store(old_stores[schema], tmp_path / "telemetry.db")
    with caplog.at_level(logging.WARNING):
        store = SQLiteStore(db)
        assert store.count() == 3
        store.shutdown()
        SQLiteStore(db).shutdown()
    notes = [r.getMessage() for r in caplog.records if "upgraded the telemetry store" in r.getMessage()]
    backup = db.with_name(f"telemetry.db.schema{schema}.bak")
    assert len(notes) == 1 and f"from schema {schema} to {SCHEMA_VERSION}" in notes[0] and str(backup) in notes[0]
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == schema
    assert sqlite3.connect(backup).execute("SELECT count(*) FROM span_store").fetchone()[0] == 3
    written = sqlite3.connect(db).execute("SELECT version, schema, from_schema FROM store_versions").fetchall()
    assert [(s, f) for _, s, f in written] == [(SCHEMA_VERSION, schema)]


@pytest.mark.parametrize("schema", [s for s in SCHEMA_COMMITS if s < 5])
def test_audit_tells_rows_written_before_signing_from_forged_ones(
    schema: int, old_stores: dict[int, Path], tmp_path: Path
) -> None:
    db = _old_store(old_stores[schema], tmp_path / "telemetry.db")
    result = _cli(db, "audit", "--json")  # read-only, on the store as the old version left it
    assert result.returncode == 3, result.stderr
    assert json.loads(result.stdout)["legacy"] == 3
    SQLiteStore(db).shutdown()  # a writer upgrades it
    result = _cli(db, "audit")
    assert result.returncode == 3, result.stderr
    assert f"3 task record(s) written before signing existed, by otel-mcp of schema {schema}" in result.stderr
    assert "problem:" not in result.stdout
    # A row slipped in after the upgrade is forged, whatever it claims.
    old = sqlite3.connect(db)
    old.execute(
        "INSERT INTO span_store (span_id, trace_id, name, kind, source, status_code, start_ns, end_ns, start_time, "
        "end_time, attributes, resource, task_id) SELECT 'f0f0f0f0f0f0f0f0', trace_id, name, kind, source, "
        "status_code, start_ns, end_ns, start_time, end_time, attributes, resource, task_id FROM span_store LIMIT 1"
    )
    old.commit()
    result = _cli(db, "audit")
    assert result.returncode == 1 and "f0f0f0f0f0f0f0f0" in result.stdout and "forged" in result.stdout


def test_audit_exit_statuses_are_documented_in_its_help() -> None:
    text = _cli(Path(REPO / "nothing.db"), "audit", "--help").stdout
    for line in ("0  OK", "3  OK with legacy rows", "1  NOT OK"):
        assert line in text


def test_a_store_of_a_newer_schema_is_refused_naming_the_version_that_wrote_it(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    SQLiteStore(db).shutdown()
    newer = sqlite3.connect(db)
    newer.execute("INSERT INTO store_versions VALUES ('9.4.1', 99, 1, NULL, NULL)")
    newer.execute("PRAGMA user_version=99")
    newer.commit()
    newer.close()
    result = _cli(db, "trace", "x")
    assert "written by otel-mcp 9.4.1 (schema 99)" in result.stderr + result.stdout

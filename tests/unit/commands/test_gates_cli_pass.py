"""`otel-mcp gates submit` and `otel-mcp gates run`: a person at a terminal passes a gate as an agent does.

Real processes over a real store, the shipped lint gate (real ruff) and a `ship` gate that requires
it. The decisions are the tools' own: signed, verified by `gates status`, and audited.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.evidence import cli as terminal
from tests.support.git_hooks import CLEAN, SHIP_GATE


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO / "gates", root / "gates")
    (root / "gates" / "ship.yaml").write_text(SHIP_GATE)
    (root / "app.py").write_text(CLEAN)
    return root


def cli(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return terminal(*args, cwd=workspace, env={"OTEL_MCP_WORKSPACE": str(workspace)}, timeout=180)


def test_gates_submit_passes_a_gate_on_a_checks_span_and_refuses_a_made_up_one(workspace: Path) -> None:
    made_up = cli(workspace, "gates", "submit", "lint", "--task", "T", "--evidence", "ruff_lint=00f067aa0ba902b7")
    assert made_up.returncode == 1 and "FAIL  gate lint for T" in made_up.stdout
    assert "00f067aa0ba902b7" in made_up.stdout and "next:" in made_up.stdout

    run = cli(workspace, "run", "ruff", "--task", "T")
    assert run.returncode == 0, run.stderr
    span_id = run.stdout.split("span_id=", 1)[1].split()[0]
    passed = cli(workspace, "gates", "submit", "lint", "--task", "T", "--evidence", f"ruff_lint={span_id}")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS  gate lint for T" in passed.stdout
    verified = cli(workspace, "gates", "status", "lint", "--task", "T")
    assert verified.returncode == 0 and "PASS  gate lint for T" in verified.stdout  # signed: it verifies

    # Same rules as the tool: the code changed since the check ran, so that span no longer passes it.
    (workspace / "app.py").write_text(CLEAN + "\nX = 1\n")
    stale = cli(workspace, "gates", "submit", "lint", "--task", "T", "--evidence", f"ruff_lint={span_id}")
    assert stale.returncode == 1 and "FAIL  gate lint for T" in stale.stdout

    # Each command leaves an audit record, as a tool call does.
    db = workspace / ".otel-mcp" / "telemetry.db"
    with sqlite3.connect(db) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM spans WHERE name LIKE 'cli gates %'")]
    assert names.count("cli gates submit") == 3


def test_gates_run_runs_the_checks_passes_the_required_gate_first_then_the_gate(workspace: Path) -> None:
    done = cli(workspace, "gates", "run", "ship", "--task", "T")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ran check lint_complete: span_id=")
    assert lines[1].startswith("PASS  gate lint for T") and lines[2].startswith("PASS  gate ship for T")
    assert cli(workspace, "gates", "status", "--task", "T", "ship").returncode == 0

    (workspace / "app.py").write_text("import os\n")  # an unused import: ruff reports F401
    failed = cli(workspace, "gates", "run", "ship", "--task", "T")
    assert failed.returncode == 1
    assert "FAIL  gate lint for T" in failed.stdout and "gate ship" not in failed.stdout  # stopped at lint


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("gates", "submit", "lint", "--task", "T", "--evidence", "=00f067aa0ba902b7"), "--evidence: '=00f067"),
        (("gates", "run", "lint", "--task", "T", "--evidence", "00f067aa0ba902b7"), "is not REQ=SPAN_ID"),
        (("gates", "run", "nope", "--task", "T"), "nope"),
        (("gates", "submit", "lint", "--task", "bad task"), "task"),
    ],
)
def test_bad_arguments_are_refused_by_name_and_record_nothing(
    workspace: Path, args: tuple[str, ...], said: str
) -> None:
    done = cli(workspace, *args)
    assert done.returncode == 2 and said in done.stderr, done.stderr
    db = workspace / ".otel-mcp" / "telemetry.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM spans WHERE name = 'gate_decision'").fetchone() == (0,)

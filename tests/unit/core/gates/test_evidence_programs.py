"""Programs the workspace cannot shadow (issue 10): fake tools earlier on PATH, modules named like the tool.

An agent (or anyone who can write `~/.local/bin`) puts a `bandit`, `python`, `git`, `ruff` and
`pytest` that report a clean run first on PATH; the server started with that PATH, and the CLI run
with it, must still run the real tools and record the real program's absolute path and digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import call
from tests.support.evidence import (
    VULNERABLE_APP,
    cli,
    make_workspace,
    reasons,
    run_check,
    serve,
    span_attributes,
    submit,
)

pytestmark = pytest.mark.anyio

CLEAN_REPORT = (
    '{"results": [], "errors": [], "metrics": {"_totals": {"loc": 100, "SEVERITY.HIGH": 0, '
    '"SEVERITY.MEDIUM": 0, "SEVERITY.LOW": 0}}}'
)
FAKES = ("bandit", "python", "python3", "git", "ruff", "pytest")


def _fake_bin(folder: Path) -> str:
    """A folder of fake tools that print a clean bandit report and exit 0; returns PATH with it first."""
    folder.mkdir()
    for name in FAKES:
        (folder / name).write_text(f"#!/bin/sh\necho '{CLEAN_REPORT}'\nexit 0\n")
        (folder / name).chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def _real_python() -> tuple[str, str]:
    digest = hashlib.sha256(Path(os.path.realpath(sys.executable)).read_bytes()).hexdigest()
    return sys.executable, digest


async def test_fake_tools_first_on_the_servers_path_are_not_used(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": VULNERABLE_APP})
    db = tmp_path / "store" / "telemetry.db"
    path = _fake_bin(tmp_path / "fake-bin")
    async with serve(ws, db, PATH=path) as client:
        listing = await call(client, "list_gates")  # read from git HEAD with the real git
        assert listing["source"] == "commit" and not listing["problems"]
        scan = await run_check(client, "bandit", "P")
        assert scan["attributes"]["vulnerabilities.critical"] == 1
        decision = await submit(client, "security", "P", scan["span_id"])
        assert decision["decision"] == "fail" and "vulnerabilities.critical is 1" in reasons(decision)
    attrs = span_attributes(db, scan["span_id"])
    program, digest = _real_python()
    assert attrs["process.executable.path"] == program and attrs["otel_mcp.program.sha256"] == digest
    assert attrs["otel_mcp.runner"] == "server"


def test_the_cli_with_a_prepended_path_runs_the_real_tools(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": VULNERABLE_APP})
    db = tmp_path / "store" / "telemetry.db"
    env = {"PATH": _fake_bin(tmp_path / "fake-bin"), "OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws)}
    done = cli("run", "bandit", "--task", "P", "--json", cwd=ws, env=env)
    assert done.returncode == 1, done.stderr  # bandit's own exit code: it found something
    result = json.loads(done.stdout)
    assert result["attributes"]["vulnerabilities.critical"] == 1
    attrs = span_attributes(db, result["span_id"])
    program, digest = _real_python()
    assert attrs["process.executable.path"] == program and attrs["otel_mcp.program.sha256"] == digest
    assert attrs["otel_mcp.runner"] == "cli" and attrs["otel_mcp.gates.source"] == "commit"

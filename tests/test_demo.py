"""The README's first command: real agent processes, real checks, gates that fail then pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_mcp.commands._demo_agents import run_demo
from otel_mcp.core.report import build_report
from otel_mcp.store.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.anyio
async def test_the_demo_fails_the_security_gate_first_and_passes_everything_after_the_fix(tmp_path: Path) -> None:
    lines: list[tuple[str, str]] = []
    result = await run_demo(tmp_path / "ws", lambda agent, text: lines.append((agent, text)), timeout_s=90)
    assert result.first_attempts == {"security": "fail", "tests": "pass", "release": "pass"}
    assert result.final == {"security": "pass", "tests": "pass", "release": "pass"}
    assert {agent for agent, _ in lines} >= {"planner", "coder", "tester", "security"}
    first_failure = next(d for d in result.decisions if d["decision"] == "fail")
    assert any("vulnerabilities.high" in r for r in first_failure["reasons"])

    store = SQLiteStore(result.db_path)
    try:
        report = build_report(store)
    finally:
        store.shutdown()
    gates = {g.gate: g for g in report.gates}
    assert gates["security"].first_attempts == 1 and gates["security"].first_attempt_passes == 0
    assert gates["tests"].first_attempt_passes == 1
    agents = {a.agent_id for a in report.agents}
    assert agents == {"planner", "coder", "tester", "security"}


def test_otel_mcp_demo_exits_zero_and_prints_the_timeline_and_report(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "demo", "--workspace", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "=== Timeline per agent ===" in out and "=== Report ===" in out
    assert "gate security attempt 1: FAIL" in out and "gate security attempt 2: PASS" in out
    assert "first attempts: release pass, security fail, tests pass" in out

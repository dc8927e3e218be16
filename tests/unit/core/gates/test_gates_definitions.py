"""Which definition decided: report and trace flag decisions under another one; uncommitted edits are said.

Real gate files, a real git repository for the committed case, and the real CLI for report and trace.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.server import create_server
from tests.conftest import call, make_runtime
from tests.support.evidence import workspace_cli

pytestmark = pytest.mark.anyio

GATE = """\
gates:
  - name: reviewed
    requirements:
      - {name: review, span_name: review_complete%s}
"""


async def _pass(workspace: Path) -> str:
    runtime = make_runtime(workspace / ".otel-mcp" / "telemetry.db", gates_dir=workspace / "gates", workspace=workspace)
    try:
        async with Client(create_server(runtime)) as client:
            review = await call(client, "record_task", task_id="T", task_type="review", status="complete")
            decision = await call(
                client, "submit_gate_evidence", gate="reviewed", task_id="T", evidence=[review["span_id"]]
            )
            assert decision["decision"] == "pass", decision
            return str(decision["decision_span_id"])
    finally:
        runtime.close()


async def test_report_and_trace_flag_a_decision_taken_under_a_definition_no_longer_in_force(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "gates").mkdir(parents=True)
    (workspace / "gates" / "g.yaml").write_text(GATE % "")
    decision_id = await _pass(workspace)
    clean = workspace_cli(workspace, "report")
    assert clean.returncode == 0 and "another definition" not in clean.stdout

    # The gate is tightened after it passed: that pass speaks for a definition no longer in force.
    (workspace / "gates" / "g.yaml").write_text(GATE % ", where: {quality.score: '>= 0.9'}")
    report = workspace_cli(workspace, "report")
    assert (
        f"! reviewed for T: latest decision (pass, {decision_id}) was taken under another definition" in report.stdout
    )
    as_json = json.loads(workspace_cli(workspace, "report", "--json").stdout)
    assert as_json["gates"][0]["other_definition"] == 1
    assert as_json["other_definitions"][0]["span_id"] == decision_id
    trace = workspace_cli(workspace, "trace", "T")
    assert (
        trace.returncode == 0
        and "! taken under another definition of the gate than the one in force now" in trace.stdout
    )


async def test_a_decision_says_which_gate_edits_are_not_in_force_until_committed(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "gates").mkdir(parents=True)
    (workspace / "gates" / "g.yaml").write_text(GATE % "")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "gates"]):
        subprocess.run([*git, *step], cwd=workspace, check=True, capture_output=True)
    (workspace / "gates" / "g.yaml").write_text(GATE % ", where: {never: exists}")  # uncommitted: not in force
    runtime = make_runtime(workspace / ".otel-mcp" / "telemetry.db", gates_dir=workspace / "gates", workspace=workspace)
    try:
        async with Client(create_server(runtime)) as client:
            review = await call(client, "record_task", task_id="T", task_type="review", status="complete")
            decision = await call(
                client, "submit_gate_evidence", gate="reviewed", task_id="T", evidence=[review["span_id"]]
            )
    finally:
        runtime.close()
    assert decision["decision"] == "pass"  # the committed definition decided
    assert decision["notes"] == ["gates/g.yaml has uncommitted changes, which are not in force until committed"]

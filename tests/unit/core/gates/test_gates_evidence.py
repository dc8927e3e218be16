"""submit_gate_evidence through the official MCP client: every way evidence must be rejected, and passing.

The gates here are written per test into a temporary directory. The `scan` check is a real command
(the server's Python printing a JSON file the test controls), so its runner spans are real,
attested evidence, produced in milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime

HOUR_NS = 3600 * 10**9

GATES = """\
checks:
  scan:
    span_name: scan_complete
    command: ["{python}", "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", "{target}"]
    target: "%(scan_json)s"
    attributes:
      vulnerabilities.high: "json:/high"
      findings: "count:/findings"
  broken:
    span_name: scan_complete
    command: ["{python}", "-c", "import sys; sys.exit(3)"]

gates:
  - name: scanned
    requirements:
      - name: scan
        span_name: scan_complete
        check: scan
        sources: [runner]
        attested: true
        where: {vulnerabilities.high: 0}
        newer_than: code_generation_complete
  - name: numbers
    requirements:
      - name: metrics
        span_name: metrics_complete
        where: {count: "> 9"}
  - name: fresh
    requirements:
      - name: review
        span_name: review_complete
        status: ok
        max_age: 1h
  - name: shipped
    requires_gates: [scanned]
  - name: pair
    requirements:
      - {name: metrics, span_name: metrics_complete}
      - {name: review, span_name: review_complete}
"""


@pytest.fixture
def scan_json(tmp_path: Path) -> Path:
    path = tmp_path / "scan.json"
    path.write_text(json.dumps({"high": 0, "findings": []}))
    return path


@pytest.fixture
def gate_runtime(tmp_path: Path, scan_json: Path) -> Iterator[Runtime]:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir()
    (gates_dir / "test.yaml").write_text(GATES % {"scan_json": scan_json})
    rt = make_runtime(tmp_path / "telemetry.db", gates_dir=gates_dir)
    yield rt
    rt.close()


@pytest.fixture
async def gc(gate_runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(gate_runtime)) as c:
        yield c


async def _scan(client: Client, task: str, scan_json: Path, high: int = 0) -> str:
    scan_json.write_text(json.dumps({"high": high, "findings": [{"id": i} for i in range(high)]}))
    run = await call(client, "run_check", check="scan", task_id=task)
    assert run["ok"], run
    return run["span_id"]


async def _submit(client: Client, gate: str, task: str, *span_ids: str, **named: str) -> dict[str, Any]:
    evidence: list[dict[str, str]] = [{"span_id": s} for s in span_ids]
    evidence += [{"requirement": r, "span_id": s} for r, s in named.items()]
    return await call(client, "submit_gate_evidence", gate=gate, task_id=task, evidence=evidence)


def _reasons(decision: dict[str, Any]) -> str:
    assert decision["decision"] == "fail", decision
    return " | ".join(decision["reasons"])


# -- passing ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_fresh_attested_scan_passes_the_gate_on_the_first_attempt(gc: Client, scan_json: Path) -> None:
    await call(gc, "record_task", task_id="T1", task_type="code_generation", status="complete")
    span_id = await _scan(gc, "T1", scan_json)
    decision = await _submit(gc, "scanned", "T1", scan=span_id)
    assert decision["decision"] == "pass" and decision["attempt"] == 1 and decision["reasons"] == []
    assert decision["requirements"] == [{"requirement": "scan", "passed": True, "span_id": span_id}]


@pytest.mark.anyio
async def test_citations_without_requirement_names_are_matched_to_requirements(gc: Client) -> None:
    metrics = await call(gc, "record_task", task_id="T", task_type="metrics", status="complete")
    review = await call(gc, "record_task", task_id="T", task_type="review", status="complete")
    decision = await _submit(gc, "pair", "T", review["span_id"], metrics["span_id"])
    assert decision["decision"] == "pass"
    assert {r["requirement"]: r["span_id"] for r in decision["requirements"]} == {
        "metrics": metrics["span_id"],
        "review": review["span_id"],
    }


@pytest.mark.anyio
async def test_a_bare_list_of_span_ids_is_accepted_as_evidence(gc: Client) -> None:
    metrics = await call(
        gc, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": 10}
    )
    decision = await call(gc, "submit_gate_evidence", gate="numbers", task_id="T", evidence=[metrics["span_id"]])
    assert decision["decision"] == "pass"


@pytest.mark.anyio
async def test_every_decision_is_a_span_and_attempts_count_up(gc: Client, gate_runtime: Runtime) -> None:
    first = await _submit(gc, "numbers", "T", "00f067aa0ba902b7")
    metrics = await call(
        gc, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": 12}
    )
    second = await _submit(gc, "numbers", "T", metrics=metrics["span_id"])
    assert (first["attempt"], first["decision"]) == (1, "fail")
    assert (second["attempt"], second["decision"]) == (2, "pass")
    span = gate_runtime.store.get_spans([second["decision_span_id"]])[second["decision_span_id"]]
    assert span.name == "gate_decision" and span.status_code == "Ok"
    assert span.attributes[ATTR_SOURCE] == "gate" and span.attributes[ATTR_TASK_ID] == "T"
    assert span.attributes["otel_mcp.gate"] == "numbers"
    assert span.attributes["otel_mcp.gate.attempt"] == 2
    assert span.attributes["otel_mcp.gate.decision"] == "pass"
    assert span.attributes["otel_mcp.gate.evidence"] == (metrics["span_id"],)
    assert gate_runtime.telemetry.attestor.verify(span)
    failed = gate_runtime.store.get_spans([first["decision_span_id"]])[first["decision_span_id"]]
    reasons = failed.attributes["otel_mcp.gate.reasons"]
    assert failed.status_code == "Error" and isinstance(reasons, tuple) and "does not exist" in str(reasons[0])
    # The decision joins the task's trace.
    assert span.trace_id == metrics["trace_id"]


@pytest.mark.anyio
async def test_the_first_attempt_pass_rate_can_be_queried_from_decision_spans(gc: Client) -> None:
    metrics = await call(
        gc, "record_task", task_id="A", task_type="metrics", status="complete", attributes={"count": 10}
    )
    await _submit(gc, "numbers", "A", metrics=metrics["span_id"])
    await _submit(gc, "numbers", "B", metrics="00f067aa0ba902b7")
    sql = (
        "SELECT json_extract(attributes, '$.\"otel_mcp.gate\"') AS gate, "
        "avg(json_extract(attributes, '$.\"otel_mcp.gate.decision\"') = 'pass') AS first_pass_rate "
        "FROM spans WHERE source = 'gate' AND name = 'gate_decision' "
        "AND json_extract(attributes, '$.\"otel_mcp.gate.attempt\"') = 1 GROUP BY gate"
    )
    result = await call(gc, "query_spans", sql=sql)
    assert result["rows"] == [["numbers", 0.5]]


# -- every rejection ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_span_that_does_not_exist_is_rejected(gc: Client) -> None:
    reasons = _reasons(await _submit(gc, "numbers", "T", metrics="00f067aa0ba902b7"))
    assert "span 00f067aa0ba902b7 does not exist in the store" in reasons and "never invent" in reasons


@pytest.mark.anyio
async def test_a_malformed_span_id_is_rejected(gc: Client) -> None:
    reasons = _reasons(await _submit(gc, "numbers", "T", metrics="span-1"))
    assert "evidence[0].span_id must be 16 lowercase hex characters" in reasons


@pytest.mark.anyio
async def test_a_span_with_the_wrong_name_is_rejected(gc: Client) -> None:
    review = await call(gc, "record_task", task_id="T", task_type="review", status="complete")
    reasons = _reasons(await _submit(gc, "numbers", "T", metrics=review["span_id"]))
    assert f"span {review['span_id']} is named 'review_complete'" in reasons
    assert "needs a span named 'metrics_complete'" in reasons
    assert "record_task(task_type='metrics', status='complete'" in reasons


@pytest.mark.anyio
async def test_a_failing_predicate_is_rejected_and_numbers_compare_as_numbers(gc: Client) -> None:
    low = await call(gc, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": "8"})
    reasons = _reasons(await _submit(gc, "numbers", "T", metrics=low["span_id"]))
    assert "count is 8, but the requirement is count > 9" in reasons
    # As text "10" < "9"; as numbers 10 > 9, which is what the gate means.
    ten = await call(gc, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": "10"})
    assert (await _submit(gc, "numbers", "T", metrics=ten["span_id"]))["decision"] == "pass"


@pytest.mark.anyio
async def test_a_span_with_a_failed_status_is_rejected(gc: Client, gate_runtime: Runtime) -> None:
    record = gate_runtime.telemetry.spans.emit(
        "review_complete", {ATTR_TASK_ID: "T", ATTR_SOURCE: "agent"}, error="reviewer crashed"
    )
    reasons = _reasons(await _submit(gc, "fresh", "T", review=record.span_id))
    assert f"span {record.span_id} has status Error (reviewer crashed)" in reasons


@pytest.mark.anyio
async def test_a_check_whose_command_failed_cannot_be_evidence(gc: Client) -> None:
    run = await call(gc, "run_check", check="broken", task_id="T")
    assert not run["ok"] and run["exit_code"] == 3 and "exited with code 3" in run["errors"][0]
    reasons = _reasons(await _submit(gc, "scanned", "T", scan=run["span_id"]))
    assert "has status Error" in reasons and "produced by check 'broken', not by run_check('scan')" in reasons


@pytest.mark.anyio
async def test_status_ok_rejects_a_span_whose_status_is_unset(gc: Client, gate_runtime: Runtime) -> None:
    unset = gate_runtime.telemetry.spans.emit("review_complete", {ATTR_TASK_ID: "T", ATTR_SOURCE: "agent"})
    reasons = _reasons(await _submit(gc, "fresh", "T", review=unset.span_id))
    assert f"span {unset.span_id} has status Unset; requirement 'review' needs status Ok" in reasons
    done = await call(gc, "record_task", task_id="T", task_type="review", status="complete")
    assert (await _submit(gc, "fresh", "T", review=done["span_id"]))["decision"] == "pass"


@pytest.mark.anyio
async def test_evidence_recorded_for_another_task_is_rejected(gc: Client, scan_json: Path) -> None:
    other = await _scan(gc, "other-task", scan_json)
    reasons = _reasons(await _submit(gc, "scanned", "T", scan=other))
    assert f"span {other} was recorded for task 'other-task', not for 'T'" in reasons


@pytest.mark.anyio
async def test_stale_evidence_is_rejected(gc: Client, gate_runtime: Runtime) -> None:
    old = gate_runtime.telemetry.spans.emit(
        "review_complete", {ATTR_TASK_ID: "T", ATTR_SOURCE: "agent"}, ok=True, start_ns=time.time_ns() - 2 * HOUR_NS
    )
    reasons = _reasons(await _submit(gc, "fresh", "T", review=old.span_id))
    assert f"span {old.span_id} is 2.0h old; requirement 'review' accepts evidence at most 1h old" in reasons


@pytest.mark.anyio
async def test_evidence_older_than_the_tasks_last_code_change_is_rejected(gc: Client, scan_json: Path) -> None:
    scan = await _scan(gc, "T", scan_json)
    change = await call(gc, "record_task", task_id="T", task_type="code_generation", status="complete")
    reasons = _reasons(await _submit(gc, "scanned", "T", scan=scan))
    assert (
        f"span {scan} started before the task's latest 'code_generation_complete' span ({change['span_id']}" in reasons
    )
    rescan = await _scan(gc, "T", scan_json)
    assert (await _submit(gc, "scanned", "T", scan=rescan))["decision"] == "pass"


@pytest.mark.anyio
async def test_an_agents_own_record_is_rejected_where_runner_evidence_is_required(gc: Client) -> None:
    own = await call(
        gc, "record_task", task_id="T", task_type="scan", status="complete", attributes={"vulnerabilities.high": 0}
    )
    assert own["name"] == "scan_complete"
    reasons = _reasons(await _submit(gc, "scanned", "T", scan=own["span_id"]))
    assert f"span {own['span_id']} is an agent's own record (record_task)" in reasons
    assert "accepts only evidence from the server's check runner" in reasons
    assert "run run_check('scan', task_id)" in reasons


@pytest.mark.anyio
async def test_record_task_cannot_forge_provenance_attributes(gc: Client) -> None:
    error = await call_error(
        gc, "record_task", task_id="T", task_type="scan", status="complete", attributes={"otel_mcp.source": "runner"}
    )
    assert "'otel_mcp.*' attributes are set by the server" in error


@pytest.mark.anyio
async def test_a_runner_span_altered_in_the_database_is_rejected(
    gc: Client, gate_runtime: Runtime, scan_json: Path
) -> None:
    span_id = await _scan(gc, "T", scan_json, high=2)
    assert "vulnerabilities.high is 2" in _reasons(await _submit(gc, "scanned", "T", scan=span_id))
    db = gate_runtime.store.raw()  # type: ignore[attr-defined]
    db.execute(
        "UPDATE span_store SET attributes = json_set(attributes, '$.\"vulnerabilities.high\"', 0) WHERE span_id = ?",
        (span_id,),
    )
    reasons = _reasons(await _submit(gc, "scanned", "T", scan=span_id))
    assert f"span {span_id} fails attestation: the attestation does not verify" in reasons
    assert "vulnerabilities.high" not in reasons  # the predicate itself now holds: only the signature catches it


@pytest.mark.anyio
async def test_an_unmet_required_gate_is_rejected(gc: Client, scan_json: Path) -> None:
    reasons = _reasons(await _submit(gc, "shipped", "T"))
    assert "gate 'shipped' requires gate 'scanned' to pass first for task 'T', and it has no decision" in reasons
    await _submit(gc, "scanned", "T", scan="00f067aa0ba902b7")
    assert "its latest decision" in _reasons(await _submit(gc, "shipped", "T"))
    await _submit(gc, "scanned", "T", scan=await _scan(gc, "T", scan_json))
    assert (await _submit(gc, "shipped", "T"))["decision"] == "pass"


@pytest.mark.anyio
async def test_an_unknown_gate_is_a_tool_error_naming_the_gates_that_exist(gc: Client) -> None:
    error = await call_error(gc, "submit_gate_evidence", gate="deploy", task_id="T", evidence=[])
    assert "gate 'deploy' is not defined; the gates are: fresh, numbers, pair, scanned, shipped" in error


@pytest.mark.anyio
async def test_a_citation_for_an_unknown_requirement_is_rejected(gc: Client) -> None:
    metrics = await call(
        gc, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": 10}
    )
    reasons = _reasons(await _submit(gc, "numbers", "T", metric=metrics["span_id"]))
    assert (
        "names requirement 'metric', but gate 'numbers' has no such requirement; its requirements are: metrics"
        in reasons
    )


@pytest.mark.anyio
async def test_no_evidence_fails_every_requirement_with_how_to_produce_it(gc: Client) -> None:
    decision = await _submit(gc, "scanned", "T")
    (result,) = decision["requirements"]
    assert not result["passed"] and "run run_check('scan', task_id)" in result["reasons"][0]
    assert "produced by run_check('scan')" in result["expects"]
    assert "submit_gate_evidence again" in decision["next_step"]


@pytest.mark.anyio
async def test_a_gate_in_a_broken_file_says_an_admin_must_fix_it(gc: Client, gate_runtime: Runtime) -> None:
    directory = gate_runtime.catalog_loader.directory
    assert directory is not None
    (directory / "broken.yaml").write_text("gates:\n  - name: deploy\n    requirements: [{name: r}]\n")
    error = await call_error(gc, "submit_gate_evidence", gate="deploy", task_id="T", evidence=[])
    assert "gate 'deploy' is defined but could not be loaded" in error and "broken.yaml" in error
    listing = await call(gc, "list_gates")
    assert any("broken.yaml" in p and "span_name" in p for p in listing["problems"])
    assert "scanned" in [g["name"] for g in listing["gates"]]

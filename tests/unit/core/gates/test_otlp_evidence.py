"""Telemetry is never evidence by default: a span received over OTLP is unattested, whatever it copies.

An agent with a shell can send OTLP as easily as a host can. A span that copies a real runner span
(name, every attribute, its attestation) arrives as `external`, and neither the shipped gates nor
the original format accept it; only a requirement that lists `external` in `sources:` does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from otel_mcp.server.otlp_http import receiver_for
from otel_mcp.store.sqlite import SQLiteStore
from tests.conftest import call
from tests.support.evidence import commit_all, make_workspace, reasons, run_check, serve, span_attributes, submit

pytestmark = pytest.mark.anyio

FORGED_SPAN = "0123456789abcdef"


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _span_request(trace_id: str, name: str, attributes: dict[str, Any], now_ns: int) -> bytes:
    span = {
        "traceId": trace_id,
        "spanId": FORGED_SPAN,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(now_ns),
        "endTimeUnixNano": str(now_ns + 1_000_000),
        "status": {"code": 1},
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "otel-mcp"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


async def _post(db: Path, body: bytes) -> None:
    store = SQLiteStore(db)
    try:
        transport = httpx2.ASGITransport(app=receiver_for(store))
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answer = await client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
    finally:
        store.shutdown()


async def test_a_gate_refuses_an_otlp_span_that_looks_exactly_like_a_runner_span(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(workspace, db) as client:
        run = await run_check(client, "bandit", "T")
        real = span_attributes(db, run["span_id"])
        assert real["otel_mcp.source"] == "runner" and "otel_mcp.attestation" in real
        await _post(db, _span_request(run["trace_id"], run["span_name"], real, time.time_ns()))
        forged = span_attributes(db, FORGED_SPAN)
        assert forged["otel_mcp.source"] == "external"
        decision = await submit(client, "security", "T", FORGED_SPAN)
        assert decision["decision"] == "fail"
        assert "external telemetry (received over OTLP, unattested)" in reasons(decision)
        # The real one still passes: nothing about the copy touched it.
        assert (await submit(client, "security", "T", run["span_id"]))["decision"] == "pass"


ORIGINAL = """\
gate_requirements:
  - name: "security_scan"
    evidence_type: "telemetry_span"
    span_name: "security_scan_complete"
    required_attributes:
      - "vulnerabilities.critical: 0"
"""
OPT_IN = """\
gates:
  - name: ci_scan
    requirements:
      - name: scan
        span_name: security_scan_complete
        sources: [runner, external]   # the admin trusts what CI sends over OTLP
        where: {vulnerabilities.critical: 0}
"""


async def test_only_a_requirement_that_lists_external_accepts_received_telemetry(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws", gates=False)
    gates = workspace / "gates"
    gates.mkdir()
    (gates / "original.yaml").write_text(ORIGINAL)
    (gates / "opt_in.yaml").write_text(OPT_IN)
    commit_all(workspace, "gates")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(workspace, db) as client:
        await client.list_tools()  # the store exists
        attributes = {"task.id": "T", "vulnerabilities.critical": 0}
        await _post(db, _span_request("ab" * 16, "security_scan_complete", attributes, time.time_ns()))
        refused = await submit(client, "security_scan", "T", FORGED_SPAN)
        assert refused["decision"] == "fail"
        assert "an admin can list `external` in its `sources:`" in reasons(refused)
        accepted = await submit(client, "ci_scan", "T", FORGED_SPAN)
        assert accepted["decision"] == "pass", reasons(accepted)


async def test_a_received_span_cannot_complete_a_task_or_make_its_dependents_ready(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(workspace, db) as client:
        await call(client, "record_task", task_id="T", task_type="code_generation", status="planned")
        await call(client, "record_task", task_id="U", task_type="test", status="planned", depends_on=["T"])
        attributes = {"task.id": "T", "task.type": "code_generation", "task.status": "complete"}
        await _post(db, _span_request("cd" * 16, "code_generation_complete", attributes, time.time_ns()))
        assert span_attributes(db, FORGED_SPAN)["external.task.status"] == "complete"
        prerequisites = await call(client, "check_prerequisites", task_id="U")
        assert prerequisites["ready"] is False
        completed = await call(client, "find_completed", task_type="code_generation")
        assert completed["records"] == []

"""Gates decide the same on SQLite and on ClickHouse: pass, fail with reasons, and tampering caught.

On ClickHouse the attributes went through an all-strings map and come back as text; attestation
canonicalises values, so a runner span still verifies, and any rewrite of it in the database (an
`ALTER TABLE … UPDATE` mutation, or a second row under the same span id) does not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.store.clickhouse import record_to_row
from otel_mcp.store.clickhouse.schema import TRACES_INSERT_COLUMNS
from tests.conftest import ChdbEngine, backend_settings, call, call_error, open_backend_runtime

pytestmark = pytest.mark.anyio

GATES = """\
checks:
  scan:
    span_name: scan_complete
    command: ["{python}", "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", "{target}"]
    target: "%(scan_json)s"
    attributes:
      vulnerabilities.high: "json:/high"
      score: "json:/score"
      findings: "count:/findings"
gates:
  - name: scanned
    requirements:
      - name: scan
        span_name: scan_complete
        check: scan
        sources: [runner]
        attested: true
        where: {vulnerabilities.high: 0, score: ">= 0.9"}
        newer_than: code_generation_complete
  - name: numbers
    requirements:
      - name: metrics
        span_name: metrics_complete
        status: ok
        where: {count: "> 9"}
  - name: shipped
    requires_gates: [scanned]
"""


@pytest.fixture
def scan_json(tmp_path: Path) -> Path:
    path = tmp_path / "scan.json"
    path.write_text(json.dumps({"high": 0, "score": 0.95, "findings": []}))
    return path


@pytest.fixture
def gate_rt(store_backend: str, tmp_path: Path, scan_json: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir()
    (gates_dir / "test.yaml").write_text(GATES % {"scan_json": scan_json})
    settings = backend_settings(store_backend, tmp_path, request, gates_dir=gates_dir)
    rt = open_backend_runtime(settings)
    yield rt
    rt.close()
    if store_backend == "clickhouse":
        request.getfixturevalue("chdb_engine").server.query(f"DROP DATABASE `{settings.clickhouse_database}`")


@pytest.fixture
async def gc(gate_rt: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(gate_rt)) as c:
        yield c


async def _scan(c: Client, task: str, scan_json: Path, high: int = 0) -> str:
    scan_json.write_text(json.dumps({"high": high, "score": 0.95, "findings": [{"id": i} for i in range(high)]}))
    run = await call(c, "run_check", check="scan", task_id=task)
    assert run["ok"], run
    return str(run["span_id"])


async def _submit(c: Client, gate: str, task: str, **named: str) -> dict[str, Any]:
    evidence = [{"requirement": r, "span_id": s} for r, s in named.items()]
    return await call(c, "submit_gate_evidence", gate=gate, task_id=task, evidence=evidence)


def _tamper(rt: Runtime, request: pytest.FixtureRequest, span_id: str, key: str, value: str, how: str) -> None:
    """Rewrite one attribute of a stored span behind the server's back."""
    if rt.store.backend == "sqlite":
        rt.store.raw().execute(  # type: ignore[attr-defined]
            f"UPDATE span_store SET attributes = json_set(attributes, '$.\"{key}\"', ?) WHERE span_id = ?",
            (value, span_id),
        )
        return
    engine: ChdbEngine = request.getfixturevalue("chdb_engine")
    db = rt.settings.clickhouse_database
    if how == "mutation":
        engine.server.query(
            f"ALTER TABLE `{db}`.otel_traces UPDATE SpanAttributes = mapUpdate(SpanAttributes, map({{k:String}}, "
            "{v:String})) WHERE SpanId = {s:String} SETTINGS mutations_sync = 1",
            params={"k": key, "v": value, "s": span_id},
        )
    else:  # append-only tampering: a second row under the same span id
        original = rt.store.get_spans([span_id])[span_id]
        from dataclasses import replace

        forged = replace(original, attributes={**original.attributes, key: value})
        client = engine.server.get_client()
        client.insert("otel_traces", [record_to_row(forged)], database=db, column_names=list(TRACES_INSERT_COLUMNS))
        client.close()


async def test_an_attested_runner_scan_passes_and_a_later_gate_builds_on_it(gc: Client, scan_json: Path) -> None:
    await call(gc, "record_task", task_id="T1", task_type="code_generation", status="complete")
    span_id = await _scan(gc, "T1", scan_json)
    decision = await _submit(gc, "scanned", "T1", scan=span_id)
    assert decision["decision"] == "pass" and decision["attempt"] == 1, decision
    shipped = await call(gc, "submit_gate_evidence", gate="shipped", task_id="T1", evidence=[])
    assert shipped["decision"] == "pass", shipped


async def test_failing_evidence_gets_reasons_and_attempts_count_up(gc: Client, scan_json: Path) -> None:
    await call(gc, "record_task", task_id="T1", task_type="code_generation", status="complete")
    bad = await _submit(gc, "scanned", "T1", scan=await _scan(gc, "T1", scan_json, high=2))
    assert bad["decision"] == "fail" and "vulnerabilities.high is 2" in " ".join(bad["reasons"])
    good = await _submit(gc, "scanned", "T1", scan=await _scan(gc, "T1", scan_json))
    assert (good["decision"], good["attempt"]) == ("pass", 2)
    missing = await _submit(gc, "numbers", "T1", metrics="00f067aa0ba902b7")
    assert "does not exist" in " ".join(missing["reasons"])
    low = await call(gc, "record_task", task_id="T1", task_type="metrics", status="complete", attributes={"count": 9})
    assert "count is 9" in " ".join((await _submit(gc, "numbers", "T1", metrics=low["span_id"]))["reasons"])
    ok = await call(gc, "record_task", task_id="T1", task_type="metrics", status="complete", attributes={"count": 10})
    assert (await _submit(gc, "numbers", "T1", metrics=ok["span_id"]))["decision"] == "pass"
    assert "not defined" in await call_error(gc, "submit_gate_evidence", gate="nope", task_id="T1", evidence=[])


async def _assert_tampering_fails_attestation(
    gc: Client, rt: Runtime, scan_json: Path, request: pytest.FixtureRequest, how: str
) -> None:
    await call(gc, "record_task", task_id="T1", task_type="code_generation", status="complete")
    span_id = await _scan(gc, "T1", scan_json, high=3)
    _tamper(rt, request, span_id, "vulnerabilities.high", "0", how)
    decision = await _submit(gc, "scanned", "T1", scan=span_id)
    assert decision["decision"] == "fail"
    assert "attestation" in " ".join(decision["reasons"]).lower(), decision["reasons"]


async def test_a_runner_span_rewritten_in_the_database_fails_attestation(
    gc: Client, gate_rt: Runtime, scan_json: Path, request: pytest.FixtureRequest
) -> None:
    await _assert_tampering_fails_attestation(gc, gate_rt, scan_json, request, "mutation")


# SQLite keeps one row per span id (UNIQUE), so a second row under the same id is ClickHouse's alone.
@pytest.mark.parametrize("store_backend", ["clickhouse"])
async def test_a_second_row_forged_under_a_runner_span_id_fails_attestation(
    gc: Client, gate_rt: Runtime, scan_json: Path, request: pytest.FixtureRequest
) -> None:
    await _assert_tampering_fails_attestation(gc, gate_rt, scan_json, request, "second_row")

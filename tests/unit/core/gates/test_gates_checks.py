"""run_check: real commands, attested runner spans, progress, caps; and the real bandit gate."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.telemetry.attestation import canonical_content
from tests.conftest import REPO, call, call_error, make_runtime

FIXTURES = REPO / "tests" / "fixtures" / "bandit"

CHECKS = """\
checks:
  report:
    span_name: report_complete
    command: ["{python}", "-c", "%(code)s"]
    timeout_seconds: %(timeout)s
    max_output_bytes: 4096
    attributes:
      total: "json:/summary/total"
      names: "json:/names"
      failed: "count:/results?state=failed"
      everything: "count:/results"
      duration: 'regex:took (\\d+\\.\\d+)s'
      missing: "json:/nope"
"""

REPORT = (
    "import json, sys; "
    "print(json.dumps({'summary': {'total': 3}, 'names': ['a', 'b'], "
    "'results': [{'state': 'failed'}, {'state': 'passed'}, {'state': 'failed'}]})); "
    "print('took 1.25s', file=sys.stderr)"
)


def _runtime(tmp_path: Path, code: str = REPORT, timeout: float = 30) -> Runtime:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir(exist_ok=True)
    (gates_dir / "checks.yaml").write_text(CHECKS % {"code": code.replace('"', '\\"'), "timeout": timeout})
    return make_runtime(tmp_path / "telemetry.db", gates_dir=gates_dir)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = _runtime(tmp_path)
    yield runtime
    runtime.close()


@pytest.fixture
async def rc(rt: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(rt)) as c:
        yield c


@pytest.mark.anyio
async def test_run_check_records_an_attested_runner_span_with_what_the_output_proved(rc: Client, rt: Runtime) -> None:
    run = await call(rc, "run_check", check="report", task_id="T")
    assert run["attributes"] == {"total": 3, "names": ["a", "b"], "failed": 2, "everything": 3, "duration": 1.25}
    assert not run["ok"] and run["errors"] == ["missing: the output has nothing at JSON Pointer /nope"]
    span = rt.store.get_spans([run["span_id"]])[run["span_id"]]
    assert span.name == "report_complete" and span.status_code == "Error"
    attrs = span.attributes
    assert attrs["otel_mcp.source"] == "runner" and attrs["otel_mcp.check"] == "report" and attrs["task.id"] == "T"
    assert attrs["process.exit.code"] == 0 and len(str(attrs["otel_mcp.output.sha256"])) == 64
    assert "task.status" not in attrs
    assert rt.telemetry.attestor.verify(span)


@pytest.mark.anyio
async def test_run_check_sends_progress_notifications_while_it_runs(rc: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await rc.call_tool("run_check", {"check": "report", "task_id": "T"}, progress_callback=on_progress)
    assert not result.is_error
    assert seen[0][0] == 0 and "started" in (seen[0][2] or "")
    assert "finished with exit code 0" in (seen[-1][2] or "")


@pytest.mark.anyio
async def test_a_check_that_runs_too_long_is_stopped_and_recorded_as_timed_out(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, code="import time; time.sleep(30)", timeout=0.3)
    try:
        async with Client(create_server(runtime)) as client:
            run = await call(client, "run_check", check="report", task_id="T")
    finally:
        runtime.close()
    assert run["timed_out"] and not run["ok"] and run["duration_ms"] < 5000
    assert run["errors"][0] == "the command timed out after 0.3s and was stopped"


@pytest.mark.anyio
async def test_output_beyond_the_cap_is_cut_but_hashed_in_full(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, code="print('x' * 100000)")
    try:
        async with Client(create_server(runtime)) as client:
            run = await call(client, "run_check", check="report", task_id="T")
        span = runtime.store.get_spans([run["span_id"]])[run["span_id"]]
    finally:
        runtime.close()
    assert span.attributes["otel_mcp.output.truncated"] is True
    assert span.attributes["otel_mcp.output.bytes"] == 100001
    assert "exceeded max_output_bytes (4096)" in " ".join(run["errors"])


@pytest.mark.anyio
async def test_an_unknown_check_is_a_tool_error_naming_the_checks(rc: Client) -> None:
    error = await call_error(rc, "run_check", check="deploy", task_id="T")
    assert "check 'deploy' is not defined; the checks are: report" in error


@pytest.mark.anyio
async def test_a_check_whose_program_is_missing_says_how_to_install_it(tmp_path: Path) -> None:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir()
    (gates_dir / "c.yaml").write_text("checks:\n  ghost:\n    span_name: x_complete\n    command: [no-such-tool-xyz]\n")
    runtime = make_runtime(tmp_path / "telemetry.db", gates_dir=gates_dir)
    try:
        async with Client(create_server(runtime)) as client:
            error = await call_error(client, "run_check", check="ghost", task_id="T")
    finally:
        runtime.close()
    assert "'no-such-tool-xyz' is not installed beside otel-mcp" in error
    assert f"{sys.executable} -m pip install 'bandit>=1.8'" in error and "PATH is never searched" in error


@pytest.mark.anyio
async def test_list_gates_shows_requirements_in_words_and_the_checks(client: Client) -> None:
    listing = await call(client, "list_gates")
    security = next(g for g in listing["gates"] if g["name"] == "security")
    (req,) = security["requirements"]
    assert req["check"] == "bandit" and "vulnerabilities.high == 0" in req["expects"]
    assert {c["name"] for c in listing["checks"]} >= {"bandit", "pytest", "ruff"}
    assert listing["problems"] == []


def test_runner_span_content_is_canonical_across_backends() -> None:
    common: dict[str, Any] = {
        "span_id": "00f067aa0ba902b7",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "name": "n",
        "start_ns": 1,
    }
    typed = canonical_content(
        status_code="Ok", attributes={"n": 10, "f": 1.0, "b": True, "l": ("a", "b"), "x": 0.5, "s": "text"}, **common
    )
    # ClickHouse hands every attribute back as a string, lists as JSON text, the status in another spelling.
    text = canonical_content(
        status_code="STATUS_CODE_OK",
        attributes={"n": "10", "f": "1", "b": "true", "l": '["a","b"]', "x": "0.5", "s": "text"},
        **common,
    )
    assert typed == text
    assert canonical_content(status_code="Ok", attributes={"n": 11}, **common) != canonical_content(
        status_code="Ok", attributes={"n": 10}, **common
    )


# -- the real thing: bandit over a file with a known high-severity issue ------------------------


@pytest.mark.anyio
async def test_a_real_bandit_run_fails_the_security_gate_until_the_code_is_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(FIXTURES / "vulnerable" / "app.py", workspace / "app.py")
    # Checks run in the server's workspace, wherever the host started the process.
    runtime = make_runtime(tmp_path / "telemetry.db", gates_dir=REPO / "gates", workspace=workspace)
    try:
        async with Client(create_server(runtime)) as client:
            await call(client, "record_task", task_id="app", task_type="code_generation", status="complete")
            scan = await call(client, "run_check", check="bandit", task_id="app")
            assert scan["ok"] and scan["exit_code"] == 1
            assert scan["attributes"]["vulnerabilities.high"] >= 1
            assert scan["attributes"]["vulnerabilities.critical"] >= 1
            evidence = [{"requirement": "bandit_scan", "span_id": scan["span_id"]}]
            failed = await call(client, "submit_gate_evidence", gate="security", task_id="app", evidence=evidence)
            assert failed["decision"] == "fail"
            assert any("vulnerabilities.high is" in r for r in failed["reasons"])
            assert "B602" in scan["output_tail"] or "shell=True" in json.dumps(scan)

            # The fix changes the code: the old scan no longer speaks for it, whatever the agent records.
            shutil.copy(FIXTURES / "fixed" / "app.py", workspace / "app.py")
            stale = await call(client, "submit_gate_evidence", gate="security", task_id="app", evidence=evidence)
            assert any(f"the code changed since span {scan['span_id']}" in r for r in stale["reasons"])
            rescan = await call(client, "run_check", check="bandit", task_id="app")
            assert rescan["attributes"]["vulnerabilities.high"] == 0
            passed = await call(
                client,
                "submit_gate_evidence",
                gate="security",
                task_id="app",
                evidence=[{"requirement": "bandit_scan", "span_id": rescan["span_id"]}],
            )
            assert passed["decision"] == "pass" and passed["attempt"] == 3
    finally:
        runtime.close()

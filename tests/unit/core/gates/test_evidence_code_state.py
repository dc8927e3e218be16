"""Evidence bound to the code it examined, and checks that examined nothing (issue 10), as an agent meets them.

Each test starts the real server over stdio (or runs the real CLI) on a real workspace and plays an
agent that wants a gate to pass although the check does not pass on the code as it is now.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from otel_mcp.core.gates.checks import runner as runner_module
from otel_mcp.core.gates.checks.process import run_command
from tests.conftest import REPO, call, call_error, make_runtime
from tests.support.evidence import (
    CLEAN_APP,
    TEST_APP,
    VULNERABLE_APP,
    cli,
    make_workspace,
    pass_gate,
    reasons,
    run_check,
    serve,
    submit,
)

pytestmark = pytest.mark.anyio

BROKEN_APP = "def add(a: int, b: int) -> int:\n    return a - b\n"


async def test_an_old_scan_stops_counting_once_the_code_changes_and_release_needs_fresh_gates(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await pass_gate(client, "security", "bandit", "T")
        await pass_gate(client, "tests", "pytest", "T")
        await pass_gate(client, "lint", "ruff", "T")
        assert (await submit(client, "release", "T"))["decision"] == "pass"

        # The agent makes the code vulnerable, records no code change, and cites the old clean scan.
        (ws / "app.py").write_text(VULNERABLE_APP)
        stale = await submit(client, "security", "T", scan["span_id"])
        assert stale["decision"] == "fail"
        assert f"the code changed since span {scan['span_id']} examined it" in reasons(stale)
        assert "run the check again and cite the new span" in reasons(stale)

        # release on the strength of the earlier passes: each one was on other code.
        release = await submit(client, "release", "T")
        assert release["decision"] == "fail"
        for gate, check in (("security", "bandit"), ("tests", "pytest"), ("lint", "ruff")):
            assert f"requires gate '{gate}' to pass first" in reasons(release)
            assert f"run_check('{check}')" in reasons(release)
        assert "was on other code than the workspace holds now" in reasons(release)

        # Run again, the check speaks for the new code: bandit finds the shell call.
        rescan = await run_check(client, "bandit", "T")
        assert rescan["attributes"]["vulnerabilities.critical"] == 1 and rescan["code_digest"] != scan["code_digest"]
        assert (await submit(client, "security", "T", rescan["span_id"]))["decision"] == "fail"


async def test_a_workspace_with_no_code_or_no_tests_examines_nothing_and_fails(tmp_path: Path) -> None:
    empty = tmp_path / "empty"  # a plain folder, not a git repository
    empty.mkdir()
    async with serve(empty, tmp_path / "store" / "telemetry.db", OTEL_MCP_GATES_DIR=str(REPO / "gates")) as client:
        for check, gate in (("bandit", "security"), ("pytest", "tests")):
            run = await run_check(client, check, "E")
            assert not run["ok"] and "the check examined nothing" in run["errors"][0]
            assert "is OTEL_MCP_WORKSPACE the folder with your code?" in run["errors"][0]
            decision = await submit(client, gate, "E", run["span_id"])
            assert decision["decision"] == "fail" and "examined nothing" in reasons(decision)

        # Python files bandit reads as 0 lines of code: every count is 0, and still not a pass.
        (empty / "pkg").mkdir()
        (empty / "pkg" / "__init__.py").write_text("")
        run = await run_check(client, "bandit", "E")
        assert run["attributes"]["scan.lines"] == 0 and run["attributes"]["vulnerabilities.high"] == 0
        assert not run["ok"] and "the check examined nothing (scan.lines = 0)" in run["errors"][0]
        assert (await submit(client, "security", "E", run["span_id"]))["decision"] == "fail"

        # Python files, but no test in them: pytest's exit code 5 says it, and the gate refuses.
        (empty / "tests").mkdir()
        (empty / "tests" / "helpers.py").write_text("Y = 2\n")
        run = await run_check(client, "pytest", "N")
        assert run["exit_code"] == 5 and run["attributes"]["tests.collected"] == 0
        assert "exited with code 5 (no tests were collected: the check examined nothing)" in run["errors"][0]
        decision = await submit(client, "tests", "N", run["span_id"])
        assert decision["decision"] == "fail" and "tests.collected is 0" in reasons(decision)


async def test_a_server_a_host_starts_in_root_has_no_workspace_and_runs_no_check(tmp_path: Path) -> None:
    # Claude Desktop starts servers in '/': without OTEL_MCP_WORKSPACE there is no code to check.
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={"OTEL_MCP_DB": str(tmp_path / "store" / "telemetry.db"), "PYTHONPATH": str(REPO)},
        cwd="/",
    )
    async with Client(params) as client:
        error = await call_error(client, "run_check", check="bandit", task_id="R")
        assert "this server has no workspace" in error and "set OTEL_MCP_WORKSPACE" in error
        listing = await call(client, "list_gates")
        assert listing["source"] == "bundled" and "bundled example gates" in listing["note"]


async def test_evidence_stamped_30_days_ahead_is_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "telemetry.db"  # one store above the workspace (e.g. ~/telemetry.db) works too
    # The agent runs the real CLI under a clock 30 days fast (what faketime does), with the real key.
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(
        "import time\n_ns, _s = time.time_ns, time.time\nAHEAD = 30 * 86400\n"
        "time.time_ns = lambda: _ns() + AHEAD * 10**9\ntime.time = lambda: _s() + AHEAD\n"
    )
    env = {"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws), "PYTHONPATH": f"{skew}:{REPO}"}
    done = cli("run", "bandit", "--task", "F", "--json", cwd=ws, env=env, fork=False)  # its PYTHONPATH skews the clock
    assert done.returncode == 0, done.stderr
    span_id = json.loads(done.stdout)["span_id"]
    async with serve(ws, db) as client:
        decision = await submit(client, "security", "F", span_id)
        assert decision["decision"] == "fail"
        assert f"span {span_id} starts 30.0d in the future" in reasons(decision)
        assert "beyond the 60s clock skew allowed" in reasons(decision)


async def test_a_file_written_while_a_check_starts_is_examined_or_the_run_fails(tmp_path: Path) -> None:
    # A race, so in process: the write lands at the worst moment, after the check chose its files and
    # before anything else. Over stdio an agent would time it by watching /tmp for otel-mcp-check-*.
    ws = make_workspace(tmp_path / "ws")
    runtime = make_runtime(tmp_path / "store" / "telemetry.db", workspace=ws, gates_dir=ws / "gates")
    anchors = runtime.runner.anchors
    first_record = anchors.anchor

    def agent_writes_then_anchor(task_id: str) -> Any:
        (ws / "late.py").write_text(VULNERABLE_APP)
        return first_record(task_id)

    anchors.anchor = agent_writes_then_anchor  # type: ignore[method-assign,assignment]
    try:
        run = await runtime.runner.run_check("bandit", "L")
        anchors.anchor = first_record  # type: ignore[method-assign]
        decision = runtime.decisions.submit("security", "L", [run.span_id])
    finally:
        runtime.close()
    assert decision.decision == "fail", (run, decision)
    assert "the code changed while the check ran" in " ".join(decision.reasons)


async def _swapped_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], check: str, gate: str, original: str
) -> tuple[Any, Any]:
    """Run `check` while an agent swaps a clean app.py in for the run and `original` back before it ends."""
    ws = make_workspace(tmp_path / "ws", files)
    runtime = make_runtime(tmp_path / "store" / "telemetry.db", workspace=ws, gates_dir=ws / "gates")

    async def swapped(*args: Any, **kwargs: Any) -> Any:
        (ws / "app.py").write_text(CLEAN_APP)
        try:
            return await run_command(*args, **kwargs)
        finally:
            (ws / "app.py").write_text(original)

    monkeypatch.setattr(runner_module, "run_command", swapped)
    try:
        run = await runtime.runner.run_check(check, "S")
        return run, runtime.decisions.submit(gate, "S", [run.span_id])
    finally:
        runtime.close()


async def test_code_swapped_in_for_the_run_and_back_is_not_what_the_check_examines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In process for the timing: the clean app.py lives in the workspace only while bandit runs, and
    # bandit reads the private snapshot of the digested (vulnerable) code, never the workspace.
    files = {"app.py": VULNERABLE_APP}
    run, decision = await _swapped_run(tmp_path, monkeypatch, files, "bandit", "security", VULNERABLE_APP)
    assert run.attributes["vulnerabilities.critical"] == 1
    assert decision.decision == "fail"


async def test_a_test_run_on_a_private_copy_cannot_see_code_swapped_in_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pytest check runs on a copy of the code state: the working app.py never reaches the tests.
    files = {"app.py": BROKEN_APP, "tests/test_app.py": TEST_APP}
    run, decision = await _swapped_run(tmp_path, monkeypatch, files, "pytest", "tests", BROKEN_APP)
    assert run.attributes["tests.failed"] == 1
    assert decision.decision == "fail" and "some tests failed" in " ".join(decision.reasons)

"""`otel-mcp trace` and `otel-mcp report`: what the agents did, readable by a person (and as JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from otel_mcp.cli import main
from otel_mcp.core.report import build_report
from otel_mcp.runtime import Runtime
from otel_mcp.telemetry import ref
from tests.conftest import REPO, make_runtime

S = 1_000_000_000


def _status(rt: Runtime, task_id: str, status: str, at_ns: int, **attrs: Any) -> None:
    """A task record at an explicit time, as record_task would write it."""
    rt.telemetry.spans.emit(
        f"build_{status}",
        {"task.id": task_id, "task.type": "build", "task.status": status, "otel_mcp.source": "agent", **attrs},
        parent=ref(rt.anchors.anchor(task_id)),
        start_ns=at_ns,
        end_ns=at_ns,
        ok=status == "complete",
    )


def _gate(rt: Runtime, task_id: str, gate: str, decision: str, attempt: int, *reasons: str) -> None:
    rt.telemetry.spans.emit(
        "gate_decision",
        {
            "task.id": task_id,
            "otel_mcp.source": "gate",
            "otel_mcp.gate": gate,
            "otel_mcp.gate.decision": decision,
            "otel_mcp.gate.attempt": attempt,
            "otel_mcp.gate.reasons": reasons,
        },
        parent=ref(rt.anchors.anchor(task_id)),
    )


def _check(rt: Runtime, task_id: str, check: str, exit_code: int) -> None:
    rt.telemetry.spans.emit(
        f"{check}_run",
        {"task.id": task_id, "otel_mcp.source": "runner", "otel_mcp.check": check, "process.exit.code": exit_code},
        parent=ref(rt.anchors.anchor(task_id)),
        error=f"{check} exited {exit_code}" if exit_code else None,
    )


@pytest.fixture
def history(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Two agents, three tasks, a claim contest, gate decisions with retries and a failed check."""
    monkeypatch.setenv("OTEL_MCP_DB", str(db_path))
    monkeypatch.setenv("OTEL_MCP_AGENT_ID", "cli")
    a, b = make_runtime(db_path, "agent-a"), make_runtime(db_path, "agent-b")
    t0 = time.time_ns() - 600 * S
    _status(a, "auth/login", "planned", t0)
    a.claims.claim("auth/login", 300)
    b.claims.claim("auth/login", 300)
    _status(a, "auth/login", "started", t0 + 10 * S)
    _status(a, "auth/login", "complete", t0 + 70 * S, **{"quality.score": 0.93, "tests.failed": 0})
    _status(b, "auth/docs", "started", t0 + 20 * S)
    _status(b, "auth/docs", "complete", t0 + 50 * S)
    _status(b, "auth/api", "started", t0 + 30 * S)
    _gate(a, "auth/login", "security_scan", "fail", 1, "no span named 'security_scan_complete' was cited")
    _gate(a, "auth/login", "security_scan", "pass", 2)
    _gate(b, "auth/docs", "security_scan", "pass", 1)
    _gate(a, "auth/login", "review", "pass", 1)
    _check(a, "auth/login", "ruff", 1)
    _check(b, "auth/docs", "pytest", 0)
    trace_id = a.store.latest_status(["auth/login"])["auth/login"].trace_id
    a.close()
    b.close()
    return {"trace_id": trace_id, "db": db_path}


def test_trace_prints_a_tree_with_agents_statuses_claims_and_gate_reasons(
    history: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trace", "auth/login"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"store: {history['db'].resolve()}"
    assert lines[1].startswith(f"trace {history['trace_id']}") and "agent-a, agent-b" in lines[1]
    assert any("build_planned" in line and "agent-a" in line and "planned" in line for line in lines)
    assert any("claimed until" in line and "agent-a" in line for line in lines)
    assert any("claim denied (held by agent-a)" in line and "agent-b" in line for line in lines)
    assert any("build_complete" in line and "quality.score=0.93" in line for line in lines)
    fail = next(i for i, line in enumerate(lines) if "gate security_scan: FAIL (attempt 1)" in line)
    assert "- no span named 'security_scan_complete' was cited" in lines[fail + 1]
    assert any("gate security_scan: PASS (attempt 2)" in line for line in lines)
    assert any("(check ruff)" in line and "exit=1" in line for line in lines)
    # Children are indented under the task's first record.
    planned = next(line for line in lines if "build_planned" in line)
    started = next(line for line in lines if "build_started" in line)
    assert started.index("build_started") > planned.index("build_planned")


def test_trace_takes_a_trace_id_and_prints_json(history: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", history["trace_id"], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trace_id"] == history["trace_id"]
    assert {s["name"] for s in data["spans"]} >= {"build_planned", "task_claim", "gate_decision"}


def test_trace_of_an_unknown_task_says_so_without_a_traceback(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_MCP_DB", str(db_path))
    make_runtime(db_path, "agent-a").close()
    assert main(["trace", "nothing/here"]) == 2
    assert "no spans recorded for task 'nothing/here'" in capsys.readouterr().err


def test_report_gives_first_attempt_pass_rates_tasks_per_agent_failed_checks_and_median_duration(
    history: dict[str, Any],
) -> None:
    rt = make_runtime(history["db"], "reader")
    report = build_report(rt.store)
    rt.close()
    gates = {g.gate: g for g in report.gates}
    assert (gates["security_scan"].first_attempts, gates["security_scan"].first_attempt_passes) == (2, 1)
    assert gates["security_scan"].first_attempt_pass_rate == 0.5
    assert (gates["security_scan"].decisions, gates["security_scan"].passes) == (3, 2)
    assert gates["review"].first_attempt_pass_rate == 1.0
    assert report.tasks == 3 and report.tasks_by_status == {"complete": 2, "started": 1}
    agents = {a.agent_id: a.by_status for a in report.agents}
    assert agents == {"agent-a": {"complete": 1}, "agent-b": {"complete": 1, "started": 1}}
    assert [(f.check, f.task_id, f.exit_code, f.agent_id) for f in report.failed_checks] == [
        ("ruff", "auth/login", 1, "agent-a")
    ]
    # auth/login: 60 s from started to complete; auth/docs: 30 s; auth/api never completed.
    assert (report.median_task_duration_s, report.timed_tasks) == (45.0, 2)


def test_report_prints_text_and_json(history: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 0
    text = capsys.readouterr().out
    assert "security_scan  first-attempt pass  50% (1/2)" in text
    assert "agent-b" in text and "Failed checks: 1" in text and "ruff [auth/login]  exit 1" in text
    assert "Median task duration (first started -> complete): 45.000s over 2 tasks" in text
    assert main(["report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["median_task_duration_s"] == 45.0 and len(data["failed_checks"]) == 1
    assert main(["report", "--since", "1m"]) == 0
    assert "no gate decisions" not in capsys.readouterr().out  # gate spans were written just now


@pytest.mark.parametrize("command", [["trace", "auth/login"], ["report"], ["report", "--json"]])
def test_read_only_commands_never_create_a_store_and_say_where_they_looked(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OTEL_MCP_DB", raising=False)
    assert main(command) == 2
    err = capsys.readouterr().err
    expected = tmp_path.resolve() / ".otel-mcp" / "telemetry.db"
    assert f"no telemetry store at {expected}" in err and "--db" in err and "OTEL_MCP_DB" in err
    assert list(tmp_path.iterdir()) == []  # not the file, not even its folder


def test_claims_and_releases_read_as_what_happened() -> None:
    from otel_mcp.commands.trace import claim_words

    def words(action: str, outcome: str = "", **more: str) -> str:
        attrs = {"otel_mcp.claim.action": action, "otel_mcp.claim.outcome": outcome, **more}
        return claim_words({k: v for k, v in attrs.items() if v})

    holder = {"otel_mcp.claim.holder": "agent-b"}
    assert words("claim", "granted", **{"otel_mcp.claim.expires_at": "12:00"}) == "claimed until 12:00"
    assert words("claim", "renewed", **{"otel_mcp.claim.expires_at": "12:05"}) == "renewed claim until 12:05"
    assert words("claim", "denied", **holder) == "claim denied (held by agent-b)"
    assert words("release", "released") == "released"
    assert words("release", "refused", **holder) == "release refused (held by agent-b)"
    assert words("claim") == "claim"  # an append-only store's attempt, outcome not recorded


def test_report_counts_read_right_in_the_singular(history: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"store: {history['db'].resolve()}"
    agent_a = next(line for line in lines if line.strip().startswith("agent-a"))
    assert "1 task " in agent_a and "1 tasks" not in agent_a
    assert "2 tasks" in next(line for line in lines if line.strip().startswith("agent-b"))


@pytest.mark.parametrize(
    "command", [["trace", "auth/login", "--json"], ["trace", "auth/login"], ["report", "--json"], ["gates", "list"]]
)
def test_a_reader_that_stops_early_ends_the_command_quietly(history: dict[str, Any], command: list[str]) -> None:
    # `otel-mcp trace T --json | head`: the reader is gone before the command writes; no traceback.
    read_end, write_end = os.pipe()
    env = {**os.environ, "OTEL_MCP_DB": str(history["db"]), "OTEL_MCP_GATES_DIR": str(REPO / "gates")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", *command], stdout=write_end, stderr=subprocess.PIPE, env=env
    )
    os.close(write_end)
    os.close(read_end)
    _, err = proc.communicate(timeout=60)
    assert err.decode() == ""
    assert proc.returncode == 1  # as Python exits on EPIPE, without the traceback

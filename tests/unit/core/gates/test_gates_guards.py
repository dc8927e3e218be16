"""Gates that stop progress: a guarded transition is refused until its gate stands passed, and `gates status` says so.

The workspace is a real folder with a real file; the check is a quick real command reading it, so a
changed file really changes the code state the gate decides on.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime, stdio_params
from tests.support.evidence import REVIEW_GATE, workspace_cli
from tests.support.hooks import UNSAFE
from tests.support.hooks import make_workspace as make_hook_workspace

pytestmark = pytest.mark.anyio


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_hook_workspace(tmp_path / "ws")


@pytest.fixture
def runtime(workspace: Path) -> Iterator[Runtime]:
    rt = make_runtime(workspace / ".otel-mcp" / "telemetry.db", gates_dir=workspace / "gates", workspace=workspace)
    yield rt
    rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(runtime)) as c:
        yield c


async def _pass_secure(client: Client, task: str) -> None:
    run = await call(client, "run_check", check="scan", task_id=task)
    decision = await call(client, "submit_gate_evidence", gate="secure", task_id=task, evidence=[run["span_id"]])
    assert decision["decision"] == "pass", decision["reasons"]


async def test_completing_a_guarded_task_is_refused_until_its_gate_passes_on_the_current_code(
    client: Client, workspace: Path
) -> None:
    await call(client, "record_task", task_id="T", task_type="code_generation", status="started")
    error = await call_error(client, "record_task", task_id="T", task_type="code_generation", status="complete")
    assert "record_task(status='complete') for code_generation task 'T' is refused" in error
    assert "gate 'secure' has not passed for 'T'" in error and "run_check('scan')" in error
    # Nothing was written: nobody sees the task complete.
    assert (await call(client, "find_completed", task_type="code_generation"))["count"] == 0
    assert not (await call(client, "check_prerequisites", task_id="T"))["complete"]

    # The gate fails on this code (eval), so completion stays refused.
    run = await call(client, "run_check", check="scan", task_id="T")
    failed = await call(client, "submit_gate_evidence", gate="secure", task_id="T", evidence=[run["span_id"]])
    assert failed["decision"] == "fail"
    error = await call_error(client, "record_task", task_id="T", task_type="code_generation", status="complete")
    assert "its latest decision" in error and "is fail" in error

    (workspace / "app.py").write_text("def f(x):\n    return int(x)\n")
    await _pass_secure(client, "T")
    done = await call(client, "record_task", task_id="T", task_type="code_generation", status="complete")
    assert done["status"] == "complete"

    # Another edit: the pass was on other code, so completing (again) needs the gate again.
    (workspace / "app.py").write_text("def f(x):\n    return int(x) + 1\n")
    error = await call_error(client, "record_task", task_id="T", task_type="code_generation", status="complete")
    assert "the code changed since" in error


async def test_unguarded_transitions_and_types_are_never_asked(client: Client) -> None:
    for status in ("planned", "started", "failed", "blocked"):
        await call(client, "record_task", task_id="T", task_type="code_generation", status=status)
    await call(client, "record_task", task_id="D", task_type="docs", status="complete")


async def test_a_refusal_stays_in_the_audit_trail(client: Client) -> None:
    await call_error(client, "record_task", task_id="T", task_type="code_generation", status="complete")
    rows = await call(
        client,
        "query_spans",
        sql="SELECT status_code, attributes FROM spans WHERE source = 'audit' AND name = 'tools/call record_task'",
    )
    (status, attributes), *_ = rows["rows"]
    assert status == "Error" and "is refused" in json.loads(attributes)["otel_mcp.tool.error"]


async def test_record_task_carries_the_commits_and_branch_it_produced(client: Client, runtime: Runtime) -> None:
    sha = "3f2a9c1d0e4b5a6978877665544332211ffeeddc"
    rec = await call(
        client, "record_task", task_id="D", task_type="docs", status="complete", commits=[sha], branch="feature/x"
    )
    span = runtime.store.get_spans([rec["span_id"]])[rec["span_id"]]
    assert span.attributes["task.commits"] == (sha,) and span.attributes["vcs.ref.head.name"] == "feature/x"
    bad = await call_error(client, "record_task", task_id="D", task_type="docs", status="complete", commits=["nope"])
    assert "commits: 'nope' is not a commit id" in bad
    bad = await call_error(client, "record_task", task_id="D", task_type="docs", status="complete", branch="a..b")
    assert "branch must be a git branch name" in bad


def _verify(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return workspace_cli(workspace, "gates", "status", *args)


async def test_gates_verify_exits_zero_only_while_the_gate_stands_passed_on_the_code_as_it_is(
    workspace: Path,
) -> None:
    db = workspace / ".otel-mcp" / "telemetry.db"
    db.parent.mkdir()
    params = stdio_params(db, "agent-a", gates_dir=str(workspace / "gates"), workspace=str(workspace))
    async with Client(params) as client:
        await call(client, "record_task", task_id="T", task_type="code_generation", status="started")
        refused = _verify(workspace, "--task", "T")  # no gate named: the ones guarding its completion
        assert refused.returncode == 1 and "FAIL  gate secure for T: it has no decision" in refused.stdout
        assert "next: run_check('scan'), then submit_gate_evidence('secure')" in refused.stdout
        (workspace / "app.py").write_text("def f(x):\n    return int(x)\n")
        await _pass_secure(client, "T")
    ok = _verify(workspace, "secure", "--task", "T", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    verdict = json.loads(ok.stdout)
    assert verdict["passed"] and verdict["gates"][0]["gate"] == "secure" and verdict["code_digest"]
    (workspace / "app.py").write_text(UNSAFE)
    stale = _verify(workspace, "secure", "--task", "T")
    assert stale.returncode == 1 and "the code changed since" in stale.stdout
    unnamed = _verify(workspace, "--task", "nobody-guards-this")
    assert unnamed.returncode == 2 and "name the gate(s) to verify" in unnamed.stderr


def _served_git_workspace(workspace: Path) -> StdioServerParameters:
    """The workspace as a real git repository with its gates committed (the gates in force), served over stdio."""
    (workspace / ".gitignore").write_text(".otel-mcp/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", *args], cwd=workspace, check=True)
    db = workspace / ".otel-mcp" / "telemetry.db"
    db.parent.mkdir()
    return stdio_params(db, "agent-a", gates_dir=str(workspace / "gates"), workspace=str(workspace))


async def test_recording_a_refused_task_under_another_type_does_not_unguard_its_completion(workspace: Path) -> None:
    async with Client(_served_git_workspace(workspace)) as client:
        await call(client, "record_task", task_id="T", task_type="code_generation", status="started")
        await call_error(client, "record_task", task_id="T", task_type="code_generation", status="complete")
        # The agent relabels its task as one no gate guards, then completes it under that label.
        await call(client, "record_task", task_id="T", task_type="docs", status="started")
        error = await call_error(client, "record_task", task_id="T", task_type="docs", status="complete")
        assert "for docs task 'T' is refused" in error and "gate 'secure' has not passed for 'T'" in error
        assert not (await call(client, "check_prerequisites", task_id="T"))["complete"]
        # gates status and the hooks ask the gates of every type the task was recorded with.
        verdict = _verify(workspace, "--task", "T")
        assert verdict.returncode == 1 and "FAIL  gate secure for T" in verdict.stdout
        # A task that was only ever docs stays unguarded.
        await call(client, "record_task", task_id="D", task_type="docs", status="complete")


async def test_naming_a_parent_only_when_completing_does_not_borrow_that_tasks_pass(workspace: Path) -> None:
    (workspace / "gates" / "review.yaml").write_text(REVIEW_GATE)
    async with Client(_served_git_workspace(workspace)) as client:
        review = await call(
            client, "record_task", task_id="P", task_type="review", status="complete", attributes={"quality.score": 0.9}
        )
        passed = await call(client, "submit_gate_evidence", gate="reviewed", task_id="P", evidence=[review["span_id"]])
        assert passed["decision"] == "pass"
        # T was never reviewed; naming P, which was, as its parent only now does not complete it.
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
        error = await call_error(
            client, "record_task", task_id="T", task_type="feature", status="complete", parent_task_id="P"
        )
        assert "gate 'reviewed' has not passed for 'T'" in error and "submit_gate_evidence('reviewed')" in error
        # A subtask recorded under P from its first record does count P's pass, as before.
        await call(client, "record_task", task_id="P/sub", task_type="feature", status="started", parent_task_id="P")
        await call(client, "record_task", task_id="P/sub", task_type="feature", status="complete")

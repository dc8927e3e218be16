"""One verdict everywhere: a subtask under a passed parent, asked at every place that judges gates.

record_task, `otel-mcp gates status`, the git pre-push hook (a commit naming the subtask) and both
host hooks (Claude Code's Stop and `git commit`/`git push` in Bash; Cursor's stop and shell) must
give the same answer: the subtask first recorded under the parent stands passed through the
parent's pass; a task that names the parent only when completing does not. A real git repository
with a local bare remote, real hook scripts from `otel-mcp hooks install`, a real check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_mcp.errors import Conflict
from otel_mcp.runtime import Runtime
from tests.conftest import make_runtime
from tests.support.git_hooks import GitRepo
from tests.support.hooks import AGENT, GATES, SAFE, fixture, hook

pytestmark = pytest.mark.anyio


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path)
    (repo.work / "gates").mkdir()
    (repo.work / "gates" / "g.yaml").write_text(GATES)
    (repo.work / "app.py").write_text(SAFE)
    (repo.work / ".gitignore").write_text("__pycache__/\n")
    repo.commit("Start")
    repo.git("push", "-q", "origin", "main")
    installed = repo.otel_mcp("hooks", "install")
    assert installed.returncode == 0, installed.stderr
    return repo


@pytest.fixture
def agent(repo: GitRepo) -> Iterator[Runtime]:
    rt = make_runtime(repo.db, AGENT, gates_dir=repo.work / "gates", workspace=repo.work)
    yield rt
    rt.close()


def _everywhere(repo: GitRepo, task: str) -> dict[str, bool]:
    """Whether each place lets `task` through (True) or not, on the code as it is now."""
    env = {"OTEL_MCP_DB": str(repo.db), "OTEL_MCP_AGENT_ID": "someone-else"}
    answers: dict[str, bool] = {}
    verify = repo.otel_mcp("gates", "status", "--task", task)
    assert verify.returncode in (0, 1), verify.stderr
    answers["gates status"] = verify.returncode == 0

    stop = hook("claude-code", repo.work, fixture("claude-code", "Stop", cwd=str(repo.work)), "--task", task, **env)
    assert stop.code in (0, 2), stop.stderr
    answers["claude-code Stop"] = stop.stdout == "" and stop.code == 0
    bash = fixture("claude-code", "PreToolUse-Bash", cwd=str(repo.work))
    bash["tool_input"]["command"] = "git commit -am work && git push"
    commit = hook("claude-code", repo.work, bash, "--task", task, **env)
    assert commit.code == 0, commit.stderr
    answers["claude-code git commit/push"] = commit.stdout == ""

    cursor_stop = fixture("cursor", "stop", workspace_roots=[str(repo.work)])
    answers["cursor stop"] = json.loads(hook("cursor", repo.work, cursor_stop, "--task", task, **env).stdout) == {}
    shell = fixture("cursor", "beforeShellExecution", workspace_roots=[str(repo.work)], cwd=str(repo.work))
    shell["command"] = "git push"
    answers["cursor git push"] = json.loads(hook("cursor", repo.work, shell, "--task", task, **env).stdout) == {}

    # A commit naming the task, with exactly the tree its gates were judged on, pushed through the hook.
    repo.git("commit", "-q", "--allow-empty", "-m", f"Work\n\nTask: {task}")
    sha = repo.head()
    pushed = repo.push()
    answers["git pre-push"] = pushed.returncode == 0 and repo.remote_head() == sha
    if not answers["git pre-push"]:
        repo.git("reset", "-q", "--hard", "HEAD~1")
    return answers


async def test_a_subtask_under_a_passed_parent_gets_the_same_verdict_from_record_task_and_every_hook(
    repo: GitRepo, agent: Runtime
) -> None:
    agent.coordinator.record_task("P", "code_generation", "started")
    run = await agent.runner.run_check("scan", "P")
    assert agent.decisions.submit("secure", "P", [run.span_id]).decision == "pass"

    # First recorded under P: P's pass counts for it, at every place.
    agent.coordinator.record_task("P/sub", "code_generation", "started", parent_task_id="P")
    agent.coordinator.record_task("P/sub", "code_generation", "complete")
    assert _everywhere(repo, "P/sub") == dict.fromkeys(_PLACES, True)
    verify = repo.otel_mcp("gates", "status", "--task", "P/sub")
    assert "PASS  gate secure for P/sub" in verify.stdout and "passed for its parent 'P'" in verify.stdout

    # Naming P only when completing borrows nothing: refused by record_task, and by every place.
    agent.coordinator.record_task("Q", "code_generation", "started")
    with pytest.raises(Conflict, match="no decision for task 'Q' yet"):
        agent.coordinator.record_task("Q", "code_generation", "complete", parent_task_id="P")
    assert _everywhere(repo, "Q") == dict.fromkeys(_PLACES, False)
    verify = repo.otel_mcp("gates", "status", "--task", "Q")
    assert "it has no decision for task 'Q' yet" in verify.stdout


_PLACES = (
    "gates status",
    "claude-code Stop",
    "claude-code git commit/push",
    "cursor stop",
    "cursor git push",
    "git pre-push",
)

"""`otel-mcp hooks run claude-code`: Claude Code's documented payloads in, Claude Code's documented answers out.

Every test feeds a fixture from tests/fixtures/hooks/claude-code (the hooks reference's own
examples) to the real command in a subprocess, against a real store in which agent-red holds task
T, whose completion the `secure` gate guards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.hooks import Agent, Answer, fixture, hook, make_workspace, spawned_hook

pytestmark = pytest.mark.anyio

HOST = "claude-code"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "project")


@pytest.fixture
def agent(workspace: Path) -> Iterator[Agent]:
    a = Agent(workspace)
    yield a
    a.close()


def stop(workspace: Path, *args: str, active: bool = False, session: str = "abc123", **env: str) -> Answer:
    payload = fixture(HOST, "Stop", cwd=str(workspace), stop_hook_active=active, session_id=session)
    return hook(HOST, workspace, payload, *args, **env)


def bash(workspace: Path, command: str, *args: str, **env: str) -> Answer:
    payload = fixture(HOST, "PreToolUse-Bash", cwd=str(workspace))
    payload["tool_input"]["command"] = command
    return hook(HOST, workspace, payload, *args, **env)


def assert_denied(answer: Answer, *parts: str) -> str:
    assert answer.code == 0, answer.stderr
    out = answer.json
    assert list(out) == ["hookSpecificOutput"]
    decision = out["hookSpecificOutput"]
    assert decision["hookEventName"] == "PreToolUse" and decision["permissionDecision"] == "deny"
    reason: str = decision["permissionDecisionReason"]
    for part in parts:
        assert part in reason, reason
    return reason


def assert_no_opinion(answer: Answer) -> None:
    # No output at all: Claude Code's own permission rules apply (an "allow" would skip them).
    assert answer.code == 0 and answer.stdout == "", (answer.stdout, answer.stderr)


async def test_stop_is_blocked_with_what_to_do_until_the_claimed_tasks_gate_passes(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    first = stop(workspace)
    assert first.code == 0, first.stderr
    assert set(first.json) == {"decision", "reason"} and first.json["decision"] == "block"
    reason = first.json["reason"]
    for part in (
        "you are not done",
        "gate 'secure' for task 'T': it has no decision for task 'T' yet",
        "Next: run_check('scan'), then submit_gate_evidence('secure')",
        "record_task(task_id='T', status='complete'",
        "stop check 1 of 3",
    ):
        assert part in reason, reason

    assert await agent.submit_scan("T") == "fail"  # eval( is still there
    failed = stop(workspace, active=True)
    assert failed.json["decision"] == "block" and "is fail" in failed.json["reason"]
    assert "stop check 2 of 3" in failed.json["reason"]

    await agent.fix_and_pass("T")
    done = stop(workspace, active=True)
    assert done.code == 0 and done.stdout == "", done.stdout
    assert not list((workspace / ".otel-mcp" / "hooks").glob("*.json"))  # the series is over

    (workspace / "app.py").write_text("def f(x):\n    return int(x) + 1\n")  # an edit after the pass
    again = stop(workspace)
    assert again.json["decision"] == "block" and "the code changed since" in again.json["reason"]


async def test_after_max_blocks_in_a_row_the_agent_may_stop_and_the_person_is_told_the_work_is_not_done(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    # stop_hook_active is false on every call here: Claude Code has been seen to send false on
    # re-entry, so the count in the store's folder, not the flag, ends the series.
    assert stop(workspace, "--max-blocks", "2").json["decision"] == "block"
    assert "stop check 2 of 2" in stop(workspace, "--max-blocks", "2").json["reason"]
    let_go = stop(workspace, "--max-blocks", "2")
    assert let_go.code == 0 and list(let_go.json) == ["systemMessage"]
    note = let_go.json["systemMessage"]
    assert "letting the agent stop after 2 block(s) in a row, but its work is NOT done" in note
    assert "`otel-mcp gates status --task T`" in note and note in let_go.stderr
    # The next stop starts a new series; another session has a series of its own.
    assert stop(workspace, "--max-blocks", "2").json["decision"] == "block"
    assert "stop check 1 of 2" in stop(workspace, "--max-blocks", "2", session="other").json["reason"]
    assert stop(workspace, "--max-blocks", "0").stdout.startswith('{"systemMessage"')


async def test_without_a_writable_counter_stop_hook_active_alone_ends_the_series(agent: Agent, workspace: Path) -> None:
    agent.start("T")
    (workspace / ".otel-mcp" / "hooks").write_text("a file where the counter folder would go")
    first = stop(workspace, active=False)
    assert first.json["decision"] == "block" and "cannot count blocks" in first.stderr
    reentry = stop(workspace, active=True)
    assert reentry.code == 0 and "its work is NOT done" in reentry.json["systemMessage"]


async def test_subagent_stop_is_judged_like_stop_and_counted_per_subagent(agent: Agent, workspace: Path) -> None:
    agent.start("T")
    payload = fixture(HOST, "SubagentStop", cwd=str(workspace))
    answer = hook(HOST, workspace, payload, "--max-blocks", "1")
    assert answer.code == 0 and answer.json["decision"] == "block"
    assert "submit_gate_evidence('secure')" in answer.json["reason"]
    assert "systemMessage" in hook(HOST, workspace, payload, "--max-blocks", "1").json  # that subagent's cap
    other = hook(HOST, workspace, {**payload, "agent_id": "ghi789"}, "--max-blocks", "1")
    assert other.json["decision"] == "block"
    assert stop(workspace, "--max-blocks", "1").json["decision"] == "block"  # the main agent: its own series


async def test_task_completed_is_refused_with_exit_code_2_until_the_gate_passes(agent: Agent, workspace: Path) -> None:
    agent.start("T")
    payload = fixture(HOST, "TaskCompleted", cwd=str(workspace))
    refused = spawned_hook(HOST, workspace, payload)  # the command a host starts, spawned for real
    assert refused.code == 2 and refused.stdout == ""
    assert refused.stderr.startswith("Task 'Implement user authentication' cannot be marked completed yet.")
    assert "Next: run_check('scan'), then submit_gate_evidence('secure')" in refused.stderr
    await agent.fix_and_pass("T")
    accepted = spawned_hook(HOST, workspace, payload)
    assert accepted.code == 0 and accepted.stdout == "", accepted.stderr


async def test_git_commit_and_push_are_denied_while_the_gate_fails_and_other_commands_pass_untouched(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    documented = hook(HOST, workspace, fixture(HOST, "PreToolUse-Bash", cwd=str(workspace)))  # npm test
    assert_no_opinion(documented)
    for command in ("npm test", "git status", "git log --grep push", "echo 'git push'", "git stash push"):
        assert_no_opinion(bash(workspace, command))
    assert_denied(
        bash(workspace, "git push origin main"),
        "otel-mcp refused `git push`",
        "gate 'secure' for task 'T': it has no decision",
        "run_check('scan'), then submit_gate_evidence('secure')",
        "then run `git push` again",
    )
    assert_denied(bash(workspace, "cd sub && FOO=1 git -C .. commit -am wip"), "refused `git commit`")
    assert_denied(bash(workspace, "npm test && git commit -am x && git push"), "`git commit` and `git push`")
    assert_no_opinion(bash(workspace, "git commit -am wip", "--git", "push"))  # only pushes refused
    assert_denied(bash(workspace, "bash -c 'git push'", "--git", "push"), "refused `git push`")

    await agent.fix_and_pass("T")
    assert_no_opinion(bash(workspace, "git commit -am done && git push"))
    other_tool = fixture(HOST, "PreToolUse-Bash", cwd=str(workspace), tool_name="Write")
    assert_no_opinion(hook(HOST, workspace, other_tool))


async def test_tasks_come_from_live_claims_and_from_task_options(agent: Agent, workspace: Path) -> None:
    assert_no_opinion(stop(workspace))  # agent-red holds nothing: nothing to check
    agent.runtime.coordinator.record_task("U", "code_generation", "started")  # recorded, never claimed
    assert_no_opinion(stop(workspace))
    named = stop(workspace, "--task", "U")
    assert "gate 'secure' for task 'U'" in named.json["reason"]
    assert "task 'U'" in stop(workspace, OTEL_MCP_TASK="U", session="s2").json["reason"]
    agent.start("T")
    both = stop(workspace, "--task", "U", session="s5")
    assert "The gates of tasks 'U', 'T' you are working on" in both.json["reason"]
    assert "record_task(task_id='U', status='complete', ...) and record_task(task_id='T'" in both.json["reason"]
    assert agent.runtime.claims.release("T").released
    assert_no_opinion(stop(workspace, session="s3"))  # released: no longer the session's task
    unguarded = stop(workspace, "--task", "U", "--gate", "no-such-gate", session="s4")
    assert "gate 'no-such-gate' for task 'U': it is not defined" in unguarded.json["reason"]
    nobody = stop(workspace, OTEL_MCP_AGENT_ID="")
    assert_no_opinion(nobody)
    assert "no agent id (OTEL_MCP_AGENT_ID or --agent-id)" in nobody.stderr


def test_a_project_without_a_store_is_left_alone_and_no_store_is_created(workspace: Path) -> None:
    assert_no_opinion(stop(workspace))
    assert_no_opinion(bash(workspace, "git push"))
    assert not (workspace / ".otel-mcp").exists()


def test_a_store_that_cannot_be_read_lets_stops_through_but_refuses_commits_and_pushes(workspace: Path) -> None:
    (workspace / ".otel-mcp").mkdir()
    (workspace / ".otel-mcp" / "telemetry.db").write_bytes(b"this is not a SQLite database" * 100)
    fail_open = stop(workspace)
    assert fail_open.code == 0 and "could not check the gates of the agent's tasks" in fail_open.json["systemMessage"]
    task = hook(HOST, workspace, fixture(HOST, "TaskCompleted", cwd=str(workspace)))
    assert task.code == 0 and "the task completion was let through" in task.json["systemMessage"]
    assert_denied(bash(workspace, "git push"), "otel-mcp refused `git push`: it could not check the gates")
    assert_no_opinion(bash(workspace, "npm test"))  # decided without the store


def test_bad_hook_options_fail_open_for_stops_and_closed_for_pushes(workspace: Path) -> None:
    bad = stop(workspace, "--max-blocks", "lots")
    assert bad.code == 0 and "--max-blocks: invalid int value" in bad.json["systemMessage"]
    assert_denied(bash(workspace, "git push", "--frobnicate"), "unrecognized arguments: --frobnicate")
    assert_no_opinion(bash(workspace, "ls", "--frobnicate"))
    assert "--task / OTEL_MCP_TASK 'has s" in stop(workspace, "--task", "has spaces").json["systemMessage"]


@pytest.mark.parametrize(
    "payload", ["", "not json", "[1, 2]", '"Stop"', '{"hook_event_name": "Stop"', "{" * 100_000 + "}" * 100_000]
)
def test_a_malformed_payload_is_let_through_with_a_note_and_never_a_traceback(workspace: Path, payload: str) -> None:
    answer = hook(HOST, workspace, payload)
    assert answer.code == 0 and answer.stdout == ""
    assert answer.stderr.startswith("otel-mcp hooks run claude-code: ") and "Traceback" not in answer.stderr


def test_events_and_fields_it_does_not_judge_are_let_through(workspace: Path) -> None:
    for payload in (
        {"hook_event_name": "SessionStart", "session_id": "x"},
        {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "git push"},
        {"hook_event_name": "PreToolUse", "tool_name": "Bash"},
    ):
        answer = hook(HOST, workspace, payload)
        assert answer.code == 0 and answer.stdout == "" and "Traceback" not in answer.stderr


def test_a_shell_command_that_neither_commits_nor_pushes_is_decided_without_loading_the_store_or_gates() -> None:
    probe = (
        "import io, sys; from otel_mcp.hooks import claude_code; "
        'p = io.StringIO(\'{"hook_event_name": "PreToolUse", "tool_name": "Bash", '
        '"tool_input": {"command": "pytest -q && ruff check ."}}\'); '
        "out = io.StringIO(); code = claude_code.main([], p, out, sys.stderr); "
        "heavy = [m for m in ('otel_mcp.runtime', 'otel_mcp.store', 'otel_mcp.core', 'pydantic') if m in sys.modules]; "
        "print(code, repr(out.getvalue()), heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, timeout=60
    )
    assert done.stdout.strip() == "0 '' []", done.stdout + done.stderr


def test_the_readme_snippet_is_valid_settings_json_running_this_command() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("### Claude Code", readme.index("## Enforcing gates"))
    block = readme[
        readme.index("```json", start) + len("```json") : readme.index("```", readme.index("```json", start) + 7)
    ]
    settings = json.loads(block)
    hooks = settings["hooks"]
    assert {"Stop", "TaskCompleted", "PreToolUse"} <= set(hooks)
    assert hooks["PreToolUse"][0]["matcher"] == "Bash"
    for entries in hooks.values():
        for handler in entries[0]["hooks"]:
            assert handler["type"] == "command" and "otel-mcp hooks run claude-code" in handler["command"]

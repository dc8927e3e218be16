"""`otel-mcp hooks run cursor`: Cursor's documented payloads in, Cursor's documented answers out.

Every test feeds a fixture from tests/fixtures/hooks/cursor to the real command in a subprocess,
against a real store in which agent-red holds task T, whose completion the `secure` gate guards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.hooks import Agent, Answer, fixture, hook, make_workspace, spawned_hook

pytestmark = pytest.mark.anyio

HOST = "cursor"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "project")


@pytest.fixture
def agent(workspace: Path) -> Iterator[Agent]:
    a = Agent(workspace)
    yield a
    a.close()


def stop(workspace: Path, *args: str, **fields: object) -> Answer:
    payload = fixture(HOST, "stop", workspace_roots=[str(workspace)], **fields)
    return hook(HOST, workspace, payload, *args)


def shell(workspace: Path, command: str, *args: str) -> Answer:
    payload = fixture(HOST, "beforeShellExecution", workspace_roots=[str(workspace)], cwd=str(workspace))
    payload["command"] = command
    return hook(HOST, workspace, payload, *args)


def assert_denied(answer: Answer, *parts: str) -> None:
    assert answer.code == 0, answer.stderr
    out = answer.json
    assert set(out) == {"permission", "user_message", "agent_message"} and out["permission"] == "deny"
    assert out["user_message"].startswith("otel-mcp refused git ")
    for part in parts:
        assert part in out["agent_message"], out["agent_message"]


def assert_no_opinion(answer: Answer) -> None:
    assert answer.code == 0 and answer.json == {}, (answer.stdout, answer.stderr)


async def test_stop_is_followed_up_with_what_to_do_until_the_claimed_tasks_gate_passes(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    first = stop(workspace)
    assert first.code == 0 and list(first.json) == ["followup_message"]
    message = first.json["followup_message"]
    for part in (
        "you are not done",
        "gate 'secure' for task 'T': it has no decision for task 'T' yet",
        "Next: run_check('scan'), then submit_gate_evidence('secure')",
        "record_task(task_id='T', status='complete'",
        "stop check 1 of 3",
    ):
        assert part in message, message
    assert await agent.submit_scan("T") == "fail"
    second = stop(workspace, loop_count=1)
    assert "is fail" in second.json["followup_message"] and "stop check 2 of 3" in second.json["followup_message"]
    await agent.fix_and_pass("T")
    assert_no_opinion(stop(workspace, loop_count=2))


async def test_follow_ups_end_at_max_blocks_by_cursors_loop_count_and_never_after_an_abort(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    assert "followup_message" in stop(workspace, loop_count=2).json
    done = stop(workspace, loop_count=3)  # three follow-ups already sent: the default cap
    assert_no_opinion(done)
    assert "letting the agent stop after 3 block(s) in a row, but its work is NOT done" in done.stderr
    assert_no_opinion(stop(workspace, "--max-blocks", "1", loop_count=1))
    for status in ("aborted", "error"):
        assert_no_opinion(stop(workspace, status=status))
    # A stop without loop_count (an older Cursor) is counted in the store's folder instead.
    bare = fixture(HOST, "stop", workspace_roots=[str(workspace)])
    del bare["loop_count"]
    assert "followup_message" in hook(HOST, workspace, bare, "--max-blocks", "1").json
    assert_no_opinion(hook(HOST, workspace, bare, "--max-blocks", "1"))


async def test_subagent_stop_is_followed_up_only_when_completed(agent: Agent, workspace: Path) -> None:
    agent.start("T")
    payload = {**fixture(HOST, "stop", workspace_roots=[str(workspace)]), "hook_event_name": "subagentStop"}
    # The command a host starts, spawned for real (the module's other hooks are forked).
    assert "followup_message" in spawned_hook(HOST, workspace, payload).json
    assert_no_opinion(spawned_hook(HOST, workspace, {**payload, "status": "aborted"}))


async def test_git_commit_and_push_are_denied_while_the_gate_fails_and_other_commands_get_no_opinion(
    agent: Agent, workspace: Path
) -> None:
    agent.start("T")
    documented = fixture(HOST, "beforeShellExecution", workspace_roots=[str(workspace)], cwd=str(workspace))
    assert_no_opinion(hook(HOST, workspace, documented))  # npm install express
    for command in ("npm test", "git status", "git diff", "echo 'git push'"):
        assert_no_opinion(shell(workspace, command))
    assert_denied(
        shell(workspace, "git push"),
        "otel-mcp refused `git push`",
        "gate 'secure' for task 'T'",
        "run_check('scan'), then submit_gate_evidence('secure')",
    )
    assert_denied(shell(workspace, "git add -A && git commit -m 'wip'"), "refused `git commit`")
    assert_no_opinion(shell(workspace, "git commit -m wip", "--git", "push"))
    await agent.fix_and_pass("T")
    assert_no_opinion(shell(workspace, "git commit -am done && git push"))


def test_a_store_that_cannot_be_read_gets_no_follow_up_but_pushes_are_denied(workspace: Path) -> None:
    (workspace / ".otel-mcp").mkdir()
    (workspace / ".otel-mcp" / "telemetry.db").write_bytes(b"this is not a SQLite database" * 100)
    fail_open = stop(workspace)
    assert_no_opinion(fail_open)
    assert "could not check the gates" in fail_open.stderr
    assert_denied(shell(workspace, "git push"), "it could not check the gates")
    assert_no_opinion(shell(workspace, "ls -la"))
    assert_denied(shell(workspace, "git push", "--max-blocks", "-1"), "--max-blocks must be between 0 and 100")


@pytest.mark.parametrize("payload", ["", "not json", "[]", '{"hook_event_name": "stop"'])
def test_a_malformed_payload_gets_no_opinion_and_a_note(workspace: Path, payload: str) -> None:
    answer = hook(HOST, workspace, payload)
    assert_no_opinion(answer)
    assert answer.stderr.startswith("otel-mcp hooks run cursor: ") and "Traceback" not in answer.stderr


def test_events_it_does_not_judge_get_no_opinion(workspace: Path) -> None:
    for payload in (
        {"hook_event_name": "afterFileEdit", "file_path": "/x", "edits": []},
        {"hook_event_name": "beforeShellExecution", "command": ["git", "push"]},
        {"hook_event_name": "stop", "status": "completed", "workspace_roots": "not a list"},
    ):
        answer = hook(HOST, workspace, payload)
        assert_no_opinion(answer)
        assert "Traceback" not in answer.stderr


def test_the_readme_snippet_is_valid_hooks_json_running_this_command() -> None:
    readme = (REPO / "README.md").read_text()
    start = readme.index("### Cursor", readme.index("## Enforcing gates"))
    opening = readme.index("```json", start) + len("```json")
    config = json.loads(readme[opening : readme.index("```", opening)])
    assert config["version"] == 1 and set(config["hooks"]) == {"stop", "beforeShellExecution"}
    assert config["hooks"]["stop"][0]["loop_limit"] >= 3  # not below the hook's own cap
    for entries in config["hooks"].values():
        assert "otel-mcp hooks run cursor" in entries[0]["command"]

"""One scripted demo agent (an MCP client over stdio to its own server), the steps every role shares, and the result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from otel_mcp.commands._demo_git import DemoRepo, worktree_branch

__all__ = ["DELIVERABLE", "DemoResult"]

DELIVERABLE = "demo/calc"


@dataclass
class DemoResult:
    workspace: Path
    db_path: Path
    worktrees: dict[str, Path] = field(default_factory=dict)  # where each agent works
    decisions: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # what the gates stopped: 'completion', 'push'
    accepted: list[str] = field(default_factory=list)  # the same steps once the gates passed
    pushes: bool = False  # git is installed: the push steps ran
    seconds: float = 0.0

    @property
    def first_attempts(self) -> dict[str, str]:
        return {d["gate"]: d["decision"] for d in self.decisions if d["attempt"] == 1}

    @property
    def final(self) -> dict[str, str]:
        return {d["gate"]: d["decision"] for d in self.decisions}


class _Agent:
    """One scripted agent: an MCP client over stdio to its own server process."""

    def __init__(self, name: str, client: Client, say: Callable[[str, str], None], worktree: Path) -> None:
        self.name = name
        self.client = client
        self._say = say
        self.worktree = worktree

    def say(self, text: str) -> None:
        self._say(self.name, text)

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.client.call_tool(tool, arguments)
        if result.is_error:
            text = " ".join(getattr(b, "text", "") for b in result.content)
            raise RuntimeError(f"{self.name}: {tool} failed: {text}")
        assert result.structured_content is not None
        content: dict[str, Any] = result.structured_content
        return content

    async def attempt(self, tool: str, **arguments: Any) -> str | None:
        """Call a tool that may be refused; the refusal's text, or None when it went through."""
        result = await self.client.call_tool(tool, arguments)
        return " ".join(getattr(b, "text", "") for b in result.content) if result.is_error else None

    async def record(self, task_id: str, task_type: str, status: str, **extra: Any) -> dict[str, Any]:
        return await self.call("record_task", task_id=task_id, task_type=task_type, status=status, **extra)

    async def take(self, task_type: str) -> str | None:
        """find_ready + claim_task: the oldest ready task of this type that nobody else holds."""
        ready = await self.call("find_ready", task_type=task_type)
        for task in ready["tasks"]:
            claim = await self.call("claim_task", task_id=task["task_id"], lease_seconds=120)
            if claim["granted"]:
                self.say(f"claimed {task['task_id']}")
                return str(task["task_id"])
        return None

    async def run_check(self, check: str) -> dict[str, Any]:
        run = await self.call("run_check", check=check, task_id=DELIVERABLE)
        facts = ", ".join(f"{k}={v}" for k, v in sorted(run["attributes"].items()) if not k.startswith("otel_mcp"))
        self.say(f"ran {check}: exit {run['exit_code']}, {facts} -> span {run['span_id']}")
        return run

    async def submit(self, gate: str, requirement: str, span_id: str, result: DemoResult) -> dict[str, Any]:
        decision = await self.call(
            "submit_gate_evidence",
            gate=gate,
            task_id=DELIVERABLE,
            evidence=[{"requirement": requirement, "span_id": span_id}],
        )
        result.decisions.append(decision)
        verdict = decision["decision"].upper()
        self.say(f"gate {gate} attempt {decision['attempt']}: {verdict}")
        for reason in decision["reasons"]:
            self.say(f"    reason: {reason}")
        return decision


async def _wait_for(agent: _Agent, task_type: str, deadline: float) -> str:
    # Polling the shared record is how stigmergy works: the work appears when its inputs are done.
    while time.monotonic() < deadline:
        task = await agent.take(task_type)
        if task is not None:
            return task
        await anyio.sleep(0.05)
    raise TimeoutError(f"{agent.name} found no ready {task_type} task in time")


async def _merge_coder(a: _Agent, repo: DemoRepo | None, *, message: str | None = None) -> None:
    """Bring the coder's branch into this agent's worktree, so its checks examine the coder's code."""
    if repo is None:
        return  # one folder for all: the code is already here
    branch = worktree_branch("coder")
    outcome = await anyio.to_thread.run_sync(lambda: repo.merge(a.name, branch, message=message))
    if not outcome.ok:
        raise RuntimeError(f"{a.name}: git merge {branch} failed: {outcome.text[:300]}")
    a.say(f"merged {branch} into {worktree_branch(a.name)}" + (" (a merge commit)" if message else ""))


async def _commit(a: _Agent, repo: DemoRepo | None, message: str) -> None:
    if repo is None:
        return
    outcome = await anyio.to_thread.run_sync(repo.commit, a.name, message, DELIVERABLE)
    if not outcome.ok:
        raise RuntimeError(f"{a.name}: git commit failed: {outcome.text[:300]}")
    a.say(f"committed on {worktree_branch(a.name)}: {message}")


async def _push(a: _Agent, repo: DemoRepo | None, result: DemoResult) -> None:
    """Push the agent's branch to the remote's main: the pre-push hook asks the release gate."""
    if repo is None:
        return
    outcome = await anyio.to_thread.run_sync(repo.push, a.name)
    if outcome.ok:
        result.accepted.append("push")
        a.say(f"git push accepted: the release gate stands passed for {DELIVERABLE} on the pushed tree")
    else:
        result.refusals.append("push")
        refused = next((line for line in outcome.text.splitlines() if "gate" in line), outcome.text[:200])
        a.say(f"git push refused by the pre-push hook: {refused.strip()}")

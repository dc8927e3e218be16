"""Agent-host hooks driven as the hosts drive them: the documented payloads fed to the real command.

A workspace holds one gate guarding the completion of `code_generation` tasks, with a quick real
check (it counts `eval(` in app.py), and a real store. `Agent` plays the agent through the core
services of its own runtime (record, claim, run the check, submit); `hook` runs `python -m otel_mcp
hooks run HOST` in a subprocess with one fixture payload on stdin and only the environment a host
config gives it (forked from the worker's zygote; `spawned_hook` spawns it: see `tests.support.forkserver`).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_mcp.runtime import Runtime
from tests.conftest import REPO, make_runtime
from tests.support.forkserver import otel_mcp_command

FIXTURES = REPO / "tests" / "fixtures" / "hooks"
AGENT = "agent-red"

GATES = """\
checks:
  scan:
    span_name: scan_complete
    command: ["{python}", "-c", "import json; print(json.dumps({'high': open('app.py').read().count('eval(')}))"]
    attributes:
      high: "json:/high"
gates:
  - name: secure
    guards: {task_types: [code_generation], status: complete}
    requirements:
      - name: scan
        span_name: scan_complete
        check: scan
        sources: [runner]
        where: {high: 0}
"""
UNSAFE = "def f(x):\n    return eval(x)\n"
SAFE = "def f(x):\n    return int(x)\n"


def make_workspace(root: Path) -> Path:
    (root / "gates").mkdir(parents=True)
    (root / "gates" / "g.yaml").write_text(GATES)
    (root / "app.py").write_text(UNSAFE)
    return root


def fixture(host: str, name: str, **overrides: Any) -> dict[str, Any]:
    """A documented payload (tests/fixtures/hooks/HOST/NAME.json) with some fields replaced."""
    payload: dict[str, Any] = json.loads((FIXTURES / host / f"{name}.json").read_text())
    payload.update(overrides)
    return payload


@dataclass
class Answer:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


def hook(host: str, workspace: Path, payload: dict[str, Any] | str, *args: str, **env: str) -> Answer:
    """`python -m otel_mcp hooks run HOST ARGS` in the workspace, as a host runs it, `payload` on stdin.

    Forked from the worker's zygote: a hook's own process, stdio, env and cwd without ~0.2 s of imports
    (each host's test module keeps a real spawn, `spawned_hook`, for what a host really starts)."""
    return _run(host, workspace, payload, args, env, fork=True)


def spawned_hook(host: str, workspace: Path, payload: dict[str, Any] | str, *args: str, **env: str) -> Answer:
    """`hook`, spawned for real: the command a host starts."""
    return _run(host, workspace, payload, args, env, fork=False)


def _run(
    host: str, workspace: Path, payload: dict[str, Any] | str, args: tuple[str, ...], env: dict[str, str], *, fork: bool
) -> Answer:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_AGENT_ID": AGENT,
        # What each host exports to its hooks: the project folder.
        ("CLAUDE_PROJECT_DIR" if host == "claude-code" else "CURSOR_PROJECT_DIR"): str(workspace),
    }
    base.update(env)
    done = subprocess.run(
        otel_mcp_command(["hooks", "run", host, *args], base, fork=fork),
        input=payload if isinstance(payload, str) else json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=workspace,
        env={k: v for k, v in base.items() if v},
        timeout=120,
    )
    return Answer(done.returncode, done.stdout, done.stderr)


class Agent:
    """The agent the hooks judge, acting through its own runtime on the same store."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.runtime: Runtime = make_runtime(
            workspace / ".otel-mcp" / "telemetry.db", AGENT, gates_dir=workspace / "gates", workspace=workspace
        )

    def start(self, task: str = "T") -> None:
        self.runtime.coordinator.record_task(task, "code_generation", "started")
        assert self.runtime.claims.claim(task, 600).granted

    async def submit_scan(self, task: str = "T") -> str:
        """Run the check and submit it; returns the decision (pass or fail)."""
        run = await self.runtime.runner.run_check("scan", task)
        return self.runtime.decisions.submit("secure", task, [run.span_id]).decision

    async def fix_and_pass(self, task: str = "T") -> None:
        (self.workspace / "app.py").write_text(SAFE)
        assert await self.submit_scan(task) == "pass"

    def close(self) -> None:
        self.runtime.close()

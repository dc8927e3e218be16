"""The scripted agents behind `otel-mcp demo`: four real processes coordinate through the embedded store.

Each agent is an MCP client talking over stdio to its own `otel-mcp serve`, as Cursor or Claude
would run it; the roles are scripted so no model is needed. In a scratch workspace they plan a
small task graph, find ready work, claim it, edit a small Python project, run real checks (bandit,
pytest, ruff) and pass gates by citing the runner spans — the security gate fails on the first
attempt (the code shells out with `shell=True`) and passes after the coder's fix. Gates also stop
progress: recording the scan complete is refused while the security gate fails, and (when git is
installed) the workspace is a repository whose pre-push hook refuses the coder's eager push of
the unchecked code, then accepts the planner's push once the release gate passed on that commit.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import yaml
from mcp import Client, StdioServerParameters

import otel_mcp
from otel_mcp.commands._demo_git import DemoRepo, git_available

__all__ = ["AGENTS", "DemoResult", "missing_programs", "run_demo", "write_workspace"]

DELIVERABLE = "demo/calc"
AGENTS = ("planner", "coder", "tester", "security")

_APP_V1 = '''\
"""A tiny calculator service."""

import subprocess


def add(a: int, b: int) -> int:
    return a + b


def multiply(a: int, b: int) -> int:
    return a * b


def announce(result: int) -> None:
    # Shells out with user-influenced text: bandit flags this as high severity (B602).
    subprocess.call(f"echo result={result}", shell=True)
'''

_APP_V2 = '''\
"""A tiny calculator service."""

import subprocess


def add(a: int, b: int) -> int:
    return a + b


def multiply(a: int, b: int) -> int:
    return a * b


def announce(result: int) -> None:
    # An argument vector, no shell: nothing for the shell to interpret.
    subprocess.call(["echo", f"result={result}"])
'''

_TESTS = """\
from app.calc import add, multiply


def test_add() -> None:
    assert add(2, 3) == 5


def test_multiply() -> None:
    assert multiply(4, 5) == 20
"""

# The demo's own gates, written into the scratch workspace: the example gates in the repo's gates/
# are for real projects; this file keeps the demo independent of how an admin edits those.
_GATES = """\
checks:
  bandit:
    description: Security scan of the app package with bandit
    span_name: security_scan_complete
    command: ["{python}", "-I", "-m", "bandit", "-q", "-f", "json", "--ignore-nosec", "--ini", "{config:bandit.ini}",
              "{files}"]
    files: ["app/*.py"]
    config:
      bandit.ini: "[bandit]\\n"
    examined: scan.lines
    ok_exit_codes: [0, 1]
    timeout_seconds: 120
    attributes:
      vulnerabilities.high: "json:/metrics/_totals/SEVERITY.HIGH"
      vulnerabilities.medium: "json:/metrics/_totals/SEVERITY.MEDIUM"
      issues.count: "count:/results"
      scan.lines: "json:/metrics/_totals/loc"
  pytest:
    description: The project's unit tests
    span_name: test_complete
    command: ["{python}", "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "{config:pytest.ini}",
              "--rootdir", ".", "--junitxml", "{report}", "tests"]
    config:
      pytest.ini: "[pytest]\\npythonpath = {workspace}\\n"
    runs_in: copy
    examined: tests.collected
    timeout_seconds: 120
    attributes:
      tests.collected: "junit:tests"
      tests.failed: "junit:failures"
  ruff:
    description: Lint with ruff
    span_name: lint_complete
    command: ["{python}", "-I", "-m", "ruff", "check", "--isolated", "--no-cache", "--ignore-noqa",
              "--output-format", "json", "{files}"]
    files: ["app/*.py", "tests/*.py"]
    examined: check.files
    ok_exit_codes: [0, 1]
    timeout_seconds: 120
    attributes:
      lint.violations: "count:"

# Each requirement names its check, so its evidence must come from that check as defined here, run on
# the code as it is when the gate decides (code: current is the default for check evidence).
gates:
  - name: security
    description: No high-severity finding in a scan of the current code
    guards: {task_types: [security_scan], status: complete}   # no scan task is complete before it passes
    requirements:
      - name: scan
        span_name: security_scan_complete
        check: bandit
        where: {vulnerabilities.high: 0}
        sources: [runner]
        attested: true
  - name: tests
    description: The tests pass on the current code
    requirements:
      - name: pytest
        span_name: test_complete
        check: pytest
        where: {tests.failed: 0, tests.collected: ">= 1"}
        status: ok
        sources: [runner]
        attested: true
  - name: release
    description: Secure, tested and lint-clean, all on the same, current code
    guards: {task_types: [plan], status: complete}   # the deliverable is done, or pushed, only once released
    requires_gates: [security, tests]
    requirements:
      - name: lint
        span_name: lint_complete
        check: ruff
        where: {lint.violations: 0}
        sources: [runner]
        attested: true
"""


def missing_programs() -> list[str]:
    """What the demo's checks run that is not installed for this interpreter (the servers' `{python}`).

    Read from the demo's own gate file, so it stays right when the checks change: `{python} -m X`
    needs module X importable here, any other command its program on PATH.
    """
    spec = yaml.safe_load(_GATES) or {}
    missing = []
    for check in (spec.get("checks") or {}).values():
        argv = [str(a) for a in (check or {}).get("command") or []]
        if argv[:1] == ["{python}"] and "-m" in argv[1:-1]:  # {python} [-I ...] -m MODULE
            module = argv[argv.index("-m") + 1]
            if not _importable(module):
                missing.append(module)
        elif argv and "{" not in argv[0] and shutil.which(argv[0]) is None:
            missing.append(argv[0])
    return missing


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a dotted name whose parent package is missing
        return False


def write_workspace(root: Path) -> None:
    """The small project the agents work on, and the demo's gates."""
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "gates").mkdir(exist_ok=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_calc.py").write_text(_TESTS)
    (root / "gates" / "demo.yaml").write_text(_GATES)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')


@dataclass
class DemoResult:
    workspace: Path
    db_path: Path
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

    def __init__(self, name: str, client: Client, say: Callable[[str, str], None]) -> None:
        self.name = name
        self.client = client
        self._say = say

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


async def _push(a: _Agent, repo: DemoRepo | None, message: str, result: DemoResult) -> None:
    """Commit the workspace naming the deliverable and push: the pre-push hook asks the release gate."""
    if repo is None:
        return
    outcome = await anyio.to_thread.run_sync(repo.commit_and_push, message, DELIVERABLE)
    if outcome.ok:
        result.accepted.append("push")
        a.say(f"git push accepted: the release gate stands passed for {DELIVERABLE} on the pushed commit")
    else:
        result.refusals.append("push")
        refused = next((line for line in outcome.text.splitlines() if "gate" in line), outcome.text[:200])
        a.say(f"git push refused by the pre-push hook: {refused.strip()}")


async def _planner(a: _Agent, deadline: float, result: DemoResult, repo: DemoRepo | None) -> None:
    await a.record(DELIVERABLE, "plan", "planned", summary="Ship the calculator: implement, test, scan, release")
    graph = [
        ("demo/calc/implement", "code_generation", []),
        ("demo/calc/scan", "security_scan", ["demo/calc/implement"]),
        # Tested after the scan passes: a test run that a security fix overtakes speaks for old code.
        ("demo/calc/test", "test", ["demo/calc/scan"]),
        ("demo/calc/release", "release", ["demo/calc/test", "demo/calc/scan"]),
    ]
    for task_id, task_type, deps in graph:
        await a.record(task_id, task_type, "planned", parent_task_id=DELIVERABLE, depends_on=deps)
    a.say(f"planned {DELIVERABLE}: implement -> scan -> test -> release")

    task = await _wait_for(a, "release", deadline)
    await a.record(task, "release", "started", parent_task_id=DELIVERABLE)
    lint = await a.run_check("ruff")
    decision = await a.submit("release", "lint", lint["span_id"], result)
    if decision["decision"] == "fail" and any("gate 'tests'" in r for r in decision["reasons"]):
        # The tests passed before the security fix changed the code: they must pass again on this code.
        a.say("the tests passed on older code; running them again on the code as it is now")
        rerun = await a.run_check("pytest")
        await a.submit("tests", "pytest", rerun["span_id"], result)
        decision = await a.submit("release", "lint", lint["span_id"], result)
    status = "complete" if decision["decision"] == "pass" else "failed"
    await a.record(task, "release", status, parent_task_id=DELIVERABLE, attributes={"gate.release": status})
    await a.call("release_task", task_id=task)
    if status == "complete":
        await _push(a, repo, "announce() without a shell", result)
    pre = await a.call("check_prerequisites", task_id=DELIVERABLE)
    await a.record(DELIVERABLE, "plan", "complete" if pre["ready"] else "failed", summary=pre["reason"])
    a.say(f"{DELIVERABLE}: {pre['reason']}")


async def _coder(a: _Agent, workspace: Path, deadline: float, result: DemoResult, repo: DemoRepo | None) -> None:
    task = await _wait_for(a, "code_generation", deadline)
    await a.record(task, "code_generation", "started", parent_task_id=DELIVERABLE)
    (workspace / "app" / "calc.py").write_text(_APP_V1)
    await a.record(
        task, "code_generation", "complete", parent_task_id=DELIVERABLE, attributes={"files.changed": ["app/calc.py"]}
    )
    await a.call("release_task", task_id=task)
    a.say("wrote app/calc.py")
    # Eager to ship: nothing has been checked yet, so the hook refuses the push.
    await _push(a, repo, "calculator", result)

    fix = await _wait_for(a, "fix", deadline)
    (workspace / "app" / "calc.py").write_text(_APP_V2)
    await a.record(
        fix,
        "fix",
        "complete",
        parent_task_id=DELIVERABLE,
        attributes={"files.changed": ["app/calc.py"]},
        summary="announce() no longer uses a shell",
    )
    await a.call("release_task", task_id=fix)
    a.say("fixed app/calc.py: subprocess without shell=True")


async def _tester(a: _Agent, deadline: float, result: DemoResult) -> None:
    task = await _wait_for(a, "test", deadline)
    await a.record(task, "test", "started", parent_task_id=DELIVERABLE)
    for _ in range(3):
        run = await a.run_check("pytest")
        decision = await a.submit("tests", "pytest", run["span_id"], result)
        # Another agent editing the code meanwhile makes a run speak for no one state of it: run again.
        if decision["decision"] == "pass" or not any("code changed" in r for r in decision["reasons"]):
            break
        a.say("the code changed while the tests ran; running them again")
    status = "complete" if decision["decision"] == "pass" else "failed"
    await a.record(
        task,
        "test",
        status,
        parent_task_id=DELIVERABLE,
        attributes={"tests.collected": run["attributes"].get("tests.collected", 0)},
    )
    await a.call("release_task", task_id=task)


async def _security(a: _Agent, deadline: float, result: DemoResult) -> None:
    task = await _wait_for(a, "security_scan", deadline)
    await a.record(task, "security_scan", "started", parent_task_id=DELIVERABLE)
    for attempt in range(1, 4):
        scan = await a.run_check("bandit")
        decision = await a.submit("security", "scan", scan["span_id"], result)
        if decision["decision"] == "pass":
            if attempt > 1:
                result.accepted.append("completion")
                a.say("the security gate passed on the fixed code: recording the scan complete is accepted now")
            await a.record(
                task,
                "security_scan",
                "complete",
                parent_task_id=DELIVERABLE,
                attributes={"vulnerabilities.high": 0, "attempts": attempt},
            )
            await a.call("release_task", task_id=task)
            return
        if attempt == 1:
            # A hasty agent would call it done anyway: the gate guards that transition.
            refused = await a.attempt(
                "record_task", task_id=task, task_type="security_scan", status="complete", parent_task_id=DELIVERABLE
            )
            if refused is not None:
                result.refusals.append("completion")
                a.say("record_task(complete) refused: " + _first_sentence(refused))
        # Not our code to change: hand a fix to whoever writes code, and wait for it in the record.
        fix = f"demo/calc/fix-{attempt}"
        await a.record(fix, "fix", "planned", parent_task_id=DELIVERABLE, summary="; ".join(decision["reasons"])[:1900])
        await a.record(
            task, "security_scan", "blocked", parent_task_id=DELIVERABLE, depends_on=[fix], summary=f"waiting on {fix}"
        )
        a.say(f"asked for {fix}; waiting for it in the shared record")
        while time.monotonic() < deadline:
            pre = await a.call("check_prerequisites", task_id=task)
            if pre["ready"]:
                break
            await anyio.sleep(0.05)
        else:
            raise TimeoutError("the fix never arrived")
        await a.call("claim_task", task_id=task, lease_seconds=120)  # renew before scanning again
    raise RuntimeError("the security gate still fails after three fixes")


def _server_env(name: str, workspace: Path, db_path: Path) -> dict[str, str]:
    env = {
        "OTEL_MCP_AGENT_ID": name,
        "OTEL_MCP_WORKSPACE": str(workspace),
        "OTEL_MCP_DB": str(db_path),
        "OTEL_MCP_GATES_DIR": str(workspace / "gates"),
    }
    # Let the child import otel_mcp the way this process does (an installed package or a checkout).
    package_root = str(Path(otel_mcp.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    return env


def _server(name: str, workspace: Path, db_path: Path) -> StdioServerParameters:
    env = _server_env(name, workspace, db_path)
    return StdioServerParameters(command=sys.executable, args=["-m", "otel_mcp", "serve"], env=env, cwd=str(workspace))


async def run_demo(workspace: Path, say: Callable[[str, str], None], timeout_s: float = 120.0) -> DemoResult:
    """Run the scripted agents in `workspace` (created if missing) and return their gate decisions."""
    workspace.mkdir(parents=True, exist_ok=True)
    write_workspace(workspace)
    db_path = workspace / ".otel-mcp" / "telemetry.db"
    result = DemoResult(workspace=workspace, db_path=db_path)
    repo = None
    if git_available():
        # The workspace as a repository with the pre-push hook; its committed gates are the ones in force.
        repo = DemoRepo(workspace, _server_env("git-hooks", workspace, db_path))
        await anyio.to_thread.run_sync(repo.create)
        result.pushes = True
    started = time.monotonic()
    deadline = started + timeout_s
    roles: dict[str, Callable[[_Agent], Awaitable[None]]] = {
        "planner": lambda a: _planner(a, deadline, result, repo),
        "coder": lambda a: _coder(a, workspace, deadline, result, repo),
        "tester": lambda a: _tester(a, deadline, result),
        "security": lambda a: _security(a, deadline, result),
    }

    async def agent(name: str) -> None:
        # Each agent owns its connection, as each host window owns its server process.
        async with Client(_server(name, workspace, db_path)) as client:
            say(name, "connected to its own otel-mcp server over stdio")
            await roles[name](_Agent(name, client, say))

    with anyio.fail_after(timeout_s):
        async with anyio.create_task_group() as tg:
            for name in AGENTS:
                tg.start_soon(agent, name)
    result.seconds = time.monotonic() - started
    return result


def _first_sentence(text: str) -> str:
    """A refusal's gist for the demo's log: up to the first gate's reason."""
    text = text.removeprefix("Error executing tool record_task: ")
    return text if len(text) <= 160 else text[:157] + "..."


def explain() -> str:
    return textwrap.dedent(__doc__ or "").strip()

"""The small project the demo's agents work on: a calculator (before and after its fix), its tests, its gates."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import yaml

__all__ = ["MCP_CONFIG", "missing_programs", "write_workspace"]

# The project's MCP config, committed and shared by every worktree, exactly as the README's "Connect
# your agents" shows for Claude Code: no path in it, each server learns its worktree from the host.
MCP_CONFIG = """\
{
  "mcpServers": {
    "otel-mcp": {
      "command": "otel-mcp",
      "args": ["serve"],
      "env": {"OTEL_MCP_AGENT_ID": "${OTEL_MCP_AGENT_ID:-}"}
    }
  }
}
"""

# Agents' worktrees nest inside the main checkout, as `claude --worktree` makes them: not its code.
_GITIGNORE = ".otel-mcp/\n.claude/worktrees/\n__pycache__/\n"

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
    """The small project the agents work on, the demo's gates and the agents' MCP config."""
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "tests").mkdir(exist_ok=True)
    (root / "gates").mkdir(exist_ok=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_calc.py").write_text(_TESTS)
    (root / "gates" / "demo.yaml").write_text(_GATES)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    (root / ".mcp.json").write_text(MCP_CONFIG)
    (root / ".gitignore").write_text(_GITIGNORE)

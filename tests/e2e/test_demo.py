"""The README's first command: real agent processes, real checks, gates that fail then pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from otel_mcp.commands._demo_agents import AGENTS, explain
from otel_mcp.commands._demo_project import _APP_V2, MCP_CONFIG
from otel_mcp.core.report import build_report
from otel_mcp.store.base import SpanFilter
from otel_mcp.store.sqlite import SQLiteStore
from tests.conftest import REPO
from tests.support.ui_browser import SharedDemo


def test_the_demo_agents_in_their_own_worktrees_fail_the_security_gate_first_and_pass_after_the_fix(
    kept_demo: SharedDemo,
) -> None:
    # The run every e2e test shares (`otel-mcp demo --dir`), read through what it printed, its
    # repository and its store (a demo costs tens of seconds of CPU: one per test run).
    said = " ".join(kept_demo.stdout.split())  # the words, however the window wrapped them
    assert "first attempts: release pass, security fail, tests pass" in said
    assert "final decisions: release pass, security pass, tests pass" in said
    spoke = {line.split()[2] for line in kept_demo.stdout.splitlines() if re.match(r"\[ *[0-9.]+s\] \w", line)}
    assert spoke >= {"planner", "coder", "tester", "security"}
    assert "gate security attempt 1: FAIL" in said and "gate security attempt 2: PASS" in said
    assert "vulnerabilities.high is 1, but the requirement is vulnerabilities.high == 0" in said
    # Gates stop progress: a refused completion and a refused push, each accepted after the fix.
    assert "security record_task(complete) refused:" in said and "gate 'security' has" in said
    assert "recording the scan complete is accepted now" in said
    assert "coder git push refused by the pre-push hook" in said and "planner git push accepted" in said

    # Each agent in its own linked worktree of one repository, on its own branch, as `claude --worktree` makes them.
    repo = kept_demo.workspace
    common = _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
    for agent in AGENTS:
        worktree = repo / ".claude" / "worktrees" / agent
        assert (worktree / ".git").is_file(), f"{agent}: a linked worktree has a .git file"
        assert _git(worktree, "rev-parse", "--show-toplevel") == str(worktree)
        assert _git(worktree, "rev-parse", "--abbrev-ref", "HEAD") == f"worktree-{agent}"
        assert _git(worktree, "rev-parse", "--path-format=absolute", "--git-common-dir") == common
        assert f"over stdio; works in .claude/worktrees/{agent} (worktree-{agent})" in said
        assert not (worktree / ".otel-mcp").exists(), f"{agent}: no store of its own"
    # The coder's fix reached main through the planner's merge, which the pre-push hook accepted.
    assert _git(repo, "show", "origin/main:app/calc.py") == _APP_V2.strip()
    assert _git(repo, "rev-list", "--merges", "--count", "origin/main") == "1"
    # One store for all of them, under the repository's common git directory.
    db_path = Path(common) / "otel-mcp" / "telemetry.db"
    assert db_path.is_file()

    store = SQLiteStore(db_path, read_only=True)
    try:
        report = build_report(store)
        host = [s for s in store.find_spans(SpanFilter(limit=5000)) if s.source == "external"]
    finally:
        store.shutdown()
    # The coder's host telemetry, received by `otel-mcp collect`, is on the coder's timeline.
    assert [(s.agent_id, s.name, s.task_id) for s in host] == [
        ("coder", "claude_code.tool_result", "demo/calc/implement")
    ]
    assert host[0].attributes["service.name"] == "claude-code" and host[0].attributes["tool_name"] == "Write"
    gates = {g.gate: g for g in report.gates}
    assert gates["security"].first_attempts == 1 and gates["security"].first_attempt_passes == 0
    assert gates["tests"].first_attempt_passes == 1
    agents = {a.agent_id for a in report.agents}
    assert agents == {"planner", "coder", "tester", "security"}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_otel_mcp_demo_exits_zero_and_prints_the_timeline_and_report(kept_demo: SharedDemo) -> None:
    # `otel-mcp demo --dir WS` run once for the whole test run with COLUMNS=80 (it asserts the exit code).
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    out = kept_demo.stdout
    assert "=== Timeline: what each agent did, in order ===" in out and "=== Report ===" in out
    assert "gate security attempt 1: FAIL" in out and "gate security attempt 2: PASS" in out
    assert "first attempts: release pass, security fail, tests pass" in out
    lines = out.splitlines()
    # Wrapped to the window, never inside a word: every word of the intro is still whole. A line
    # longer than the window is one word too long to wrap (the temp path can be).
    commands = [line for line in lines if line.startswith("  otel-mcp ")]
    assert [line for line in lines if len(line) > 80 and line not in commands and len(line.split()) > 1] == []
    # The intro ends where the workspace line starts, however the path wrapped it.
    intro = out[: re.search(r"^workspace:", out, re.MULTILINE).start()]  # type: ignore[union-attr]
    assert intro.split() == explain().split()
    # The timeline is in time order, and a record on the deliverable does not read as the deliverable.
    section = out.split("=== Timeline: what each agent did, in order ===")[1].split("=== Report ===")[0]
    times = [float(line.split("s")[0].strip(" +")) for line in section.splitlines() if line.startswith("  +")]
    assert len(times) > 20 and times == sorted(times)
    assert "coder     demo/calc/implement: code_generation complete" in section
    assert "demo/calc/implement: claimed" in section and "demo/calc/implement: released" in section
    assert "1 task " in out and "1 tasks" not in out
    # The coder's host telemetry in the coder's lane, marked as such.
    flowing = " ".join(section.split())
    assert (
        "coder demo/calc/implement: host telemetry from claude-code (source=external): claude_code.tool_result "
        "tool_name=Write success=true" in flowing
    )
    # An explicit workspace is kept, with the commands to look into it.
    ws = kept_demo.workspace
    where = f"--db {ws / '.git' / 'otel-mcp' / 'telemetry.db'} --gates-dir {ws / 'gates'}"
    assert commands == [f"  otel-mcp trace demo/calc {where}", f"  otel-mcp report {where}"]
    trace, report = (
        subprocess.run(
            [sys.executable, "-m", "otel_mcp", *command.split()[1:]], capture_output=True, text=True, env=env
        )
        for command in commands
    )
    assert trace.returncode == 0 and "gate security: FAIL (attempt 1)" in trace.stdout
    assert report.returncode == 0 and "security  first-attempt pass   0% (0/1)" in report.stdout
    # Read against the demo's own gates, from anywhere: no decision is flagged as under another definition.
    assert "another definition" not in trace.stdout + report.stdout


def test_the_demo_says_it_deletes_its_workspace_and_a_timeout_is_one_line(tmp_path: Path) -> None:
    # Far too short for four servers to start: the demo gives up, says why in one line, and cleans up.
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "demo", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "otel-mcp demo: timed out: the agents did not finish within 0.5s (a slow machine? try --timeout 1)"
    ]
    assert "Deleted the scratch workspace" in proc.stdout and "--keep" in proc.stdout
    assert not any(p.name.startswith("otel-mcp-demo-") for p in tmp_path.iterdir())


def _without_checks(root: Path) -> Path:
    """A fresh virtualenv holding exactly what `pip install otel-mcp` installs, without the checks extra.

    Installing it from the index would take minutes, so the distributions this environment already
    has are linked file by file (from their RECORD) into a venv made without system site-packages:
    the dependency closure of otel-mcp's own requirements, nothing else. otel-mcp itself comes from
    the checkout (PYTHONPATH), as in the other demo tests.
    """
    import importlib.metadata as metadata
    import venv

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    site = next((root / "lib").glob("python3*/site-packages"))
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [("otel-mcp", ())]
    while todo:
        name, extras = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            env = default_environment()
            if req.marker and not any(req.marker.evaluate({**env, "extra": e}) for e in extras or ("",)):  # type: ignore[dict-item]
                continue
            todo.append((req.name, tuple(req.extras)))
        if key == "otel-mcp":
            continue
        for file in dist.files or []:
            if ".." in file.parts:
                continue  # scripts outside site-packages
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(Path(str(dist.locate_file(file))).resolve())
    return root / "bin" / "python"


def test_without_the_checks_extra_the_demo_stops_at_once_with_the_install_command(tmp_path: Path) -> None:
    python = _without_checks(tmp_path / "venv")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    env.pop("VIRTUAL_ENV", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)

    # The environment is what it claims: otel-mcp's server imports, the checks' tools do not.
    assert run("-c", "import otel_mcp.server, otel_mcp.store.sqlite, mcp, yaml").returncode == 0
    for tool in ("bandit", "pytest", "ruff"):
        assert run("-c", f"import {tool}").returncode == 1, tool
    proc = run("-m", "otel_mcp", "demo")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert "bandit, pytest and ruff" in proc.stderr
    # This interpreter's pip, with the extra's floors: "otel-mcp" on PyPI is another project.
    assert f"{python} -m pip install 'bandit>=1.8' 'pytest>=8' 'ruff>=0.15'" in proc.stderr, proc.stderr
    assert "otel-mcp[checks]" not in proc.stderr


def test_the_demos_agents_start_from_the_claude_code_config_the_readme_shows() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Connect your agents", 1)[1].split("**Claude Code**", 1)[1]
    shown = section.split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(shown) == json.loads(MCP_CONFIG)

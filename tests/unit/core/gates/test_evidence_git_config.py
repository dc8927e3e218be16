"""The user's git configuration names the global excludes file (`core.excludesFile`): switching it
off with `git config --global` un-ignores a vulnerable file. Every file git reads configuration
from (`~/.gitconfig`, `$XDG_CONFIG_HOME/git/config`, `/etc/gitconfig`, `include.path` targets) is
watched, sealed and probed, so the long-running server's decision and guard judge the new state.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import call
from tests.support.evidence import VULNERABLE_APP, cli, make_workspace, pass_gate, reasons, serve, submit
from tests.support.stale import SHIP_GATE, wait_still
from tests.support.workspace import git

pytestmark = pytest.mark.anyio


async def test_a_global_excludes_file_switched_off_by_git_config_is_refused_by_the_guard(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "ignore").write_text("evil.py\n")  # git's default global excludes file
    at_home = {"HOME": str(home)}
    ws = make_workspace(tmp_path / "ws", {"app.py": "X = 1\n", ".gitignore": ".otel-mcp/\n"}, commit=False)
    (ws / "gates" / "ship.yaml").write_text(SHIP_GATE)
    git(ws, "add", "-A", env=at_home)
    git(ws, "commit", "-q", "-m", "init", env=at_home)
    (ws / "evil.py").write_text(VULNERABLE_APP)  # ignored by the global excludes file: not code state
    db = tmp_path / "store" / "telemetry.db"
    wait_still(ws, home)
    async with serve(ws, db, HOME=str(home)) as client:
        scan = await pass_gate(client, "security", "bandit", "G")
        git(home, "config", "--global", "core.excludesFile", os.devnull, env=at_home)  # rewrites ~/.gitconfig
        stale = await submit(client, "security", "G", scan["span_id"])
        ship = await submit(client, "ship", "G")
        guard = await client.call_tool(
            "record_task", {"task_id": "G", "task_type": "code_generation", "status": "complete"}
        )
    env = {"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws), "HOME": str(home)}
    status = cli("gates", "status", "ship", "--task", "G", cwd=ws, env=env)
    async with serve(ws, tmp_path / "fresh" / "telemetry.db", HOME=str(home)) as fresh:
        rescan = await call(fresh, "run_check", check="bandit", task_id="G")
    assert rescan["attributes"]["vulnerabilities.high"] >= 1  # the code state now includes evil.py
    assert rescan["code_digest"] != scan["code_digest"]
    assert status.returncode != 0  # a fresh computation (gates status) refuses
    assert guard.is_error  # the long-running server's guard proves the disk
    assert stale["decision"] == "fail" and ship["decision"] == "fail", reasons(stale)

"""A nested repository's own git files (`sub/.git/info/exclude`, `config`, `index`) decide what is
code state below it: emptying its exclude file in place un-ignores a vulnerable file. They are
watched, sealed and probed like the outer repository's, so decisions and the guard judge the new
state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import call
from tests.support.evidence import VULNERABLE_APP, cli, make_workspace, pass_gate, reasons, serve, submit
from tests.support.stale import SHIP_GATE, nested_repo_ignoring, wait_still
from tests.support.workspace import git

pytestmark = pytest.mark.anyio


async def test_un_ignoring_a_file_in_a_nested_repository_in_place_is_refused_by_the_guard(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": "X = 1\n", ".gitignore": ".otel-mcp/\n"}, commit=False)
    sub = ws / "sub"
    nested_repo_ignoring(sub, "evil.py", VULNERABLE_APP)  # ignored by the nested repository: not code state
    (ws / "gates" / "ship.yaml").write_text(SHIP_GATE)
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "init")
    db = tmp_path / "store" / "telemetry.db"
    wait_still(ws)
    async with serve(ws, db) as client:
        scan = await pass_gate(client, "security", "bandit", "N")
        with open(sub / ".git" / "info" / "exclude", "r+") as f:  # in place: sub/.git's own stat is unchanged
            f.truncate(0)
        stale = await submit(client, "security", "N", scan["span_id"])
        ship = await submit(client, "ship", "N")
        guard = await client.call_tool(
            "record_task", {"task_id": "N", "task_type": "code_generation", "status": "complete"}
        )
    status = cli(
        "gates", "status", "ship", "--task", "N", cwd=ws, env={"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws)}
    )
    async with serve(ws, tmp_path / "fresh" / "telemetry.db") as fresh:
        rescan = await call(fresh, "run_check", check="bandit", task_id="N")
    assert rescan["attributes"]["vulnerabilities.high"] >= 1  # the code state now includes sub/evil.py
    assert rescan["code_digest"] != scan["code_digest"]
    assert status.returncode != 0  # a fresh computation (gates status) refuses
    assert guard.is_error  # the long-running server's guard proves the disk
    assert stale["decision"] == "fail" and ship["decision"] == "fail", reasons(stale)

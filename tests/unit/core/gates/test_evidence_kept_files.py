"""A tracked file in a folder a built-in pattern excludes (`.mypy_cache/`, `__pycache__/`, ...) is
code state watched by name, where no open is reported: a write through a shared mapping would send
no event. Such files are probed by every events proof, so the decision does not pass on the old
digest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import call, call_error
from tests.support.evidence import VULNERABLE_APP, make_workspace, pass_gate, reasons, serve, submit
from tests.support.stale import CLEAN_SAME_SIZE, SHIP_GATE, written_through_a_mapping
from tests.support.workspace import git

pytestmark = pytest.mark.anyio

KEPT = ".mypy_cache/helpers.py"  # tracked, so code state; bandit scans it (it skips __pycache__/)


async def test_a_mapping_write_to_a_tracked_file_in_a_builtin_excluded_folder_fails_the_decision(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": "X = 1\n", KEPT: CLEAN_SAME_SIZE, ".gitignore": ".otel-mcp/\n"})
    (ws / "gates" / "ship.yaml").write_text(SHIP_GATE)
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "ship")
    assert KEPT in git(ws, "ls-files")
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await pass_gate(client, "security", "bandit", "K")
        with written_through_a_mapping(ws / KEPT, VULNERABLE_APP):
            stale = await submit(client, "security", "K", scan["span_id"])
            ship = await submit(client, "ship", "K")
            refused = await call_error(
                client, "record_task", task_id="K", task_type="code_generation", status="complete"
            )
            rescan = await call(client, "run_check", check="bandit", task_id="K")
    assert "has not passed" in refused  # the guard takes a full stat seal
    assert rescan["attributes"]["vulnerabilities.high"] >= 1  # the code on disk fails the check
    assert ship["decision"] == "fail", reasons(ship)  # not a pass on the old digest
    assert stale["decision"] == "fail", reasons(stale)  # not a pass on the old digest

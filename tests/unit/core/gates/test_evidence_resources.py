"""Bounded resources (issue 20): no temp folder outlives its server, no check outlives it either."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from otel_mcp.core.workspace.leftovers import claim, remove_leftovers
from tests.conftest import REPO
from tests.support.evidence import make_workspace, pass_gate, serve

pytestmark = pytest.mark.anyio


def _ours(temp: Path) -> list[str]:
    return sorted(p.name for p in temp.iterdir() if p.name.startswith("otel-mcp-"))


async def test_a_server_that_ran_checks_leaves_no_temp_folder_after_a_clean_exit(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    ws = make_workspace(tmp_path / "ws")
    async with serve(ws, tmp_path / "store" / "telemetry.db", TMPDIR=str(temp)) as client:
        await pass_gate(client, "security", "bandit", "T")
        assert _ours(temp)  # the code state's private folder while the server runs
    deadline = time.monotonic() + 30
    while _ours(temp) and time.monotonic() < deadline:
        time.sleep(0.05)  # the server process may still be exiting (bounded by the deadline)
    assert _ours(temp) == []


def test_folders_of_a_killed_server_are_removed_at_the_next_start_and_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / "otel-mcp-codestate-old"
    gone.mkdir()
    (gone / "owner").write_text(f"{int(dead.stdout)} 1\n")
    mine = tmp_path / "otel-mcp-check-live"
    mine.mkdir()
    claim(mine)
    other = tmp_path / "unrelated-folder"
    other.mkdir()
    assert remove_leftovers(str(tmp_path)) == [str(gone)]
    assert mine.exists() and other.exists() and not gone.exists()


def test_a_check_dies_with_the_server_that_started_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "check.pid"
    server = textwrap.dedent(
        f"""
        import asyncio, sys
        from otel_mcp.core.gates.checks.process import run_command
        child = "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
        argv = [sys.executable, "-c", child]
        asyncio.run(run_command(argv, cwd=None, env={{}}, timeout_s=300, max_output_bytes=4096))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", server], env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for the check to start (bounded)
    check_pid = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)  # the host kills the server mid-check
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{check_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel delivers the parent-death signal (bounded)
    state = Path(f"/proc/{check_pid}/stat")
    assert not state.exists() or state.read_text().split(") ")[1].startswith("Z")

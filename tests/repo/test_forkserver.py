"""The fork server gives unit tests servers that behave, as processes, like `python -m otel_mcp`.

What a test (or the MCP SDK, as a host) sees of a server is its stdio, its exit status and how it
answers signals; these are compared with a real spawn or checked against what a host relies on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import REPO, call, stdio_params
from tests.support import forkserver

WAIT_S = 30.0  # a bound, not a wait


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie waiting for the zygote to reap it counts as gone)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.01)
    return False


def _env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "OTEL_MCP_DB": str(tmp_path / "telemetry.db")}


@pytest.mark.parametrize("argv", [["--version"], ["serve", "--no-such-flag"], ["serve", "--transport", "smoke"]])
def test_a_forked_cli_prints_and_exits_exactly_as_a_spawned_one(tmp_path: Path, argv: list[str]) -> None:
    env = _env(tmp_path)
    real = subprocess.run([sys.executable, "-m", "otel_mcp", *argv], env=env, cwd=tmp_path, capture_output=True)
    forked = subprocess.run(forkserver.server_command(argv, env), env=env, cwd=tmp_path, capture_output=True)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)


def _started(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A forked stdio server that has answered `initialize`, and the pid of the server itself."""
    before = set(forkserver.forked_pids())
    env = _env(tmp_path)
    proc = subprocess.Popen(
        forkserver.server_command(["serve"], env), env=env, cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    hello = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
    proc.stdin.write(hello + b'"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}\n')
    proc.stdin.flush()
    assert b'"id":1' in proc.stdout.readline().replace(b" ", b"")
    (server,) = set(forkserver.forked_pids()) - before
    return proc, server


def test_a_forked_server_dies_with_its_launcher_even_of_sigkill(tmp_path: Path) -> None:
    proc, server = _started(tmp_path)
    proc.kill()
    proc.wait(WAIT_S)
    assert _gone(server), f"server {server} outlived its killed launcher"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_launcher_kills_the_server_and_the_launcher_dies_of_it_too(
    tmp_path: Path, signum: signal.Signals
) -> None:
    proc, server = _started(tmp_path)
    proc.send_signal(signum)
    assert proc.wait(WAIT_S) == -signum  # as a host sees a spawned server die of it
    assert _gone(server)


def test_closing_stdin_ends_a_forked_server_with_status_zero(tmp_path: Path) -> None:
    proc, server = _started(tmp_path)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(WAIT_S) == 0
    assert _gone(server)


@pytest.mark.anyio
async def test_a_forked_server_runs_with_the_env_and_cwd_it_was_given_not_the_workers(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    async with Client(stdio_params(tmp_path / "ws" / "telemetry.db", "agent-forked")) as client:
        recorded = await call(client, "record_task", task_id="F", task_type="build", status="started")
        trace = await call(client, "get_trace", task_id="F")
    assert recorded["span_id"] and "agent-forked" in str(trace)
    assert (tmp_path / "ws" / "telemetry.db").exists()
    assert "OTEL_MCP_AGENT_ID" not in os.environ


def test_what_a_fork_cannot_honour_is_refused_with_the_reason(tmp_path: Path) -> None:
    other = {**_env(tmp_path), "PYTHONPATH": f"{tmp_path}:{REPO}"}
    with pytest.raises(ValueError, match="PYTHONPATH"):
        forkserver.server_command(["serve"], other)
    # Past the helper's check, the zygote itself refuses rather than serve with modules of its own.
    command = forkserver.server_command(["serve"])
    refused = subprocess.run(command, env=other, cwd=tmp_path, capture_output=True, text=True, timeout=WAIT_S)
    assert refused.returncode == 70 and f"PYTHONPATH entry '{tmp_path}'" in refused.stderr

"""A check's processes die with it (issue 20), those it started in sessions of their own included.

The check is a real script the gate runs: it double-forks a grandchild that calls `setsid` (so it
leaves the check's process group and session, as a daemon does) and writes its pid to a file. The
server over stdio is killed with SIGKILL mid-check, the CLI's check ends normally, or it times
out: each time the grandchild must be gone within a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mcp.types import LATEST_PROTOCOL_VERSION

from otel_mcp.core.gates.checks.process import run_command
from tests.support.evidence import make_workspace, server_env, workspace_cli

_DAEMON = """\
import os, sys, time

pid_file, linger = sys.argv[1], float(sys.argv[2])
if os.fork() == 0:
    os.setsid()  # a session of its own: out of the check's process group
    if os.fork() == 0:
        with open(pid_file + ".tmp", "w") as handle:
            handle.write(str(os.getpid()))
        os.rename(pid_file + ".tmp", pid_file)
        time.sleep(600)
    os._exit(0)
os.wait()
deadline = time.monotonic() + 60
while not os.path.exists(pid_file) and time.monotonic() < deadline:
    time.sleep(0.01)
print("daemon started", flush=True)
time.sleep(linger)
"""


def _gates(pid_file: Path, linger: float, timeout: float) -> str:
    command = json.dumps(["{python}", "-I", "daemon.py", str(pid_file), str(linger)])
    return (
        "checks:\n  daemon:\n    span_name: daemon_complete\n"
        f"    command: {command}\n    timeout_seconds: {timeout}\n"
        "gates:\n  - name: daemon\n    requirements:\n      - name: ran\n"
        "        span_name: daemon_complete\n        check: daemon\n"
    )


def _workspace(tmp_path: Path, linger: float, timeout: float = 300) -> tuple[Path, Path]:
    pid_file = tmp_path / "grandchild.pid"
    files = {"daemon.py": _DAEMON, "gates/daemon.yaml": _gates(pid_file, linger, timeout), ".gitignore": ".otel-mcp/\n"}
    return make_workspace(tmp_path / "ws", files, gates=False), pid_file


def _alive(pid: int) -> bool:
    """Whether pid runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition: Callable[[], object], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a process table, bounded by the deadline
    return bool(condition())


@contextlib.contextmanager
def _reaped(pid_file: Path) -> Iterator[None]:
    """Kill the grandchild should the test fail, so it does not linger for ten minutes."""
    try:
        yield
    finally:
        if pid_file.exists() and _alive(pid := int(pid_file.read_text())):
            os.kill(pid, signal.SIGKILL)


def _send(proc: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
    proc.stdin.flush()


def test_a_grandchild_in_a_session_of_its_own_dies_with_a_server_killed_by_sigkill(tmp_path: Path) -> None:
    ws, pid_file = _workspace(tmp_path, linger=600)
    db = tmp_path / "store" / "telemetry.db"
    db.parent.mkdir()
    # `otel-mcp serve` over stdio, spoken to as a host does, line by line.
    server = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", "serve"],
        env={**os.environ, **server_env(ws, db)},
        cwd=db.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with _reaped(pid_file):
        client = {"name": "host", "version": "1"}
        params = {"protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {}, "clientInfo": client}
        _send(server, {"id": 1, "method": "initialize", "params": params})
        _send(server, {"method": "notifications/initialized"})
        run = {"name": "run_check", "arguments": {"check": "daemon", "task_id": "P"}}
        _send(server, {"id": 2, "method": "tools/call", "params": run})
        assert _wait_for(lambda: pid_file.exists() and pid_file.read_text(), 120), "the check never started"
        grandchild = int(pid_file.read_text())
        assert _alive(grandchild)
        server.send_signal(signal.SIGKILL)  # the host kills the server mid-check
        server.wait(timeout=30)
        assert _wait_for(lambda: not _alive(grandchild), 30), "the grandchild outlived the server"


def test_a_check_that_ends_leaves_no_process_it_started_running(tmp_path: Path) -> None:
    ws, pid_file = _workspace(tmp_path, linger=0)
    with _reaped(pid_file):
        done = workspace_cli(ws, "gates", "run", "daemon", "--task", "N")
        assert done.returncode == 0, done.stderr
        grandchild = int(pid_file.read_text())
        assert _wait_for(lambda: not _alive(grandchild), 30), "the grandchild outlived the check"


def test_a_check_that_times_out_leaves_no_process_it_started_running(tmp_path: Path) -> None:
    ws, pid_file = _workspace(tmp_path, linger=600, timeout=3)
    with _reaped(pid_file):
        started = time.monotonic()
        done = workspace_cli(ws, "gates", "run", "daemon", "--task", "T")
        assert done.returncode == 1 and "timed out" in done.stderr + done.stdout, done.stderr
        assert time.monotonic() - started < 50  # the timeout, not the check's own ten minutes
        grandchild = int(pid_file.read_text())
        assert _wait_for(lambda: not _alive(grandchild), 30), "the grandchild outlived the timeout"


_KILL_PARENT = """\
import os, signal
try:
    os.kill(os.getppid(), signal.SIGKILL)
    print("killed", os.getuid())
except PermissionError:
    print("refused", os.getuid())
"""


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"), reason="switching users needs root")
def test_a_check_run_as_another_user_cannot_kill_its_supervisor() -> None:
    nobody = pwd.getpwnam("nobody")
    argv = ["/usr/bin/python3", "-I", "-c", _KILL_PARENT]
    outcome = asyncio.run(
        run_command(argv, cwd="/", env={}, timeout_s=60, max_output_bytes=4096, user=nobody.pw_uid, group=nobody.pw_gid)
    )
    assert outcome.stdout.decode().split() == ["refused", str(nobody.pw_uid)], outcome.text
    assert outcome.exit_code == 0

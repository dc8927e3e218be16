"""`otel-mcp serve --transport streamable-http` as a real process on a loopback port, for tests.

The server's stderr goes to a file, not a pipe: request logging must never block the server on a
pipe nobody reads, and a test can read everything the server said so far at any time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.forkserver import server_command
from tests.support.processes import end

__all__ = ["HttpServer", "start_http_server"]

REPO = Path(__file__).resolve().parent.parent.parent


# The server's start-up line, written once its socket listens.
_LISTENING = re.compile(r"MCP over streamable HTTP at http://\S+:(\d+)/mcp")


@dataclass
class HttpServer:
    proc: subprocess.Popen[bytes]
    host: str
    port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mcp"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_stderr(self, text: str, timeout_s: float = 10.0) -> str:
        """The server's stderr once it contains `text` (bounded wait: log lines are written after the answer)."""
        deadline = time.monotonic() + timeout_s
        while True:
            out = self.stderr()
            if text in out or time.monotonic() >= deadline:
                return out
            time.sleep(0.02)

    def stop(self) -> None:
        end(self.proc)


def start_http_server(
    workdir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout_s: float = 60.0,  # a bound, not a wait: idle, the server listens in about a second
    prefix: Sequence[str] = (),
    fork: bool = True,
) -> HttpServer:
    """Start the server bound to `host` on a port of its choosing; return once it listens.

    The server is forked from this worker's pre-imported zygote (`tests.support.forkserver`) unless
    `fork=False` or a `prefix` (a wrapper such as `unshare` must run the server itself): then it is
    a real `python -m otel_mcp serve`, as start-up tests and tests of the server's pid need.

    The server binds port 0 and names the port in its start-up line: a port picked here and passed
    on could be taken meanwhile by a server of another xdist worker, and the test would talk to it.
    """
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "OTEL_MCP_DB": str(workdir / "telemetry.db"),
        "OTEL_MCP_AGENT_ID": "server-default",
        "OTEL_MCP_GATES_DIR": str(REPO / "gates"),
        **(env or {}),
    }
    stderr_path = Path(tempfile.mkstemp(prefix="server-", suffix=".stderr", dir=workdir)[1])
    with stderr_path.open("wb") as stderr:
        argv = ["serve", "--transport", "streamable-http", "--host", host, "--port", "0", *args]
        if fork and not prefix:
            cmd = server_command(argv, full_env)
        else:
            cmd = [*prefix, sys.executable, "-m", "otel_mcp", *argv]
        proc = subprocess.Popen(cmd, env=full_env, cwd=workdir, stderr=stderr)
    server = HttpServer(proc, host, 0, stderr_path)
    deadline = time.monotonic() + timeout_s
    while True:
        started = _LISTENING.search(server.stderr())
        if started:
            server.port = int(started.group(1))
            return server
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {server.stderr()}")
        if time.monotonic() >= deadline:
            server.stop()
            raise TimeoutError(f"the server did not listen within {timeout_s} s: {server.stderr()}")
        time.sleep(0.05)

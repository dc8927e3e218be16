"""`otel-mcp serve --transport streamable-http` as a real process on a loopback port, for tests.

The server's stderr goes to a file, not a pipe: request logging must never block the server on a
pipe nobody reads, and a test can read everything the server said so far at any time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HttpServer", "free_port", "start_http_server"]

REPO = Path(__file__).resolve().parent.parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_http_server(
    workdir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout_s: float = 20.0,
    prefix: Sequence[str] = (),
) -> HttpServer:
    """Start the server bound to `host` on a free port and wait until it accepts connections."""
    port = free_port(host)
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "OTEL_MCP_DB": str(workdir / "telemetry.db"),
        "OTEL_MCP_AGENT_ID": "server-default",
        "OTEL_MCP_GATES_DIR": str(REPO / "gates"),
        **(env or {}),
    }
    stderr_path = workdir / f"server-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        cmd = [*prefix, sys.executable, "-m", "otel_mcp", "serve", "--transport", "streamable-http"]
        proc = subprocess.Popen(
            [*cmd, "--host", host, "--port", str(port), *args], env=full_env, cwd=workdir, stderr=stderr
        )
    server = HttpServer(proc, host, port, stderr_path)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), 0.2).close()
            return server
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}: {server.stderr()}") from None
            if time.monotonic() >= deadline:
                server.stop()
                raise TimeoutError(f"the server did not listen within {timeout_s} s: {server.stderr()}") from None
            time.sleep(0.05)

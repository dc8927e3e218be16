"""What `otel-mcp serve` says on stderr: where it listens and what it uses, then one line per request.

Over stdio the host owns the terminal and often shows stderr as errors: nothing by default, one
start-up line with -v.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import REPO, call, call_error
from tests.support.http_server import start_http_server

TOKENS = {
    "token-for-agent-alpha-0001": "alpha",
    "token-for-agent-beta-00002": "beta",
    "alpha-second-token-000": "alpha",
}
SECRET = "do-not-log-this-argument-value"


@pytest.mark.anyio
async def test_http_says_where_it_listens_and_logs_each_request_without_arguments(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    tokens.chmod(0o600)
    server = start_http_server(tmp_path, "--tokens-file", str(tokens), fork=False)
    try:
        started = server.wait_for_stderr("requests are logged")
        assert f"http://127.0.0.1:{server.port}/mcp" in started
        assert f"store: sqlite {(tmp_path / 'telemetry.db').resolve()}" in started
        assert f"gates: {REPO / 'gates'} (" in started
        assert "3 bearer tokens for 2 agents" in started

        headers = {"Authorization": "Bearer token-for-agent-beta-00002"}
        transport = streamable_http_client(server.url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
        async with Client(transport) as beta:
            await call(beta, "record_task", task_id="T", task_type="build", status="complete", summary=SECRET)
            await call_error(beta, "get_trace", task_id="no-such-task-" + SECRET[:8])
        httpx2.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)

        logged = server.wait_for_stderr("HTTP 401")
        assert re.search(r"INFO otel_mcp\.http: beta tools/call record_task -> ok \(\d+ ms\)", logged), logged
        assert re.search(r"beta tools/call get_trace -> tool error", logged), logged
        assert re.search(r"- POST /mcp -> HTTP 401: missing bearer token", logged), logged
        assert SECRET not in logged and SECRET[:8] not in logged
        assert "token-for-agent" not in logged
    finally:
        server.stop()


def test_no_auth_start_up_line_names_the_single_identity(tmp_path: Path) -> None:
    server = start_http_server(tmp_path, "--no-auth", env={"OTEL_MCP_AGENT_ID": "solo"}, fork=False)
    try:
        assert "auth: none (--no-auth): every caller acts as 'solo'" in server.wait_for_stderr("requests are logged")
    finally:
        server.stop()


def test_without_gates_in_the_workspace_the_start_up_line_says_the_bundled_examples_serve(tmp_path: Path) -> None:
    # Not "gates: <workspace>/gates": that folder does not exist, and the examples are what agents get.
    server = start_http_server(
        tmp_path, "--no-auth", env={"OTEL_MCP_GATES_DIR": "", "OTEL_MCP_WORKSPACE": str(tmp_path)}, fork=False
    )
    try:
        started = server.wait_for_stderr("requests are logged")
    finally:
        server.stop()
    line = next(line for line in started.splitlines() if "gates: " in line)
    assert line.endswith("(the bundled examples: the workspace has no gates/ and none is configured)"), line
    assert str(tmp_path / "gates") not in line


def _stdio_stderr(tmp_path: Path, *flags: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_DB": str(tmp_path / "telemetry.db"),
        "OTEL_MCP_AGENT_ID": "stdio-agent",
    }
    # Closed stdin: the server starts, finds the end of its input and exits, as when a host quits.
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", *flags, "serve"],
        input="",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # stdout belongs to the protocol
    return done.stderr


def test_stdio_is_silent_by_default_and_names_its_store_with_verbose(tmp_path: Path) -> None:
    assert _stdio_stderr(tmp_path) == ""
    verbose = _stdio_stderr(tmp_path, "-v")
    assert f"otel-mcp over stdio as 'stdio-agent'; store: sqlite {(tmp_path / 'telemetry.db').resolve()}" in verbose

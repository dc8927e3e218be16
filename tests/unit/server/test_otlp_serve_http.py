"""OTLP beside /mcp on `otel-mcp serve --transport streamable-http`: the same tokens and Host checks.

And stdio servers (one per host window) never listen, so several never fight over a port.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import REPO
from tests.support.http_server import HttpServer, start_http_server

TOKENS = {"token-for-agent-alpha-0001": "alpha", "token-for-agent-beta-00002": "beta"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    tokens.chmod(0o600)
    s = start_http_server(tmp_path, env={"OTEL_MCP_TOKENS_FILE": str(tokens)})
    try:
        yield s
    finally:
        s.stop()


def _body() -> bytes:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "claude-code"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("claude_code.interaction"):
        pass
    provider.shutdown()
    return bytes(encode_spans(memory.get_finished_spans()).SerializeToString())


def _external(tmp_path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(tmp_path / "telemetry.db")
    try:
        return con.execute("SELECT name, agent_id FROM spans WHERE source = 'external'").fetchall()
    finally:
        con.close()


def test_otlp_beside_mcp_takes_the_tokens_agent_and_refuses_without_a_token(server: HttpServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{server.port}"
    headers = {"Content-Type": "application/x-protobuf"}
    refused = httpx2.post(f"{base}/v1/traces", content=_body(), headers=headers)
    assert refused.status_code == 401
    wrong_host = httpx2.post(
        f"{base}/v1/traces",
        content=_body(),
        headers={**headers, "Authorization": "Bearer token-for-agent-beta-00002", "Host": "attacker.example"},
    )
    assert wrong_host.status_code == 421
    provider = TracerProvider(resource=Resource.create({"service.name": "claude-code", "otel_mcp.agent.id": "beta"}))
    exporter = OTLPSpanExporter(
        endpoint=f"{base}/v1/traces", headers={"Authorization": "Bearer token-for-agent-alpha-0001"}
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("claude_code").start_as_current_span("claude_code.interaction"):
        pass
    provider.shutdown()
    # The token is who sent it: a resource attribute naming another agent does not move it.
    assert _external(tmp_path) == [("claude_code.interaction", "alpha")]
    assert "OTLP/HTTP (hosts' own telemetry) at" in server.stderr()


def _listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    inodes.add(fields[9])
    return inodes


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_stdio_servers_listen_on_no_port(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_DB": str(tmp_path / "telemetry.db"),
        "OTEL_MCP_AGENT_ID": "stdio-agent",
        "OTEL_MCP_WORKSPACE": str(tmp_path),
    }
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "otel_mcp", "serve"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        for proc in servers:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(hello) + "\n")
            proc.stdin.flush()
            assert '"id":1' in proc.stdout.readline().replace(" ", "")  # up and answering
        listening = _listening_inodes()
        for proc in servers:
            sockets = {
                os.readlink(f"/proc/{proc.pid}/fd/{fd}")[8:-1]
                for fd in os.listdir(f"/proc/{proc.pid}/fd")
                if os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith("socket:[")
            }
            assert not sockets & listening
    finally:
        for proc in servers:
            proc.kill()
            proc.wait(10)

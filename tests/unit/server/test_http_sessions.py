"""Streamable-HTTP sessions are bounded: per token, in all, by idle time; a trickling body is cut off.

A real server process with small bounds (OTEL_MCP_HTTP_*), spoken to over real HTTP.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support.http_server import HttpServer, start_http_server

_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
_ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"a" * 32: "agent-a", "b" * 32: "agent-b"}))
    tokens.chmod(0o600)
    env = {
        "OTEL_MCP_HTTP_SESSIONS_PER_TOKEN": "2",
        "OTEL_MCP_HTTP_MAX_SESSIONS": "3",
        "OTEL_MCP_HTTP_IDLE_TIMEOUT_S": "3",
        "OTEL_MCP_HTTP_BODY_DEADLINE_S": "1",
    }
    srv = start_http_server(tmp_path, "--tokens-file", str(tokens), env=env)
    try:
        yield srv
    finally:
        srv.stop()


def _open(srv: HttpServer, token: str) -> str:
    headers = {"authorization": f"Bearer {token}", "accept": _ACCEPT, "content-type": "application/json"}
    answer = httpx2.post(srv.url, json=_INIT, headers=headers, timeout=20)
    assert answer.status_code == 200, answer.text
    return str(answer.headers["mcp-session-id"])


def _alive(srv: HttpServer, token: str, sid: str) -> bool:
    headers = {
        "authorization": f"Bearer {token}",
        "accept": _ACCEPT,
        "content-type": "application/json",
        "mcp-session-id": sid,
        "mcp-protocol-version": "2025-11-25",
    }
    body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    status = httpx2.post(srv.url, json=body, headers=headers, timeout=20).status_code
    assert status in (200, 404), status
    return status == 200


def test_a_token_over_its_cap_closes_its_own_oldest_idle_session(server: HttpServer) -> None:
    a = "a" * 32
    first, second = _open(server, a), _open(server, a)
    third = _open(server, a)
    assert not _alive(server, a, first)
    assert _alive(server, a, second) and _alive(server, a, third)


def test_the_server_over_its_cap_closes_the_oldest_idle_session_of_anyone(server: HttpServer) -> None:
    a, b = "a" * 32, "b" * 32
    oldest = _open(server, a)
    others = [_open(server, a), _open(server, b)]
    newest = _open(server, b)
    assert not _alive(server, a, oldest)
    assert all(_alive(server, t, s) for t, s in zip((a, b), others, strict=True)) and _alive(server, b, newest)


def test_an_idle_session_is_closed_after_the_idle_timeout(server: HttpServer) -> None:
    a = "a" * 32
    sid = _open(server, a)
    assert _alive(server, a, sid)
    # The passing of the idle time is what is tested: touching the session before would renew it.
    time.sleep(3 + 1.5)
    assert not _alive(server, a, sid)


def test_a_request_body_that_trickles_is_cut_off_at_the_deadline(server: HttpServer) -> None:
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: Bearer {'a' * 32}\r\n"
        f"Accept: {_ACCEPT}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    )
    with socket.create_connection((server.host, server.port), timeout=20) as sock:
        sock.sendall(head.encode())
        started = time.monotonic()
        sock.settimeout(20)
        data = sock.recv(4096)  # an answer or the connection closed, not a wait for the other 999 bytes
        assert time.monotonic() - started < 10
    assert data == b"" or data[9:10] in (b"4", b"5")  # refused at once, or the connection closed

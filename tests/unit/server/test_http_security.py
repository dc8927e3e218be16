"""Streamable HTTP in front of a team: Host/Origin checks on every bind, sessions bound to their token,
no OAuth discovery for clients to get lost in, and a tokens file others cannot read.

Every case runs against the real server process (uvicorn on a loopback port).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import call
from tests.support.http_server import HttpServer, start_http_server

ALPHA, BETA = "token-for-agent-alpha-0001", "token-for-agent-beta-00002"
LEGACY = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


def _tokens_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({ALPHA: "alpha", BETA: "beta"}))
    path.chmod(mode)
    return path


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return _tokens_file(tmp_path)


@pytest.fixture(scope="module")
def server_127_0_0_2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """Still loopback, but not one of the three names the SDK protects by itself.

    One server for the module: each test uses its own task ids, and starting one costs seconds.
    """
    workdir = tmp_path_factory.mktemp("server-127-0-0-2")
    server = start_http_server(workdir, "--tokens-file", str(_tokens_file(workdir)), host="127.0.0.2")
    yield server
    server.stop()


def _initialize(headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }


def _post(url: str, body: dict[str, Any], token: str | None = None, **headers: str) -> httpx2.Response:
    sent = {"Accept": ACCEPT, "Content-Type": "application/json", "MCP-Protocol-Version": LEGACY}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return httpx2.post(url, json=body, headers=sent, timeout=30)


def _client(url: str, token: str | None, mode: str | None = None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
    return Client(transport, mode=mode) if mode else Client(transport)


# --- 1. Host and Origin ------------------------------------------------------------------------


def test_a_foreign_host_header_is_refused_on_a_loopback_bind_the_sdk_does_not_protect(
    server_127_0_0_2: HttpServer,
) -> None:
    response = _post(server_127_0_0_2.url, _initialize(), ALPHA, Host="attacker.example")
    assert response.status_code == 421
    body = response.json()
    assert body["error"] == "invalid_host"
    assert "attacker.example" in body["error_description"] and "--allowed-hosts" in body["error_description"]
    # The server's own address, as a client that connected to it sends it, is fine.
    assert _post(server_127_0_0_2.url, _initialize(), ALPHA).status_code == 200


def test_a_foreign_origin_is_refused_and_a_loopback_origin_is_accepted(server_127_0_0_2: HttpServer) -> None:
    refused = _post(server_127_0_0_2.url, _initialize(), ALPHA, Origin="http://attacker.example")
    assert refused.status_code == 403
    assert refused.json()["error"] == "invalid_origin" and "--allowed-origins" in refused.json()["error_description"]
    # A browser tool on this machine (the Inspector's UI, say) sends a loopback origin.
    assert _post(server_127_0_0_2.url, _initialize(), ALPHA, Origin="http://localhost:6274").status_code == 200


def test_host_checks_come_before_authentication_so_a_rebinding_page_learns_nothing(
    server_127_0_0_2: HttpServer,
) -> None:
    response = _post(server_127_0_0_2.url, _initialize(), None, Host="attacker.example")
    assert response.status_code == 421


def test_no_auth_on_another_loopback_address_is_not_open_to_dns_rebinding(tmp_path: Path) -> None:
    server = start_http_server(tmp_path, "--no-auth", host="127.0.0.2")
    try:
        assert _post(server.url, _initialize(), Host="attacker.example").status_code == 421
        assert _post(server.url, _initialize(), Host=f"attacker.example:{server.port}").status_code == 421
        assert _post(server.url, _initialize(), Origin="http://attacker.example").status_code == 403
        assert _post(server.url, _initialize()).status_code == 200
    finally:
        server.stop()


def test_a_wildcard_bind_accepts_loopback_names_and_the_configured_hosts_only(
    tmp_path: Path, tokens_file: Path
) -> None:
    # The shipped Dockerfile binds 0.0.0.0; compose publishes the port on 127.0.0.1.
    server = start_http_server(
        tmp_path,
        "--tokens-file",
        str(tokens_file),
        "--allowed-hosts",
        "mcp.example.com",
        host="0.0.0.0",
        env={"OTEL_MCP_ALLOWED_ORIGINS": "https://mcp.example.com, https://ide.example.com"},
    )
    url = f"http://127.0.0.1:{server.port}/mcp"
    try:
        assert _post(url, _initialize(), ALPHA, Host="attacker.example").status_code == 421
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "mcp.example.com"):
            assert _post(url, _initialize(), ALPHA, Host=host).status_code == 200, host
        for origin in ("https://mcp.example.com", "https://ide.example.com"):
            assert _post(url, _initialize(), ALPHA, Host="mcp.example.com", Origin=origin).status_code == 200
        assert _post(url, _initialize(), ALPHA, Origin="https://evil.example.com").status_code == 403
    finally:
        server.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("mode", [None, "legacy"])
async def test_the_official_client_works_on_a_bind_with_host_checks(server_127_0_0_2: HttpServer, mode: str) -> None:
    async with _client(server_127_0_0_2.url, ALPHA, mode) as alpha:
        recorded = await call(alpha, "record_task", task_id="T", task_type="build", status="complete")
        assert recorded["span_id"]


# --- 2. Sessions belong to the token that opened them -------------------------------------------


def _open_session(url: str, token: str) -> str:
    opened = _post(url, _initialize(), token)
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    done = _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, token, Mcp_Session_Id=session)
    assert done.status_code == 202
    return session


def _record(task_id: str) -> dict[str, Any]:
    arguments = {"task_id": task_id, "task_type": "build", "status": "complete"}
    params = {"name": "record_task", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}


def test_a_session_opened_with_one_token_is_refused_with_another(server_127_0_0_2: HttpServer) -> None:
    url = server_127_0_0_2.url
    session = _open_session(url, ALPHA)
    stolen = _post(url, _record("stolen"), BETA, Mcp_Session_Id=session)
    assert stolen.status_code in (403, 404)
    assert "session" in json.dumps(stolen.json()).lower()
    # The owner keeps using it; nothing was recorded under the other token.
    assert _post(url, _record("mine"), ALPHA, Mcp_Session_Id=session).status_code == 200
    found = _post(url, _record("check"), BETA)  # no session: a legacy server wants one
    assert found.status_code in (400, 404)


@pytest.mark.anyio
async def test_a_refused_session_leaves_no_record_under_either_agent(server_127_0_0_2: HttpServer) -> None:
    url = server_127_0_0_2.url
    session = _open_session(url, ALPHA)
    _post(url, _record("stolen"), BETA, Mcp_Session_Id=session)
    async with _client(url, ALPHA) as alpha:
        rows = await call(alpha, "query_spans", sql="SELECT agent_id FROM spans WHERE task_id = 'stolen'")
    assert rows["rows"] == []


# --- 4. No OAuth here --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/mcp/.well-known/openid-configuration",
        "/register",
    ],
)
def test_oauth_discovery_and_registration_answer_404_so_clients_show_the_plain_401(
    server_127_0_0_2: HttpServer, path: str
) -> None:
    # mcp-remote 0.15 (checked by hand) probes all of these after a 401, /register last (POST).
    base = f"http://{server_127_0_0_2.host}:{server_127_0_0_2.port}"
    method = "POST" if path == "/register" else "GET"
    response = httpx2.request(method, base + path, json={} if method == "POST" else None, timeout=30)
    assert response.status_code == 404
    assert "oauth" in response.json()["error_description"].lower()
    unauthorized = _post(server_127_0_0_2.url, _initialize())
    assert unauthorized.status_code == 401
    assert "resource_metadata" not in unauthorized.headers["www-authenticate"]


# --- 3. The tokens file ------------------------------------------------------------------------


def test_a_world_readable_tokens_file_with_plain_tokens_is_refused(tmp_path: Path) -> None:
    tokens = _tokens_file(tmp_path, 0o644)
    with pytest.raises(RuntimeError) as refused:
        start_http_server(tmp_path, "--tokens-file", str(tokens)).stop()
    message = str(refused.value)
    assert "readable by all users" in message and "chmod 600" in message and "sha256:" in message


def test_allow_readable_tokens_starts_with_a_warning(tmp_path: Path) -> None:
    tokens = _tokens_file(tmp_path, 0o644)
    server = start_http_server(tmp_path, "--tokens-file", str(tokens), "--allow-readable-tokens")
    try:
        assert "readable by all users" in server.wait_for_stderr("readable by all users")
        assert _post(server.url, _initialize(), ALPHA).status_code == 200
    finally:
        server.stop()


def test_a_world_readable_file_of_digests_is_fine(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"sha256:{hashlib.sha256(ALPHA.encode()).hexdigest()}: alpha\n")
    tokens.chmod(0o644)
    server = start_http_server(tmp_path, "--tokens-file", str(tokens))
    try:
        assert _post(server.url, _initialize(), ALPHA).status_code == 200
        assert "WARNING" not in server.stderr()
    finally:
        server.stop()


def test_a_tokens_file_others_can_write_is_refused(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"sha256:{hashlib.sha256(ALPHA.encode()).hexdigest()}: alpha\n")
    tokens.chmod(0o646)
    with pytest.raises(RuntimeError, match="writable by all users"):
        start_http_server(tmp_path, "--tokens-file", str(tokens)).stop()

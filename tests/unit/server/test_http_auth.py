"""Streamable HTTP for teams: bearer tokens map to agent ids; no token, no access."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from otel_mcp.errors import InvalidArgument
from otel_mcp.server.auth import TokenMap
from tests.conftest import REPO, call
from tests.support.forkserver import server_command
from tests.support.http_server import start_http_server

TOKENS = {"token-for-agent-alpha-0001": "alpha", "token-for-agent-beta-00002": "beta"}


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    tokens.chmod(0o600)
    server = start_http_server(tmp_path, env={"OTEL_MCP_TOKENS_FILE": str(tokens)})
    try:
        yield server.url
    finally:
        server.stop()


def _client(url: str, token: str | None) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers, timeout=30)))


@pytest.mark.anyio
async def test_each_bearer_token_speaks_for_its_own_agent(http_server: str) -> None:
    async with (
        _client(http_server, "token-for-agent-alpha-0001") as alpha,
        _client(http_server, "token-for-agent-beta-00002") as beta,
    ):
        await call(alpha, "record_task", task_id="T", task_type="build", status="complete")
        claim = await call(beta, "claim_task", task_id="T2", lease_seconds=60)
        assert claim["holder"] == "beta"
        found = await call(beta, "find_completed", task_type="build")
        assert [r["agent_id"] for r in found["records"]] == ["alpha"]
        audit = await call(alpha, "query_spans", sql="SELECT DISTINCT agent_id FROM spans ORDER BY 1")
        assert "server-default" not in [row[0] for row in audit["rows"]]


def test_requests_without_a_valid_token_are_refused_before_mcp(http_server: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer not-a-known-token-xyz"}, {"Authorization": "Basic abc"}):
        response = httpx2.post(http_server, json=body, headers={"Accept": "application/json", **headers})
        assert response.status_code == 401
        assert "bearer" in response.json()["error_description"].lower()
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_tokens_file_is_validated_with_clear_errors(tmp_path: Path) -> None:
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"abc": "agent"}))
    with pytest.raises(InvalidArgument, match="at least 16"):
        TokenMap.from_file(short)
    broken = tmp_path / "broken.yaml"
    broken.write_text("tokens: [unclosed")
    with pytest.raises(InvalidArgument, match="not valid"):
        TokenMap.from_file(broken)
    hashed = tmp_path / "hashed.yaml"
    import hashlib

    hashed.write_text(f"sha256:{hashlib.sha256(b'a-secret-token-123456').hexdigest()}: ci-bot\n")
    assert TokenMap.from_file(hashed).agent_for("a-secret-token-123456") == "ci-bot"
    assert TokenMap.from_file(hashed).agent_for("another-token-0000000") is None


def test_http_without_tokens_is_refused_and_no_auth_only_binds_loopback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OTEL_MCP_DB": str(tmp_path / "t.db")}
    env.pop("OTEL_MCP_TOKENS_FILE", None)
    base = server_command(["serve", "--transport", "streamable-http", "--port", "0"], env)
    refused = subprocess.run(base, env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert refused.returncode == 2 and "--tokens-file" in refused.stderr
    exposed = subprocess.run(
        [*base, "--no-auth", "--host", "0.0.0.0"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert exposed.returncode == 2 and "loopback" in exposed.stderr

"""The web pages over HTTP: beside /mcp behind the same tokens and Host/Origin guard, and `otel-mcp ui`.

The team deployment's whole ASGI stack is driven in process (the pages never reach the MCP session
manager); `otel-mcp ui` runs as a real process on a loopback port.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.server.auth import TokenMap
from otel_mcp.server.http_guard import HostPolicy
from otel_mcp.server.streamable_http import http_app, pages_for
from otel_mcp.server.web.sessions import COOKIE
from tests.conftest import REPO, call, make_runtime

pytestmark = pytest.mark.anyio

TOKEN = "token-for-the-ui-test-0001"
BASE = "http://127.0.0.1:8000"


@pytest.fixture
async def team(runtime: Runtime, client: Client) -> AsyncIterator[httpx2.AsyncClient]:
    """The streamable-HTTP deployment's ASGI stack with one token, after an agent recorded a task."""
    await call(client, "record_task", task_id="w/a", task_type="docs", status="started")
    tokens = TokenMap({hashlib.sha256(TOKEN.encode()).hexdigest(): "alice"})
    app = http_app(create_server(runtime), HostPolicy.for_bind("127.0.0.1"), tokens, pages=pages_for(runtime, tokens))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def test_without_logging_in_the_pages_redirect_to_the_form_and_the_data_is_refused(
    team: httpx2.AsyncClient,
) -> None:
    page = await team.get("/ui/")
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    for path in ("/ui/api/now", "/ui/api/graph", "/ui/api/timeline", "/ui/api/gates", "/ui/api/changes"):
        answer = await team.get(path)
        assert answer.status_code == 401, path
        assert "agents" not in answer.text and "w/a" not in answer.text
    form = await team.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text


async def test_a_wrong_token_gets_no_session_and_no_data(team: httpx2.AsyncClient) -> None:
    answer = await team.post("/ui/login", data={"token": "not-the-token-at-all-000"})
    assert answer.status_code == 401 and 'id="failed" class' in answer.text  # the message, no longer hidden
    assert COOKIE not in answer.headers.get("set-cookie", "")
    assert (
        await team.get("/ui/api/now", headers={"authorization": "Bearer not-the-token-at-all-000"})
    ).status_code == 401
    assert (await team.get("/ui/api/now", headers={"cookie": f"{COOKIE}=forged-session-value"})).status_code == 401


async def test_the_right_token_opens_an_httponly_strict_session_that_reads_the_store(
    team: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_mcp.http")
    answer = await team.post("/ui/login", data={"token": TOKEN})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/ui" in cookie
    session = cookie.split(";")[0].split("=", 1)[1]
    now = await team.get("/ui/api/now", headers={"cookie": f"{COOKIE}={session}"})
    assert now.status_code == 200
    (row,) = now.json()["agents"]
    assert row["agent_id"] == "agent-a" and row["tasks"][0]["task_id"] == "w/a"
    assert (await team.get("/ui/", headers={"cookie": f"{COOKIE}={session}"})).status_code == 200
    # A script may also present the token itself.
    assert (await team.get("/ui/api/graph", headers={"authorization": f"Bearer {TOKEN}"})).status_code == 200
    # Logged out, the session reads nothing.
    await team.post("/ui/logout", headers={"cookie": f"{COOKIE}={session}"})
    assert (await team.get("/ui/api/now", headers={"cookie": f"{COOKIE}={session}"})).status_code == 401
    assert TOKEN not in caplog.text and session not in caplog.text


async def test_the_pages_check_host_and_origin_as_mcp_does_and_mcp_keeps_its_own_auth(team: httpx2.AsyncClient) -> None:
    hdr = {"authorization": f"Bearer {TOKEN}"}
    assert (await team.get("/ui/api/now", headers={**hdr, "host": "attacker.example"})).status_code == 421
    assert (await team.get("/ui/api/now", headers={**hdr, "origin": "https://attacker.example"})).status_code == 403
    assert (await team.get("/ui/api/now", headers={**hdr, "origin": "http://127.0.0.1:8000"})).status_code == 200
    assert (await team.post("/mcp", json={})).status_code == 401  # the mount does not open /mcp
    assert (await team.get("/elsewhere")).status_code == 404


async def test_bad_filters_are_a_400_naming_the_argument(team: httpx2.AsyncClient) -> None:
    hdr = {"authorization": f"Bearer {TOKEN}"}
    answer = await team.get("/ui/api/timeline", params={"since": "whenever"}, headers=hdr)
    assert answer.status_code == 400 and "since 'whenever'" in answer.json()["error_description"]
    answer = await team.get("/ui/api/graph", params={"limit": "lots"}, headers=hdr)
    assert answer.status_code == 400 and "limit" in answer.json()["error_description"]
    answer = await team.get("/ui/api/trace", params={"task": "no/such"}, headers=hdr)
    assert answer.status_code == 404


async def test_the_page_its_script_and_the_vendored_layout_library_are_served_from_the_package(
    team: httpx2.AsyncClient,
) -> None:
    hdr = {"authorization": f"Bearer {TOKEN}"}
    for name, kind in (("app.js", "javascript"), ("dagre.js", "javascript"), ("app.css", "css")):
        answer = await team.get(f"/ui/static/{name}", headers=hdr)
        assert answer.status_code == 200 and kind in answer.headers["content-type"], name
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    licence = await team.get("/ui/static/dagre.LICENSE.txt")
    assert "MIT" in licence.text and "Chris Pettitt" in licence.text
    assert (await team.get("/ui/static/../app.py")).status_code == 404
    # Nothing is fetched from elsewhere at run time: no absolute URL in what the page loads.
    for name in ("index.html", "app.js", "app.css"):
        text = (await team.get(f"/ui/static/{name}")).text
        assert "https://" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name


def test_otel_mcp_ui_prints_its_url_and_store_and_serves_the_pages_on_loopback(db_path: Path) -> None:
    rt = make_runtime(db_path)
    rt.close()
    env = {
        "PYTHONPATH": str(REPO),
        "OTEL_MCP_DB": str(db_path),
        "OTEL_MCP_GATES_DIR": str(REPO / "gates"),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mcp", "ui", "--port", "0"],
        env=env,
        cwd=db_path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.fullmatch(
            r"otel-mcp ui: http://127\.0\.0\.1:(\d+)/ui/ \(read-only, this machine only\)", first.strip()
        )
        assert found, first
        port = int(found.group(1))
        assert proc.stdout.readline().strip() == f"store: {db_path.resolve()}"
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx2.get(f"http://127.0.0.1:{port}/ui/api/now", timeout=5)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "the ui server did not answer within 20 s"
                time.sleep(0.05)
        assert answer.status_code == 200 and json.loads(answer.text)["agents"] == []
        assert httpx2.get(f"http://127.0.0.1:{port}/", timeout=5, follow_redirects=False).headers["location"] == "/ui/"
        assert httpx2.get(f"http://127.0.0.1:{port}/ui/api/now", headers={"host": "evil.example"}).status_code == 421
    finally:
        proc.terminate()
        proc.wait(10)


def test_otel_mcp_ui_refuses_a_store_that_does_not_exist_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "telemetry.db"
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "ui", "--port", "0", "--db", str(missing)],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and str(missing) in done.stderr and "--db" in done.stderr
    assert not missing.parent.exists()

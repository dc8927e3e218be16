"""MCP Apps: hosts that render `ui://` views get the swarm view linked from find_ready and get_trace and a
view-only data tool; hosts without MCP Apps see exactly what they saw before.

Real in-memory MCP clients, one advertising the Apps extension as hosts do, one not.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.server.apps import SWARM_URI, VIEW_TOOL
from tests.conftest import call

pytestmark = pytest.mark.anyio


class _AppsHost(ClientExtension):
    """What a host that renders MCP Apps advertises."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


@pytest.fixture
async def apps_client(runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(runtime), extensions=[_AppsHost()]) as c:
        yield c


# The tools every host saw before the swarm view existed (names; their schemas are compared below).
BEFORE = {
    "record_task",
    "find_completed",
    "check_prerequisites",
    "get_trace",
    "query_spans",
    "list_gates",
    "submit_gate_evidence",
    "run_check",
    "claim_task",
    "release_task",
    "find_ready",
}


async def test_a_host_without_mcp_apps_sees_todays_tools_resources_and_results(
    client: Client, apps_client: Client
) -> None:
    plain = (await client.list_tools()).tools
    assert {t.name for t in plain} == BEFORE
    assert all(not (t.meta or {}).get("ui") for t in plain)
    assert [r.uri for r in (await client.list_resources()).resources if str(r.uri).startswith("ui://")] == []
    # The same tools as an Apps host sees, apart from the view-only tool and the link.
    rich = {t.name: t for t in (await apps_client.list_tools()).tools}
    for tool in plain:
        other = rich[tool.name]
        assert tool.input_schema == other.input_schema and tool.output_schema == other.output_schema
        assert tool.description == other.description
    # Results are the same for both.
    await call(client, "record_task", task_id="v/a", task_type="docs", status="planned")
    one = await call(client, "find_ready")
    two = await call(apps_client, "find_ready")
    assert one == two and one["tasks"][0]["task_id"] == "v/a"


async def test_an_apps_host_gets_the_view_linked_from_find_ready_and_get_trace_and_a_view_only_tool(
    apps_client: Client,
) -> None:
    tools = {t.name: t for t in (await apps_client.list_tools()).tools}
    assert set(tools) == BEFORE | {VIEW_TOOL}
    for linked in ("find_ready", "get_trace"):
        assert (tools[linked].meta or {})["ui"]["resourceUri"] == SWARM_URI
    assert (tools[VIEW_TOOL].meta or {})["ui"] == {"resourceUri": SWARM_URI, "visibility": ["app"]}
    (resource,) = [r for r in (await apps_client.list_resources()).resources if str(r.uri) == SWARM_URI]
    assert resource.mime_type == APP_MIME_TYPE
    read = await apps_client.read_resource(SWARM_URI)
    html = read.contents[0].text  # type: ignore[union-attr]
    assert "ui/initialize" in html and VIEW_TOOL in html and "http://" not in html and "https://" not in html


async def test_the_view_only_tool_answers_the_same_views_as_the_web_pages(apps_client: Client) -> None:
    await call(apps_client, "record_task", task_id="v/a", task_type="docs", status="planned")
    await call(apps_client, "record_task", task_id="v/b", task_type="docs", status="planned", depends_on=["v/a"])
    graph = await call(apps_client, VIEW_TOOL, view="graph")
    nodes = {t["task_id"]: t for t in graph["data"]["tasks"]}
    assert nodes["v/b"]["blocked_by"] == ["v/a"]
    now = await call(apps_client, VIEW_TOOL, view="now")
    assert [a["agent_id"] for a in now["data"]["agents"]] == ["agent-a"]
    trace = await call(apps_client, VIEW_TOOL, view="trace", task="v/a")
    assert trace["data"]["spans"][0]["task_id"] == "v/a"
    bad = await apps_client.call_tool(VIEW_TOOL, {"view": "now", "since": "whenever"})
    assert bad.is_error and "since 'whenever'" in json.dumps(bad.model_dump(mode="json"))

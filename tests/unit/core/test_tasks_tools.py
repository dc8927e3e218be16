"""The task tools through the official MCP client, in memory: ids, trace shape, audit, identity, schemas.

Behaviour both stores share (find_completed, check_prerequisites, get_trace, query_spans) is in
test_backends_tasks.py, which runs every test on SQLite and on ClickHouse.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, make_runtime

pytestmark = pytest.mark.anyio


async def test_record_task_returns_real_w3c_ids_and_names_the_span_after_type_and_status(client: Client) -> None:
    rec = await call(client, "record_task", task_id="auth/login", task_type="code_generation", status="started")
    assert len(rec["span_id"]) == 16 and int(rec["span_id"], 16)
    assert len(rec["trace_id"]) == 32 and int(rec["trace_id"], 16)
    assert rec["name"] == "code_generation_started"
    assert rec["status"] == "started"


async def test_records_of_one_task_tree_share_a_trace(client: Client) -> None:
    root = await call(client, "record_task", task_id="T1", task_type="plan", status="planned")
    child = await call(client, "record_task", task_id="T1/a", task_type="test", status="started", parent_task_id="T1")
    again = await call(client, "record_task", task_id="T1/a", task_type="test", status="complete", parent_task_id="T1")
    assert root["trace_id"] == child["trace_id"] == again["trace_id"]
    assert child["parent_span_id"] == root["span_id"]
    assert again["parent_span_id"] == child["span_id"]  # a task's later records hang under its first


async def test_every_tool_call_leaves_an_audit_span_with_the_outcome(client: Client) -> None:
    await call(client, "record_task", task_id="T", task_type="test", status="planned")
    await client.call_tool(
        "record_task",
        {"task_id": "T", "task_type": "test", "status": "planned", "attributes": {"otel_mcp.source": "runner"}},
    )
    rows = await call(
        client,
        "query_spans",
        sql="SELECT name, status_code, json_extract(attributes, "
        "'$.\"gen_ai.tool.name\"'), agent_id FROM spans WHERE source = 'audit' ORDER BY start_time",
    )
    assert rows["rows"][:2] == [
        ["tools/call record_task", "Ok", "record_task", "agent-a"],
        ["tools/call record_task", "Error", "record_task", "agent-a"],
    ]


async def test_the_agent_id_comes_from_configuration_not_arguments(db_path: Path) -> None:
    rt = make_runtime(db_path, agent_id="cursor-window-1")
    try:
        async with Client(create_server(rt)) as c:
            await call(c, "record_task", task_id="x", task_type="test", status="planned")
            # an argument named agent_id is not part of record_task's schema at all
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert "agent_id" not in tools["record_task"].input_schema["properties"]
            found = await call(c, "query_spans", sql="SELECT agent_id FROM spans WHERE task_id = 'x'")
            assert found["rows"] == [["cursor-window-1"]]
    finally:
        rt.close()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_both_protocol_eras_list_tools_prompts_and_instructions(runtime: Runtime, mode: str) -> None:
    async with Client(create_server(runtime), mode=mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"record_task", "find_completed", "check_prerequisites", "get_trace", "query_spans"} <= names
        assert "evidence" in (c.instructions or "").lower()
        prompts = {p.name for p in (await c.list_prompts()).prompts}
        assert "coordinate" in prompts
        text = (await c.get_prompt("coordinate", {"task_id": "auth/login"})).messages[0].content
        assert "auth/login" in getattr(text, "text", "")
        rec = await call(c, "record_task", task_id="era", task_type="test", status="planned")
        assert len(rec["span_id"]) == 16


async def test_tools_publish_output_schemas_for_structured_results(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in ("record_task", "find_completed", "check_prerequisites", "get_trace", "query_spans"):
        assert tools[name].output_schema is not None, name
        assert len(tools[name].description or "") > 40
    annotations = tools["find_completed"].annotations
    assert annotations is not None and annotations.read_only_hint is True

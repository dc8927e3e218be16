"""The task tools through the official MCP client, in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

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


async def test_find_completed_filters_by_type_parent_and_numeric_where(client: Client) -> None:
    await call(
        client,
        "record_task",
        task_id="T1/a",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"tests.failed": 0, "quality.score": 0.95},
    )
    await call(
        client,
        "record_task",
        task_id="T1/b",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"tests.failed": 10, "quality.score": 0.5},
    )
    await call(client, "record_task", task_id="T1/c", task_type="review", status="complete", parent_task_id="T1")
    await call(client, "record_task", task_id="T1/d", task_type="test", status="started", parent_task_id="T1")

    tests = await call(client, "find_completed", task_type="test")
    assert {r["task_id"] for r in tests["records"]} == {"T1/a", "T1/b"}
    good = await call(client, "find_completed", parent_task_id="T1", where={"quality.score": ">= 0.9"})
    assert [r["task_id"] for r in good["records"]] == ["T1/a"]
    # "10" > "9" as numbers, not as strings
    many = await call(client, "find_completed", where={"tests.failed": "> 9"})
    assert [r["task_id"] for r in many["records"]] == ["T1/b"]
    listed = await call(client, "find_completed", where={"tests.failed": "in [0, 1]"})
    assert [r["task_id"] for r in listed["records"]] == ["T1/a"]
    assert tests["records"][0]["agent_id"] == "agent-a"
    assert tests["records"][0]["source"] == "agent"


async def test_find_completed_returns_each_task_once_newest_first_and_honours_limit(client: Client) -> None:
    for i in range(5):
        await call(
            client, "record_task", task_id=f"job-{i}", task_type="build", status="complete", attributes={"run": 1}
        )
    await call(client, "record_task", task_id="job-0", task_type="build", status="complete", attributes={"run": 2})
    found = await call(client, "find_completed", task_type="build", limit=3)
    assert [r["task_id"] for r in found["records"]] == ["job-0", "job-4", "job-3"]
    assert found["records"][0]["attributes"]["run"] == 2


async def test_find_completed_since_excludes_older_records(client: Client) -> None:
    await call(client, "record_task", task_id="old", task_type="build", status="complete")
    assert (await call(client, "find_completed", since="1h"))["count"] == 1
    assert (await call(client, "find_completed", since="2999-01-01T00:00:00Z"))["count"] == 0


async def test_check_prerequisites_names_complete_pending_failed_and_missing_dependencies(client: Client) -> None:
    await call(client, "record_task", task_id="a", task_type="build", status="complete")
    await call(client, "record_task", task_id="b", task_type="test", status="failed", summary="2 tests fail")
    await call(client, "record_task", task_id="c", task_type="test", status="started")
    await call(
        client, "record_task", task_id="d", task_type="deploy", status="planned", depends_on=["a", "b", "c", "never"]
    )
    pre = await call(client, "check_prerequisites", task_id="d")
    assert pre["ready"] is False
    assert pre["complete"] == ["a"]
    assert pre["failed"] == ["b"]
    assert sorted(pre["pending"]) == ["c", "never"]
    assert "never recorded" in pre["reason"] and "b" in pre["reason"]

    await call(client, "record_task", task_id="b", task_type="test", status="complete")
    await call(client, "record_task", task_id="c", task_type="test", status="complete")
    await call(client, "record_task", task_id="never", task_type="test", status="complete")
    # d's later "started" record does not repeat depends_on: the declared list still applies
    await call(client, "record_task", task_id="d", task_type="deploy", status="started")
    assert (await call(client, "check_prerequisites", task_id="d"))["ready"] is True


async def test_check_prerequisites_waits_for_subtasks(client: Client) -> None:
    await call(client, "record_task", task_id="epic", task_type="plan", status="planned")
    await call(client, "record_task", task_id="epic/1", task_type="test", status="complete", parent_task_id="epic")
    await call(client, "record_task", task_id="epic/2", task_type="test", status="started", parent_task_id="epic")
    pre = await call(client, "check_prerequisites", task_id="epic")
    assert pre["ready"] is False and pre["pending"] == ["epic/2"]
    assert [s["task_id"] for s in pre["subtasks"]] == ["epic/1", "epic/2"]


async def test_get_trace_returns_the_tree_depth_first_from_any_id(client: Client) -> None:
    root = await call(client, "record_task", task_id="R", task_type="plan", status="planned")
    await call(client, "record_task", task_id="R/x", task_type="test", status="complete", parent_task_id="R")
    by_task = await call(client, "get_trace", task_id="R")
    by_span = await call(client, "get_trace", span_id=root["span_id"])
    by_trace = await call(client, "get_trace", trace_id=root["trace_id"])
    assert by_task == by_span == by_trace
    assert [(s["task_id"], s["depth"]) for s in by_task["spans"]] == [("R", 0), ("R/x", 1)]


async def test_query_spans_answers_the_original_question(client: Client) -> None:
    await call(
        client,
        "record_task",
        task_id="T1/a",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"quality.score": 0.8},
    )
    result = await call(
        client,
        "query_spans",
        sql="SELECT task_status, quality_score FROM spans WHERE task_parent_id = 'T1' AND task_status = 'complete'",
    )
    assert result["columns"] == ["task_status", "quality_score"]
    assert result["rows"] == [["complete", 0.8]]


async def test_query_spans_caps_rows_and_says_so(client: Client) -> None:
    for i in range(5):
        await call(client, "record_task", task_id=f"t{i}", task_type="test", status="planned")
    result = await call(client, "query_spans", sql="SELECT span_id FROM spans", limit=3)
    assert result["row_count"] == 3 and result["truncated"] is True and "3 rows" in result["note"]


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
async def test_both_protocol_eras_list_tools_prompts_and_instructions(runtime, mode: str) -> None:  # type: ignore[no-untyped-def]
    async with Client(create_server(runtime), mode=mode) as c:  # type: ignore[arg-type]
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
        assert tools[name].description and len(tools[name].description) > 40
    assert tools["find_completed"].annotations.read_only_hint is True


def _nullable_any_ofs(schema: object, where: str = "") -> list[str]:
    if isinstance(schema, list):
        return [hit for i, item in enumerate(schema) for hit in _nullable_any_ofs(item, f"{where}[{i}]")]
    if not isinstance(schema, dict):
        return []
    options = schema.get("anyOf")
    own = [where] if isinstance(options, list) and {"type": "null"} in options and len(options) == 2 else []
    simple = own and all(set(o) == {"type"} for o in options)  # type: ignore[union-attr]
    return (own if simple else []) + [
        hit for key, value in schema.items() for hit in _nullable_any_ofs(value, f"{where}.{key}")
    ]


async def test_every_tool_publishes_a_compact_output_schema(client: Client) -> None:
    # Clients re-validate each result against it: `type: [X, null]` instead of a two-branch anyOf per
    # optional field keeps that cheap (it was a fifth of claim_task's round trip).
    tools = (await client.list_tools()).tools
    assert len(tools) >= 10
    for tool in tools:
        assert tool.output_schema is not None, tool.name
        assert _nullable_any_ofs(tool.output_schema) == [], tool.name
    claim = next(t for t in tools if t.name == "claim_task").output_schema
    assert claim is not None and claim["properties"]["holder"]["type"] == ["string", "null"]

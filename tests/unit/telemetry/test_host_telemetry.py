"""Hosts' own telemetry, shaped exactly like Claude Code's, Codex's and Copilot's, lands on the right agent.

The fixtures in tests/fixtures/otlp/ are OTLP/JSON as each host documents its events and spans. They
go through the receiver `otel-mcp collect` serves (the same ASGI app, in process) into a real store,
on SQLite and on ClickHouse (chdb), and are then read the way people and agents read the record:
`query_spans`, `get_trace`, `otel-mcp trace` and `otel-mcp report`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import httpx2
import pytest
from mcp import Client

from otel_mcp.commands.report import format_report
from otel_mcp.commands.trace import format_trace
from otel_mcp.core.report import build_report
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.server.otlp_http import receiver_for
from tests.conftest import REPO, call

pytestmark = pytest.mark.anyio

FIXTURES = REPO / "tests" / "fixtures" / "otlp"
CLAUDE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLAUDE_TOOL_SPAN = "00f067aa0ba902b9"
COPILOT_TRACE = "0af7651916cd43dd8448eb211c80319c"
COPILOT_TOOL_SPAN = "b7ad6b7169203333"


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


async def _send(runtime: Runtime, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    transport = httpx2.ASGITransport(app=receiver_for(runtime.store))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.post(path, content=json.dumps(payload), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _sql(client: Client, backend: str, sql_sqlite: str, sql_clickhouse: str) -> list[list[Any]]:
    result = await call(client, "query_spans", sql=sql_sqlite if backend == "sqlite" else sql_clickhouse)
    return result["rows"]


async def _call_with_traceparent(runtime: Runtime, agent: str, trace_id: str, parent: str, task: str) -> None:
    """An MCP tools/call carrying SEP-414 `_meta.traceparent`, as VS Code sends it, from another agent's server."""
    settings = replace(runtime.settings, agent_id=agent)
    own = Runtime(settings, runtime.store, Runtime.telemetry_for(settings, runtime.store, env={}))
    try:
        async with Client(create_server(own)) as client:
            result = await client.call_tool(
                "record_task",
                {"task_id": task, "task_type": "code_generation", "status": "started"},
                meta={"traceparent": f"00-{trace_id}-{parent}-01"},  # type: ignore[arg-type]
            )
            assert not result.is_error
    finally:
        own.telemetry.shutdown()  # stores its audit spans; the store stays open for the test
        own.catalog_loader.close()


async def test_claude_code_events_land_on_the_agent_named_in_otel_resource_attributes(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    answer = await _send(backend_runtime, "/v1/logs", _fixture("claude_code_logs.json"))
    assert answer == {}
    backend = backend_runtime.settings.backend
    rows = await _sql(
        backend_client,
        backend,
        "SELECT name, agent_id, source, task_id FROM spans WHERE json_extract(attributes, '$.\"tool_use_id\"') = "
        "'toolu_01CLAUDE' ORDER BY start_time",
        "SELECT name, agent_id, source, task_id FROM spans WHERE JSONExtractString(attributes, 'tool_use_id') = "
        "'toolu_01CLAUDE' ORDER BY start_time",
    )
    assert rows == [
        ["claude_code.tool_decision", "claude-backend", "external", "auth/login"],
        ["claude_code.tool_result", "claude-backend", "external", "auth/login"],
    ]
    by_prompt = await _sql(
        backend_client,
        backend,
        "SELECT count(*) FROM spans WHERE json_extract(attributes, '$.\"prompt.id\"') = 'prompt-1'",
        "SELECT count() FROM spans WHERE JSONExtractString(attributes, 'prompt.id') = 'prompt-1'",
    )
    assert int(by_prompt[0][0]) == 4
    # The task the resource named shows them on its trace.
    trace = await call(backend_client, "get_trace", task_id="auth/login")
    assert [s["name"] for s in trace["spans"]] == [
        "claude_code.user_prompt",
        "claude_code.api_request",
        "claude_code.tool_decision",
        "claude_code.tool_result",
    ]
    report = build_report(backend_runtime.store)
    host = {h.agent_id: h for h in report.host_telemetry}
    assert host["claude-backend"].events == 4
    assert "claude-code" in host["claude-backend"].services
    assert "claude-backend" in format_report(report.model_dump())


async def test_copilot_spans_join_the_agent_whose_mcp_call_carried_their_traceparent(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await _call_with_traceparent(backend_runtime, "copilot-frontend", COPILOT_TRACE, COPILOT_TOOL_SPAN, "ui/form")
    await _send(backend_runtime, "/v1/traces", _fixture("copilot_traces.json"))
    trace = await call(backend_client, "get_trace", trace_id=COPILOT_TRACE)
    external = {s["name"]: s for s in trace["spans"] if s["source"] == "external"}
    assert set(external) == {"invoke_agent GitHub Copilot", "chat gpt-5", "execute_tool record_task"}
    assert {s["agent_id"] for s in external.values()} == {"copilot-frontend"}
    invoke = external["invoke_agent GitHub Copilot"]["attributes"]
    assert invoke["otel_mcp.agent.mapped_by"] == "trace"
    assert invoke["otel_mcp.host.agent.id"] == "copilot-agent"  # the host's own id is kept beside ours
    audit = [s for s in trace["spans"] if s["name"] == "tools/call record_task"]
    assert audit and audit[0]["parent_span_id"] == COPILOT_TOOL_SPAN
    text = format_trace(trace)
    assert "invoke_agent GitHub Copilot" in text and "copilot-frontend" in text


async def test_claude_code_beta_spans_map_by_trace_then_by_its_agent_id_then_by_session(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await _call_with_traceparent(backend_runtime, "claude-frontend", CLAUDE_TRACE, CLAUDE_TOOL_SPAN, "ui/nav")
    await _send(backend_runtime, "/v1/traces", _fixture("claude_code_traces.json"))
    # A later interaction in another trace: only Claude Code's own agent_id ties it to the agent.
    later = copy.deepcopy(_fixture("claude_code_traces.json"))
    spans = later["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for span in spans:
        span["traceId"] = "5" * 32
        span["spanId"] = "5" + span["spanId"][1:]
        span.pop("parentSpanId", None)
    tool = next(s for s in spans if s["name"] == "claude_code.tool")
    tool["attributes"] = [a for a in tool["attributes"] if a["key"] != "session.id"]
    later["resourceSpans"][0]["scopeSpans"][0]["spans"] = [tool]
    await _send(backend_runtime, "/v1/traces", later)
    # Events of the session (no trace, no agent id of any kind): by the session the spans were in.
    events = copy.deepcopy(_fixture("claude_code_logs.json"))
    resource = events["resourceLogs"][0]["resource"]
    resource["attributes"] = [a for a in resource["attributes"] if not a["key"].startswith("otel_mcp.")]
    for record in events["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        record["attributes"] = [
            {"key": "session.id", "value": {"stringValue": "cc-session-2"}} if a["key"] == "session.id" else a
            for a in record["attributes"]
            if not a["key"].startswith("otel_mcp.")
        ]
    await _send(backend_runtime, "/v1/logs", events)

    backend = backend_runtime.settings.backend
    rows = await _sql(
        backend_client,
        backend,
        "SELECT name, agent_id, json_extract(attributes, '$.\"otel_mcp.agent.mapped_by\"') FROM spans "
        "WHERE source = 'external' ORDER BY start_time, name",
        "SELECT name, agent_id, JSONExtractString(attributes, 'otel_mcp.agent.mapped_by') FROM spans "
        "WHERE source = 'external' ORDER BY start_time, name",
    )
    how = {(name, by) for name, agent, by in rows if agent == "claude-frontend"}
    assert ("claude_code.interaction", "trace") in how
    assert ("claude_code.tool", "host_agent") in how  # the later one, in its own trace
    assert ("claude_code.tool_result", "session") in how
    assert {agent for _, agent, _ in rows} == {"claude-frontend"}


async def test_codex_events_without_any_mapping_are_kept_under_their_conversation_until_one_is_mapped(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    codex = _fixture("codex_logs.json")
    await _send(backend_runtime, "/v1/logs", codex)
    report = build_report(backend_runtime.store)
    unmapped = {h.session: h for h in report.host_telemetry if h.agent_id is None}
    assert unmapped["conv-codex-1"].events == 4
    assert "(no agent) session conv-codex-1" in format_report(report.model_dump())
    # The same conversation, once one event names the agent (OTEL_RESOURCE_ATTRIBUTES in Codex's
    # environment): its later events follow by conversation.id.
    named = copy.deepcopy(codex)
    records = named["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records[0]["attributes"].append({"key": "otel_mcp.agent.id", "value": {"stringValue": "codex-tests"}})
    records[0]["timeUnixNano"] = str(int(records[0]["timeUnixNano"]) + 10**10)
    for record in records[1:]:
        record["timeUnixNano"] = str(int(record["timeUnixNano"]) + 2 * 10**10)
    await _send(backend_runtime, "/v1/logs", named)
    rows = await _sql(
        backend_client,
        backend_runtime.settings.backend,
        "SELECT agent_id, count(*) FROM spans WHERE source = 'external' GROUP BY agent_id ORDER BY agent_id",
        "SELECT agent_id, count() FROM spans WHERE source = 'external' GROUP BY agent_id ORDER BY agent_id",
    )
    assert {a: int(n) for a, n in rows} == {None: 4, "codex-tests": 4}


async def test_a_large_batch_of_a_mapped_conversations_events_lands_whole_on_its_agent(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    # Past a few dozen, events the server maps by session are finished into rows by its workers.
    codex = _fixture("codex_logs.json")
    named = copy.deepcopy(codex)
    first = named["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    first["attributes"].append({"key": "otel_mcp.agent.id", "value": {"stringValue": "codex-tests"}})
    await _send(backend_runtime, "/v1/logs", named)
    many = copy.deepcopy(codex)
    scope = many["resourceLogs"][0]["scopeLogs"][0]
    kinds = scope["logRecords"]
    scope["logRecords"] = [
        {
            **kinds[i % len(kinds)],
            "timeUnixNano": str(int(kinds[i % len(kinds)]["timeUnixNano"]) + (i + 1) * 10**9),
            "attributes": [*kinds[i % len(kinds)]["attributes"], {"key": "n", "value": {"intValue": str(i)}}],
        }
        for i in range(300)
    ]
    await _send(backend_runtime, "/v1/logs", many)
    rows = await _sql(
        backend_client,
        backend_runtime.settings.backend,
        "SELECT agent_id, json_extract(attributes, '$.\"otel_mcp.agent.mapped_by\"'), count(*) FROM spans "
        "WHERE source = 'external' GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT agent_id, JSONExtractString(attributes, 'otel_mcp.agent.mapped_by'), count() FROM spans "
        "WHERE source = 'external' GROUP BY 1, 2 ORDER BY 1, 2",
    )
    assert {(a, how): int(n) for a, how, n in rows} == {
        ("codex-tests", "resource"): 1,
        ("codex-tests", "trace"): 3,  # the rest of the first request: its trace (derived from the session)
        ("codex-tests", "session"): 300,  # a receiver that never saw the trace: found by session in the store
    }


async def test_gemini_cli_events_posted_to_the_root_url_it_is_given_land_on_the_agent(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    # Gemini CLI's HTTP exporters post every signal to the one URL in `otlpEndpoint`: OTLP/JSON
    # tells them apart by its top-level key.
    answer = await _send(backend_runtime, "/", _fixture("gemini_cli_logs.json"))
    assert answer == {}
    rows = await _sql(
        backend_client,
        backend_runtime.settings.backend,
        "SELECT name, agent_id FROM spans WHERE source = 'external' ORDER BY start_time",
        "SELECT name, agent_id FROM spans WHERE source = 'external' ORDER BY start_time",
    )
    assert rows == [
        ["gemini_cli.user_prompt", "gemini-docs"],
        ["gemini_cli.api_request", "gemini-docs"],
        ["gemini_cli.tool_call", "gemini-docs"],
    ]
    transport = httpx2.ASGITransport(app=receiver_for(backend_runtime.store))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        refused = await client.post("/", content=b"\x0a\x00", headers={"Content-Type": "application/x-protobuf"})
    assert refused.status_code == 400

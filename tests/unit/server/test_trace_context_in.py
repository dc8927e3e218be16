"""Trace context in: a caller's `_meta.traceparent` (SEP-414, stdio) or HTTP `traceparent` header.

The audit span and every span the call writes (the task record included) join the caller's trace;
the record links to its task's first record instead. One span per call: the SDK's own SERVER span
gives way to the audit span, which carries the MCP conventions' attributes.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import REPO, call, stdio_params
from tests.support.http_server import HttpServer, start_http_server

pytestmark = pytest.mark.anyio

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER_SPAN = "b7ad6b7169203331"


def _spans(db: Path, where: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute(
            f"SELECT span_id, trace_id, parent_span_id, name, links, attributes FROM span_store WHERE {where} "
            "ORDER BY start_ns"
        ).fetchall()
    finally:
        con.close()
    return [{**dict(r), "attributes": json.loads(r["attributes"]), "links": json.loads(r["links"])} for r in rows]


async def test_a_tools_call_with_meta_traceparent_over_stdio_joins_the_callers_trace(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    async with Client(stdio_params(db, "vscode-agent")) as client:
        first = await client.call_tool(
            "record_task",
            {"task_id": "T", "task_type": "code_generation", "status": "started"},
            meta={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},  # type: ignore[arg-type]
        )
        assert not first.is_error
        second = await client.call_tool(
            "record_task",
            {"task_id": "T", "task_type": "code_generation", "status": "complete"},
            meta={"traceparent": f"00-{OTHER_TRACE}-{OTHER_SPAN}-01"},  # type: ignore[arg-type]
        )
        assert not second.is_error
        plain = await call(client, "record_task", task_id="U", task_type="docs", status="started")
        await call(client, "get_trace", task_id="T")  # stores the buffered audit spans
    audit = _spans(db, "source = 'audit' AND name = 'tools/call record_task'")
    records = _spans(db, "task_id IN ('T', 'U') AND task_status IS NOT NULL")
    assert [a["trace_id"] for a in audit] == [CALLER_TRACE, OTHER_TRACE, audit[2]["trace_id"]]
    assert [a["parent_span_id"] for a in audit] == [CALLER_SPAN, OTHER_SPAN, None]
    started, completed, unjoined = records
    assert (started["trace_id"], started["parent_span_id"]) == (CALLER_TRACE, audit[0]["span_id"])
    # The second call's record joins its own caller's trace, linked to the task's first record.
    assert (completed["trace_id"], completed["parent_span_id"]) == (OTHER_TRACE, audit[1]["span_id"])
    assert [started["trace_id"], started["span_id"]] in completed["links"]
    # Without trace context nothing changes: the record roots its own task tree, linked to its audit span.
    assert unjoined["trace_id"] == plain["trace_id"] != audit[2]["trace_id"]
    assert [audit[2]["trace_id"], audit[2]["span_id"]] in unjoined["links"]
    # The MCP semantic conventions' attributes, on the one span the call made.
    attrs = audit[0]["attributes"]
    assert attrs["mcp.method.name"] == "tools/call"
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["gen_ai.tool.name"] == "record_task"
    assert attrs["mcp.protocol.version"]
    assert attrs["jsonrpc.request.id"]


@pytest.fixture
def http(tmp_path: Path) -> Iterator[HttpServer]:
    server = start_http_server(tmp_path, "--no-auth")
    try:
        yield server
    finally:
        server.stop()


async def test_a_tools_call_with_a_traceparent_header_over_http_joins_the_callers_trace(
    http: HttpServer, tmp_path: Path
) -> None:
    headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}  # what Claude Code sends with tracing on
    transport = streamable_http_client(http.url, http_client=httpx2.AsyncClient(headers=headers, timeout=30))
    async with Client(transport, mode="legacy") as client:  # 2025-11-25: the era with HTTP sessions
        record = await call(client, "record_task", task_id="H", task_type="code_generation", status="started")
        await call(client, "get_trace", task_id="H")
    assert record["trace_id"] == CALLER_TRACE
    audit = _spans(tmp_path / "telemetry.db", "source = 'audit' AND name = 'tools/call record_task'")
    assert (audit[0]["trace_id"], audit[0]["parent_span_id"]) == (CALLER_TRACE, CALLER_SPAN)
    assert audit[0]["attributes"]["mcp.session.id"]  # the streamable-HTTP session
    assert record["parent_span_id"] == audit[0]["span_id"]


def test_one_span_per_tool_call_even_with_a_global_tracer_provider_installed(tmp_path: Path) -> None:
    # A process-wide provider cannot be undone, so this runs in a process of its own.
    script = textwrap.dedent(
        f"""
        import anyio
        from mcp import Client
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from tests.conftest import make_runtime
        from otel_mcp.server import create_server

        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        trace.set_tracer_provider(provider)
        runtime = make_runtime(__import__("pathlib").Path({str(tmp_path / "t.db")!r}))

        async def main():
            async with Client(create_server(runtime)) as client:
                await client.list_tools()
                await client.call_tool("record_task", {{"task_id": "T", "task_type": "docs", "status": "started"}})

        anyio.run(main)
        runtime.close()
        print(sorted(s.name for s in memory.get_finished_spans() if s.kind == trace.SpanKind.SERVER))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    global_spans = out.strip().splitlines()[-1]
    assert "tools/list" in global_spans  # the SDK still spans every other message
    assert "tools/call" not in global_spans  # the tool call's one span is the audit span, in the store
    audit = _spans(tmp_path / "t.db", "source = 'audit'")
    assert [a["name"] for a in audit] == ["tools/call record_task"]

"""With OTEL_EXPORTER_OTLP_ENDPOINT set, every span also goes over OTLP to a collector."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.config import Settings
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, stdio_params
from tests.support.otlp_receiver import OtlpHttpReceiver

pytestmark = pytest.mark.anyio


async def test_spans_reach_a_loopback_otlp_http_collector_with_ids_and_identity(db_path: Path) -> None:
    with OtlpHttpReceiver() as collector:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
        runtime = Runtime.open(Settings(agent_id="agent-otlp", db_path=db_path), env=env)
        try:
            async with Client(create_server(runtime)) as client:
                rec = await call(
                    client,
                    "record_task",
                    task_id="T",
                    task_type="test",
                    status="complete",
                    attributes={"tests.failed": 0},
                )
            runtime.telemetry.force_flush()
        finally:
            runtime.close()
        assert collector.wait_for(lambda spans: any(s.span_id == rec["span_id"] for s in spans))
        task = next(s for s in collector.spans if s.span_id == rec["span_id"])
        assert task.trace_id == rec["trace_id"]
        assert task.name == "test_complete"
        assert task.attributes["tests.failed"] == 0
        assert task.attributes["gen_ai.agent.id"] == "agent-otlp"
        assert task.resource["service.name"] == "otel-mcp"
        assert any(s.name == "tools/call record_task" for s in collector.spans)  # the audit span too


async def test_a_server_process_ships_spans_over_otlp_when_the_standard_variable_is_set(db_path: Path) -> None:
    with OtlpHttpReceiver() as collector:
        params = stdio_params(db_path, "agent-proc", OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint)
        async with Client(params) as client:
            rec = await call(client, "record_task", task_id="P", task_type="build", status="started")
        # the batch processor flushes on shutdown, when the client closes the server's stdin
        assert collector.wait_for(lambda spans: any(s.span_id == rec["span_id"] for s in spans), timeout=15)


def test_without_the_variable_no_otlp_exporter_is_configured(db_path: Path) -> None:
    runtime = Runtime.open(Settings(agent_id="a", db_path=db_path), env={})
    try:
        assert runtime.telemetry.otlp is None
    finally:
        runtime.close()

"""Bad input gets a sentence a model can act on, and changes nothing in the shared record."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from tests.conftest import call, call_error

pytestmark = pytest.mark.anyio

OK = {"task_id": "T1", "task_type": "test", "status": "complete"}


def _task_spans(runtime: Runtime) -> int:
    # Rejected calls are still audited (who asked what); what must not change is the task record.
    db = runtime.store.raw()  # type: ignore[attr-defined]
    return int(db.execute("SELECT count(*) FROM span_store WHERE source != 'audit'").fetchone()[0])


BAD_RECORDS: list[tuple[dict[str, Any], str]] = [
    ({**OK, "task_id": ""}, "task_id"),
    ({**OK, "task_id": "x" * 201}, "200"),
    ({**OK, "task_id": "has space"}, "not allowed"),
    ({**OK, "task_id": "new\nline"}, "not allowed"),
    ({**OK, "status": "done"}, "status"),
    ({**OK, "task_type": "Security Scan!"}, "task_type"),
    ({**OK, "attributes": {"nested": {"a": 1}}}, "flatten nested objects"),
    ({**OK, "attributes": {"mixed": [1, "a"]}}, "one type"),
    ({**OK, "attributes": {"otel_mcp.source": "runner"}}, "reserved"),
    ({**OK, "attributes": {"otel_mcp.attestation": "forged"}}, "reserved"),
    ({**OK, "attributes": {"gen_ai.agent.id": "someone-else"}}, "OTEL_MCP_AGENT_ID"),
    ({**OK, "attributes": {"task.status": "complete"}}, "status"),
    ({**OK, "attributes": {"quality.score": 1.5}}, "between 0 and 1"),
    ({**OK, "attributes": {"quality.score": "high"}}, "number"),
    ({**OK, "attributes": {"big": "x" * 5000}}, "4096"),
    ({**OK, "attributes": {f"k{i}": i for i in range(65)}}, "64"),
    ({**OK, "attributes": {"bad key!": 1}}, "not allowed"),
    ({**OK, "attributes": {"n": 2**70}}, "64 bits"),
    ({**OK, "depends_on": ["T1"]}, "itself"),
    ({**OK, "depends_on": ["ok", "not ok"]}, "not allowed"),
    ({**OK, "parent_task_id": "T1"}, "another task"),
    ({**OK, "summary": "s" * 2001}, "2000"),
]


@pytest.mark.parametrize(("arguments", "expected"), BAD_RECORDS)
async def test_a_bad_record_is_refused_with_a_reason_and_nothing_is_written(
    client: Client, runtime: Runtime, arguments: dict[str, Any], expected: str
) -> None:
    before = _task_spans(runtime)
    message = await call_error(client, "record_task", **arguments)
    assert expected in message
    assert "Traceback" not in message
    assert _task_spans(runtime) == before


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("find_completed", {"where": {"quality.score": ">= high"}}, "needs a number"),
        ("find_completed", {"where": {"bad key!": 1}}, "not an attribute name"),
        ("find_completed", {"where": {"x": "in []"}}, "in [a, b, c]"),
        ("find_completed", {"since": "yesterday-ish"}, "ISO-8601"),
        ("find_completed", {"limit": 0}, "limit"),
        ("find_completed", {"limit": 100000}, "limit"),
        ("check_prerequisites", {"task_id": "nobody-recorded-this"}, "no records yet"),
        ("get_trace", {}, "exactly one"),
        ("get_trace", {"task_id": "a", "span_id": "00f067aa0ba902b7"}, "exactly one"),
        ("get_trace", {"span_id": "xyz"}, "16 lowercase hex"),
        ("get_trace", {"span_id": "00F067AA0BA902B7"}, "16 lowercase hex"),
        ("get_trace", {"span_id": "0000000000000000"}, "invalid span id"),
        ("get_trace", {"trace_id": "abc"}, "32 lowercase hex"),
        ("get_trace", {"span_id": "00f067aa0ba902b7"}, "does not exist"),
        ("get_trace", {"task_id": "unknown-task"}, "no spans"),
    ],
)
async def test_bad_reads_get_clear_errors(client: Client, tool: str, arguments: dict[str, Any], expected: str) -> None:
    assert expected in await call_error(client, tool, **arguments)


HOSTILE_SQL = [
    ("DELETE FROM spans", "only"),
    ("UPDATE spans SET task_status = 'complete'", "only"),
    ("INSERT INTO spans (span_id) VALUES ('x')", "only"),
    ("DROP VIEW spans", "not allowed"),
    ("CREATE TABLE evil (a)", "not allowed"),
    ("ATTACH DATABASE '/tmp/otel-mcp-evil.db' AS evil", "ATTACH"),
    ("PRAGMA writable_schema = 1", "PRAGMA"),
    ("PRAGMA table_info(spans)", "PRAGMA"),
    ("SELECT 1; DELETE FROM span_store", "one SELECT"),
    ("SELECT * FROM span_store", "query the 'spans' view"),
    ("SELECT * FROM sqlite_master", "query the 'spans' view"),
    ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
    ("SELECT randomblob(2000000000)", "randomblob"),
    ("VACUUM INTO '/tmp/otel-mcp-copy.db'", "not allowed"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "stopped the query"),
    ("SELECT * FROM nowhere", "no such table"),
    ("SELEKT 1", "syntax error"),
    ("", "SELECT"),
]


@pytest.mark.parametrize(("sql", "expected"), HOSTILE_SQL)
async def test_query_spans_refuses_anything_but_a_bounded_read(
    client: Client, runtime: Runtime, sql: str, expected: str
) -> None:
    await call(client, "record_task", **OK)
    before = _task_spans(runtime)
    assert expected in await call_error(client, "query_spans", sql=sql)
    assert _task_spans(runtime) == before
    # the view is intact and the store still answers
    rows = await call(client, "query_spans", sql="SELECT count(*) FROM spans WHERE source = 'agent'")
    assert rows["rows"] == [[before]]


async def test_oversized_sql_is_refused_before_it_runs(client: Client) -> None:
    message = await call_error(client, "query_spans", sql="SELECT 1 " + " " * 10001)
    assert "10000" in message

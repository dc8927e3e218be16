"""query_spans on both stores: the agent's SQL reads the `spans` view and nothing else, and the engine
stops it at the time and memory caps with a sentence that says why (issue 12).

ClickHouse is the real engine (chdb) behind its HTTP interface. What a `readonly=1` query could
still reach there before (system tables, the exporter's raw table, `file()`, `merge()` over other
databases, `numbers()` of any size, other agents' queries in `system.processes`) is refused by
name; see `otel_mcp/store/clickhouse/sandbox_admission.py`.
"""

from __future__ import annotations

import time

import pytest
from mcp import Client

from otel_mcp.core.tasks import SQL_TIMEOUT_S
from tests.conftest import call, call_error

pytestmark = pytest.mark.anyio

SLACK_S = 1.0

# (backend, sql, the name the refusal must give)
BEYOND_THE_VIEW = {
    "sqlite": [
        ("WITH spans AS (SELECT * FROM sqlite_master) SELECT type, name FROM spans", "sqlite_master"),
        ("SELECT count(*) FROM span_store", "span_store"),
    ],
    "clickhouse": [
        ("WITH spans AS (SELECT * FROM system.tables) SELECT name FROM spans", "system.tables"),
        ("WITH spans AS (SELECT ResourceAttributes FROM otel_traces) SELECT * FROM spans", "otel_traces"),
        ("SELECT count() FROM otel_traces", "otel_traces"),
    ],
}
# A query that runs until the time cap, and one that needs more memory than a query may have.
SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "clickhouse": "SELECT count() FROM (SELECT arrayJoin(range(100000)) AS a) AS p, "
    "(SELECT arrayJoin(range(100000)) AS b) AS q",
}
GREEDY = {
    "sqlite": "WITH RECURSIVE c(x, s) AS (SELECT 1, printf('%.*c', 10000, 'x') UNION SELECT x + 1, s FROM c) "
    "SELECT count(*) FROM c",
    "clickhouse": "SELECT sum(length(arrayMap(x -> repeat('a', 1000), range(1000000))))",
}
ATTRIBUTE_KEYS = {
    "sqlite": "SELECT a.key FROM spans, json_each(spans.attributes) AS a WHERE spans.task_id = 'T1' "
    "AND spans.source = 'agent' AND a.key LIKE 'tests.%' ORDER BY 1",
    "clickhouse": "SELECT k FROM spans ARRAY JOIN JSONExtractKeys(attributes) AS k WHERE task_id = 'T1' "
    "AND source = 'agent' AND k LIKE 'tests.%' ORDER BY 1",
}


async def test_the_view_is_all_a_query_can_read_on_either_store(backend_client: Client, store_backend: str) -> None:
    await call(backend_client, "record_task", task_id="T1", task_type="test", status="complete")
    for sql, named in BEYOND_THE_VIEW[store_backend]:
        message = await call_error(backend_client, "query_spans", sql=sql)
        assert "query refused" in message and named in message, message
    rows = await call(backend_client, "query_spans", sql="SELECT count() AS n FROM spans WHERE task_id = 'T1'")
    assert rows["rows"] == [[1]]


async def test_attributes_can_be_read_key_by_key_on_either_store(backend_client: Client, store_backend: str) -> None:
    await call(
        backend_client,
        "record_task",
        task_id="T1",
        task_type="test",
        status="complete",
        attributes={"tests.failed": 0, "tests.passed": 3},
    )
    result = await call(backend_client, "query_spans", sql=ATTRIBUTE_KEYS[store_backend])
    assert result["rows"] == [["tests.failed"], ["tests.passed"]]


async def test_a_slow_query_stops_at_the_cap_on_either_store(backend_client: Client, store_backend: str) -> None:
    started = time.monotonic()
    message = await call_error(backend_client, "query_spans", sql=SLOW[store_backend])
    assert time.monotonic() - started < SQL_TIMEOUT_S + SLACK_S
    assert "stopped the query" in message and "time limit" in message


async def test_a_query_that_needs_too_much_memory_stops_with_why(backend_client: Client, store_backend: str) -> None:
    started = time.monotonic()
    message = await call_error(backend_client, "query_spans", sql=GREEDY[store_backend])
    assert time.monotonic() - started < SQL_TIMEOUT_S + SLACK_S
    assert "stopped the query" in message and "MB of" in message and "memory" in message, message


CLICKHOUSE_REACH = [
    ("SELECT file('/etc/hostname')", "function file()"),
    ("SELECT name FROM system.tables", "system.tables"),
    ("SELECT query FROM system.processes", "system.processes"),
    ("SELECT name, value FROM system.settings WHERE changed", "system.settings"),
    ("SELECT * FROM merge(REGEXP('.*'), '.*') LIMIT 1", "table function merge()"),
    ("SELECT count() FROM numbers(100000000000)", "table function numbers()"),
    ("SELECT * FROM generateRandom('a String') LIMIT 1", "table function generateRandom()"),
    ("SELECT * FROM remote('127.0.0.1', system.one)", "remote()"),
    ("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", "url()"),
    ("SELECT * FROM otel_traces_otel_mcp_tasks", "otel_traces_otel_mcp_tasks"),
    ("SELECT count() FROM spans WHERE span_id IN otel_traces", "otel_traces"),
    # a scalar subquery is run while the query is analysed; its error would carry what it read
    ("SELECT CAST((SELECT name FROM system.databases ORDER BY name LIMIT 1) AS Int32)", "system.databases"),
    ("SELECT dictGet('any', 'x', 1)", "dictGet()"),
    ("SELECT getSetting('max_memory_usage')", "getSetting()"),
    ("SELECT sleep(3)", "sleep()"),
    ("SELECT 1 SETTINGS max_memory_usage = 0", "only reads"),
]


@pytest.mark.parametrize("store_backend", ["clickhouse"])
@pytest.mark.parametrize(("sql", "named"), CLICKHOUSE_REACH)
async def test_what_readonly_alone_left_reachable_on_clickhouse_is_refused_by_name(
    backend_client: Client, sql: str, named: str
) -> None:
    started = time.monotonic()
    message = await call_error(backend_client, "query_spans", sql=sql)
    assert time.monotonic() - started < SQL_TIMEOUT_S + SLACK_S
    assert "query refused" in message and named in message, message
    assert "INFORMATION_SCHEMA" not in message  # what the CAST's scalar subquery would have leaked


ORDINARY = [
    "WITH t AS (SELECT span_id, task_id FROM spans) SELECT count() FROM t",
    "WITH RECURSIVE r AS (SELECT 1 AS x UNION ALL SELECT x + 1 FROM r WHERE x < 5) SELECT sum(x) FROM r",
    "SELECT 1 UNION ALL SELECT count() FROM spans",
    "SELECT s.task_id FROM spans AS s JOIN spans AS t ON s.trace_id = t.trace_id WHERE s.task_id = 'T1' LIMIT 1",
    "SELECT task_id FROM spans WHERE span_id IN (SELECT span_id FROM spans WHERE source = 'agent')",
    "SELECT JSONExtractString(attributes, 'task.id') FROM spans WHERE task_id = 'T1'",
    "SELECT (SELECT count() FROM spans) AS n",
]


@pytest.mark.parametrize("store_backend", ["clickhouse"])
@pytest.mark.parametrize("sql", ORDINARY)
async def test_ordinary_clickhouse_questions_over_the_view_still_work(backend_client: Client, sql: str) -> None:
    await call(backend_client, "record_task", task_id="T1", task_type="test", status="complete")
    result = await call(backend_client, "query_spans", sql=sql)
    assert result["rows"], sql

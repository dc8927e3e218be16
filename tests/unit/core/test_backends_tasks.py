"""The task tools behave the same on the embedded store and on ClickHouse (the exporter's schema).

Every test runs twice, through the in-memory MCP client: once over SQLite, once over the real
ClickHouse engine (chdb behind ClickHouse's HTTP interface), each with a fresh store.
"""

from __future__ import annotations

import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from tests.conftest import call, call_error

pytestmark = pytest.mark.anyio


async def test_record_and_find_completed_with_numeric_where(backend_client: Client) -> None:
    c = backend_client
    await call(
        c,
        "record_task",
        task_id="T1/a",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"tests.failed": 0, "quality.score": 0.95, "flaky": False, "tags": ["fast", "unit"]},
    )
    await call(
        c,
        "record_task",
        task_id="T1/b",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"tests.failed": 10, "quality.score": 0.5, "build": "007"},
    )
    await call(c, "record_task", task_id="T1/c", task_type="review", status="complete", parent_task_id="T1")
    await call(c, "record_task", task_id="T1/d", task_type="test", status="started", parent_task_id="T1")

    tests = await call(c, "find_completed", task_type="test")
    assert {r["task_id"] for r in tests["records"]} == {"T1/a", "T1/b"}
    good = await call(c, "find_completed", parent_task_id="T1", where={"quality.score": ">= 0.9"})
    assert [r["task_id"] for r in good["records"]] == ["T1/a"]
    # "10" > "9" as numbers, even though ClickHouse keeps every attribute as a string
    many = await call(c, "find_completed", where={"tests.failed": "> 9"})
    assert [r["task_id"] for r in many["records"]] == ["T1/b"]
    assert [
        r["task_id"] for r in (await call(c, "find_completed", where={"tests.failed": "in [0, 1]"}))["records"]
    ] == ["T1/a"]
    assert [r["task_id"] for r in (await call(c, "find_completed", where={"flaky": False}))["records"]] == ["T1/a"]
    assert [r["task_id"] for r in (await call(c, "find_completed", where={"build": "'007'"}))["records"]] == ["T1/b"]
    assert (await call(c, "find_completed", where={"tests.failed": "exists"}))["count"] == 2
    assert (await call(c, "find_completed", where={"tests.failed": "missing"}))["count"] == 1
    record = next(r for r in tests["records"] if r["task_id"] == "T1/a")
    # values come back typed on both backends (ClickHouse stored them as text)
    assert record["attributes"]["tests.failed"] == 0
    assert record["attributes"]["quality.score"] == 0.95
    assert record["attributes"]["flaky"] is False
    assert record["attributes"]["tags"] == ["fast", "unit"]
    assert record["agent_id"] == "agent-a" and record["source"] == "agent"
    other = next(r for r in tests["records"] if r["task_id"] == "T1/b")
    assert other["attributes"]["build"] == "007"  # text that only looks like a number stays text


async def test_find_completed_returns_each_task_once_newest_first_with_limit_and_since(backend_client: Client) -> None:
    c = backend_client
    for i in range(5):
        await call(c, "record_task", task_id=f"job-{i}", task_type="build", status="complete", attributes={"run": 1})
    await call(c, "record_task", task_id="job-0", task_type="build", status="complete", attributes={"run": 2})
    found = await call(c, "find_completed", task_type="build", limit=3)
    assert [r["task_id"] for r in found["records"]] == ["job-0", "job-4", "job-3"]
    assert found["records"][0]["attributes"]["run"] == 2
    assert (await call(c, "find_completed", since="1h"))["count"] == 5
    assert (await call(c, "find_completed", since="2999-01-01T00:00:00Z"))["count"] == 0
    # a predicate filtered after the database's prefilter still honours limit exactly
    assert (await call(c, "find_completed", where={"run": "< 2"}, limit=2))["count"] == 2


async def test_check_prerequisites_names_complete_pending_failed_and_missing_dependencies(
    backend_client: Client,
) -> None:
    c = backend_client
    await call(c, "record_task", task_id="a", task_type="build", status="complete")
    await call(c, "record_task", task_id="b", task_type="test", status="failed", summary="2 tests fail")
    await call(c, "record_task", task_id="c", task_type="test", status="started")
    deps = ["a", "b", "c", "never"]
    await call(c, "record_task", task_id="d", task_type="deploy", status="planned", depends_on=deps)
    pre = await call(c, "check_prerequisites", task_id="d")
    assert (pre["ready"], pre["complete"], pre["failed"], sorted(pre["pending"])) == (
        False,
        ["a"],
        ["b"],
        ["c", "never"],
    )
    assert "never recorded" in pre["reason"] and "b" in pre["reason"]
    for done in ("b", "c", "never"):
        await call(c, "record_task", task_id=done, task_type="test", status="complete")
    await call(c, "record_task", task_id="d", task_type="deploy", status="started")  # no depends_on: plan stays
    assert (await call(c, "check_prerequisites", task_id="d"))["ready"] is True


async def test_check_prerequisites_waits_for_subtasks(backend_client: Client) -> None:
    c = backend_client
    await call(c, "record_task", task_id="epic", task_type="plan", status="planned")
    await call(c, "record_task", task_id="epic/1", task_type="test", status="complete", parent_task_id="epic")
    await call(c, "record_task", task_id="epic/2", task_type="test", status="started", parent_task_id="epic")
    pre = await call(c, "check_prerequisites", task_id="epic")
    assert pre["ready"] is False and pre["pending"] == ["epic/2"]
    assert [s["task_id"] for s in pre["subtasks"]] == ["epic/1", "epic/2"]


async def test_get_trace_returns_the_tree_from_any_id(backend_client: Client) -> None:
    c = backend_client
    root = await call(c, "record_task", task_id="R", task_type="plan", status="planned")
    child = await call(c, "record_task", task_id="R/x", task_type="test", status="complete", parent_task_id="R")
    assert child["trace_id"] == root["trace_id"] and child["parent_span_id"] == root["span_id"]
    by_task = await call(c, "get_trace", task_id="R")
    assert by_task == await call(c, "get_trace", span_id=root["span_id"])
    assert by_task == await call(c, "get_trace", trace_id=root["trace_id"])
    assert [(s["task_id"], s["depth"]) for s in by_task["spans"]] == [("R", 0), ("R/x", 1)]
    assert "does not exist" in await call_error(c, "get_trace", span_id="00f067aa0ba902b7")


async def test_query_spans_answers_the_original_question_on_the_same_view(backend_client: Client) -> None:
    c = backend_client
    await call(
        c,
        "record_task",
        task_id="T1/a",
        task_type="test",
        status="complete",
        parent_task_id="T1",
        attributes={"quality.score": 0.8},
    )
    result = await call(
        c,
        "query_spans",
        sql="SELECT task_status, quality_score FROM spans WHERE task_parent_id = 'T1' AND task_status = 'complete'",
    )
    assert result["columns"] == ["task_status", "quality_score"]
    assert result["rows"] == [["complete", 0.8]]
    every = await call(c, "query_spans", sql="SELECT * FROM spans WHERE task_id = 'T1/a'")
    assert every["columns"] == [
        "span_id",
        "trace_id",
        "parent_span_id",
        "name",
        "agent_id",
        "task_id",
        "task_type",
        "task_status",
        "task_parent_id",
        "quality_score",
        "source",
        "status_code",
        "start_time",
        "end_time",
        "duration_ms",
        "attributes",
    ]
    row = dict(zip(every["columns"], every["rows"][0], strict=True))
    assert (row["agent_id"], row["source"], row["status_code"], row["name"]) == (
        "agent-a",
        "agent",
        "Ok",
        "test_complete",
    )
    assert len(row["start_time"]) == 26 and row["start_time"] <= row["end_time"]


async def test_query_spans_caps_rows_and_says_so(backend_client: Client) -> None:
    for i in range(5):
        await call(backend_client, "record_task", task_id=f"t{i}", task_type="test", status="planned")
    result = await call(backend_client, "query_spans", sql="SELECT span_id FROM spans", limit=3)
    assert result["row_count"] == 3 and result["truncated"] is True and "3 rows" in result["note"]


HOSTILE = [
    ("DELETE FROM spans", "query refused"),
    ("UPDATE spans SET task_status = 'complete'", "query refused"),
    ("INSERT INTO spans (span_id) VALUES ('x')", "query refused"),
    ("DROP VIEW spans", "query refused"),
    ("CREATE TABLE evil (a int)", "query refused"),
    ("SELECT 1; DELETE FROM spans", "one SELECT"),
    ("SELEKT 1", "rror"),
    ("SELECT * FROM nowhere", "nowhere"),
]


@pytest.mark.parametrize(("sql", "expected"), HOSTILE)
async def test_query_spans_refuses_writes_and_bad_sql_on_both_backends(
    backend_client: Client, backend_runtime: Runtime, sql: str, expected: str
) -> None:
    await call(backend_client, "record_task", task_id="keep", task_type="test", status="planned")
    assert expected in await call_error(backend_client, "query_spans", sql=sql)
    rows = await call(backend_client, "query_spans", sql="SELECT count(*) FROM spans WHERE task_id = 'keep'")
    assert rows["rows"] == [[1]]


async def test_find_ready_lists_planned_tasks_whose_dependencies_are_complete(backend_client: Client) -> None:
    c = backend_client
    await call(c, "record_task", task_id="base", task_type="build", status="planned")
    await call(c, "record_task", task_id="next", task_type="test", status="planned", depends_on=["base"])
    ready = await call(c, "find_ready")
    assert [t["task_id"] for t in ready["tasks"]] == ["base"] and ready["waiting"] == 1
    await call(c, "record_task", task_id="base", task_type="build", status="complete")
    ready = await call(c, "find_ready")
    assert [t["task_id"] for t in ready["tasks"]] == ["next"]
    assert ready["tasks"][0]["depends_on"] == ["base"]
    claim = await call(c, "claim_task", task_id="next", lease_seconds=60)
    assert claim["granted"] is True
    ready = await call(c, "find_ready")
    assert ready["tasks"][0]["held_by_you"] is True


async def test_a_tasks_status_bounds_are_its_first_and_latest_records(
    backend_client: Client, backend_runtime: Runtime
) -> None:
    c = backend_client
    plan = await call(c, "record_task", task_id="b/t", task_type="build", status="planned")
    await call(c, "record_task", task_id="b/t", task_type="build", status="started")
    done = await call(c, "record_task", task_id="b/t", task_type="build", status="complete")
    await call(c, "claim_task", task_id="b/t", lease_seconds=60)  # a claim span is not a status record
    once = await call(c, "record_task", task_id="b/once", task_type="build", status="planned")
    store = backend_runtime.store
    first, latest = store.status_bounds("b/t")
    assert (first and first.span_id, latest and latest.span_id) == (plan["span_id"], done["span_id"])
    first, latest = store.status_bounds("b/once")
    assert first is not None and first.span_id == latest.span_id == once["span_id"]  # type: ignore[union-attr]
    assert store.status_bounds("b/never") == (None, None)

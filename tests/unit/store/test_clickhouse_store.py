"""What only the ClickHouse store has: external spans via the collector, OTLP writes, the spool.

The collector is stood in for by a loopback OTLP/HTTP receiver whose callback inserts rows the way
the collector's ClickHouse exporter maps spans; ClickHouse is the real engine (chdb) behind its
HTTP interface, stopped and restarted on the same data directory to simulate an outage.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode, format_span_id

from otel_mcp.config import Settings
from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.store.base import SpanFilter
from otel_mcp.store.clickhouse import ClickHouseStore, attr_from_text, attr_to_text, record_to_row
from otel_mcp.store.clickhouse.schema import TRACES_INSERT_COLUMNS
from tests.conftest import ChdbEngine, backend_settings, call, call_error, open_backend_runtime, stdio_params
from tests.support.collector import ExporterSink, exporter_row
from tests.support.otlp_receiver import OtlpHttpReceiver

pytestmark = pytest.mark.anyio

GATES = """\
gates:
  - name: ci_scan
    requirements:
      - name: scan
        span_name: ci_scan
        same_task: true
        sources: [external]
        status: ok
        where: {vulnerabilities.critical: 0}
  - name: numbers
    requirements:
      - name: metrics
        span_name: metrics_complete
        where: {count: "> 9"}
"""


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    gates_dir = tmp_path / "gates"
    gates_dir.mkdir()
    (gates_dir / "g.yaml").write_text(GATES)
    s = backend_settings("clickhouse", tmp_path, request, gates_dir=gates_dir)
    yield s
    engine: ChdbEngine = request.getfixturevalue("chdb_engine")
    engine.server.query(f"DROP DATABASE IF EXISTS `{s.clickhouse_database}`")


def _rows_per_span(engine: ChdbEngine, database: str) -> dict[str, int]:
    rows = engine.server.query_rows(f"SELECT SpanId, count() AS n FROM `{database}`.otel_traces GROUP BY SpanId")
    return {r["SpanId"]: int(r["n"]) for r in rows}


def test_attribute_text_round_trips_exactly() -> None:
    for value in (0, -3, 2**62, 0.93, 1.0, 1e-7, True, False, "007", "+5", " 5", "abc", ("a", "b"), (1, 2), ()):
        back = attr_from_text("k", attr_to_text(value))
        assert back == value and type(back) is type(value), (value, back)
    assert attr_from_text("task.id", "7") == "7"  # identifiers stay text


def _ci_job_sends(engine: ChdbEngine, database: str, name: str, attributes: dict[str, Any]) -> str:
    """A CI job with a stock OTel SDK ships one span to "the collector"; returns its span id."""
    client = engine.server.get_client()
    try:
        with OtlpHttpReceiver(on_spans=ExporterSink(client, database)) as collector:
            provider = TracerProvider(resource=Resource.create({"service.name": "ci"}))
            provider.add_span_processor(
                SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces"))
            )
            span = provider.get_tracer("ci").start_span(name, attributes=attributes)
            span.set_status(Status(StatusCode.OK))
            span.end()
            provider.shutdown()
            assert collector.wait_for(lambda spans: len(spans) == 1)
    finally:
        client.close()
    return format_span_id(span.get_span_context().span_id)


async def test_spans_sent_through_the_collector_are_external_evidence(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    rt = open_backend_runtime(settings)  # the schema is in place before the collector writes
    try:
        attrs = {"task.id": "T1", "vulnerabilities.critical": 0, "scanner": "bandit"}
        ci_span = _ci_job_sends(chdb_engine, settings.clickhouse_database, "ci_scan", attrs)
        async with Client(create_server(rt)) as c:
            decision = await call(
                c,
                "submit_gate_evidence",
                gate="ci_scan",
                task_id="T1",
                evidence=[{"requirement": "scan", "span_id": ci_span}],
            )
            assert decision["decision"] == "pass", decision
            rows = await call(
                c, "query_spans", sql=f"SELECT source, status_code, task_id FROM spans WHERE span_id = '{ci_span}'"
            )
            assert rows["rows"] == [["external", "Ok", "T1"]]
            trace = await call(c, "get_trace", span_id=ci_span)
            assert trace["spans"][0]["source"] == "external"
    finally:
        rt.close()


def test_older_exporter_spellings_of_status_and_kind_are_read(settings: Settings, chdb_engine: ChdbEngine) -> None:
    rt = open_backend_runtime(settings)
    try:
        from tests.support.otlp_receiver import ReceivedSpan

        span = ReceivedSpan(
            "a" * 32, "b" * 16, None, "ci_scan", 2, time.time_ns(), time.time_ns(), 1, "", {"task.id": "T"}, {}, "ci"
        )
        row = exporter_row(span)
        row[6], row[13] = "SPAN_KIND_SERVER", "STATUS_CODE_OK"
        client = chdb_engine.server.get_client()
        client.insert("otel_traces", [row], database=settings.clickhouse_database)
        client.close()
        record = rt.store.get_spans(["b" * 16])["b" * 16]
        assert (record.status_code, record.kind, record.source) == ("Ok", "Server", "external")
        found = rt.store.query_sql("SELECT status_code FROM spans", 10, 10_000, 2.0)
        assert found.rows == [["Ok"]]
    finally:
        rt.close()


async def test_otlp_write_mode_reads_its_own_writes_and_says_so_when_the_collector_is_down(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    client = chdb_engine.server.get_client()
    with OtlpHttpReceiver(on_spans=ExporterSink(client, settings.clickhouse_database)) as collector:
        store = ClickHouseStore(
            settings.clickhouse_url,
            database=settings.clickhouse_database,
            write="otlp",
            spool_dir=settings.spool_dir or "",
            otlp_endpoint=collector.endpoint,
            visible_timeout_s=1.0,
        )
        # As deployed: OTEL_EXPORTER_OTLP_ENDPOINT names the collector, and each span still lands once.
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint}
        rt = Runtime(settings, store, Runtime.telemetry_for(settings, store, env))
        try:
            async with Client(create_server(rt)) as c:
                rec = await call(
                    c, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": 10}
                )
                # readable at once for this process: the read waits for what it handed to the collector
                assert (await call(c, "find_completed", task_type="metrics"))["count"] == 1
                ok = await call(c, "submit_gate_evidence", gate="numbers", task_id="T", evidence=[rec["span_id"]])
                assert ok["decision"] == "pass"

                collector.fail_with = 503
                late = await call(
                    c, "record_task", task_id="T", task_type="metrics", status="complete", attributes={"count": 11}
                )
                message = await call_error(
                    c, "submit_gate_evidence", gate="numbers", task_id="T", evidence=[late["span_id"]]
                )
                assert "not readable in ClickHouse" in message and "spool" in message and "HTTP 503" in message

                collector.fail_with = None
                assert store.force_flush(10_000)
                again = await call(c, "submit_gate_evidence", gate="numbers", task_id="T", evidence=[late["span_id"]])
                assert again["decision"] == "pass"
        finally:
            rt.close()
    client.close()
    counts = _rows_per_span(chdb_engine, settings.clickhouse_database)
    assert counts[rec["span_id"]] == 1 and counts[late["span_id"]] == 1


async def test_nothing_is_lost_when_clickhouse_stops_mid_run(settings: Settings, chdb_engine: ChdbEngine) -> None:
    rt = open_backend_runtime(settings)
    ids: list[str] = []
    try:
        async with Client(create_server(rt)) as c:
            ids.append(
                (await call(c, "record_task", task_id="before", task_type="build", status="complete"))["span_id"]
            )
            chdb_engine.stop()
            try:
                for i in range(5):  # the tool calls still succeed: the spans are safe in the spool
                    rec = await call(c, "record_task", task_id=f"during-{i}", task_type="build", status="complete")
                    ids.append(rec["span_id"])
                assert "not reachable" in await call_error(c, "find_completed", task_type="build")
                assert rt.store.pending() >= 5  # type: ignore[attr-defined]
            finally:
                chdb_engine.start()
            assert rt.store.force_flush(15_000)
            found = await call(c, "find_completed", task_type="build")
            assert found["count"] == 6
    finally:
        rt.close()
    counts = _rows_per_span(chdb_engine, settings.clickhouse_database)
    assert all(counts.get(s) == 1 for s in ids), counts


async def test_a_restarted_server_replays_what_an_earlier_one_spooled(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    first = open_backend_runtime(settings)
    first.store.export([])  # schema in place
    chdb_engine.stop()
    try:
        async with Client(create_server(first)) as c:
            ids = [
                (await call(c, "record_task", task_id=f"t{i}", task_type="build", status="planned"))["span_id"]
                for i in range(3)
            ]
        first.close()  # gives up after a bounded flush; the spool keeps the spans
    finally:
        chdb_engine.start()
    second = open_backend_runtime(replace(settings, agent_id="agent-b"))
    try:
        assert second.store.force_flush(15_000)
        assert set(second.store.get_spans(ids)) == set(ids)
    finally:
        second.close()
    counts = _rows_per_span(chdb_engine, settings.clickhouse_database)
    assert [counts.get(s) for s in ids] == [1, 1, 1]


CLICKHOUSE_HOSTILE = [
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "query refused"),
    ("SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", "query refused"),
    ("SELECT 1 SETTINGS readonly = 0", "query refused"),
    ("SELECT span_id FROM spans INTO OUTFILE '/tmp/otel-mcp-evil.txt'", "OUTFILE"),
    ("SYSTEM DROP DNS CACHE", "query refused"),
    ("ALTER TABLE otel_traces DELETE WHERE 1", "query refused"),
    ("INSERT INTO FUNCTION file('/tmp/otel-mcp-evil.txt', 'TSV', 'a String') VALUES ('x')", "query refused"),
    ("SELECT count() FROM numbers(100000000000)", "table function numbers()"),
]


@pytest.mark.parametrize(("sql", "expected"), CLICKHOUSE_HOSTILE)
def test_query_spans_refusals_specific_to_clickhouse(settings: Settings, sql: str, expected: str) -> None:
    rt = open_backend_runtime(settings)
    try:
        from otel_mcp.errors import InvalidArgument

        with pytest.raises(InvalidArgument) as info:
            rt.coordinator.query_spans(sql)
        assert expected in str(info.value), str(info.value)
        assert rt.coordinator.query_spans("SELECT count() FROM spans").rows == [[0]]
    finally:
        rt.close()


async def test_two_server_processes_coordinate_through_clickhouse_over_stdio(
    settings: Settings, chdb_engine: ChdbEngine, tmp_path: Path
) -> None:
    # As hosts start them: `otel-mcp serve` per agent, configured only by environment.
    env: dict[str, Any] = {  # Any: spread into stdio_params, whose `fork` is not a str
        "OTEL_MCP_BACKEND": "clickhouse",
        "OTEL_MCP_CLICKHOUSE_URL": chdb_engine.url,
        "OTEL_MCP_CLICKHOUSE_DATABASE": settings.clickhouse_database,
        "OTEL_MCP_CLICKHOUSE_WRITE": "direct",
        "gates_dir": str(settings.gates_dir),
    }
    params_a = stdio_params(tmp_path / "a" / "telemetry.db", "agent-a", **env)
    params_b = stdio_params(tmp_path / "b" / "telemetry.db", "agent-b", **env)
    for p in (params_a, params_b):
        Path(p.cwd or ".").mkdir(parents=True, exist_ok=True)
    async with Client(params_a) as a, Client(params_b) as b:
        attrs = {"count": 12}
        rec = await call(a, "record_task", task_id="T", task_type="metrics", status="complete", attributes=attrs)
        found = await call(b, "find_completed", task_type="metrics", where={"count": "> 10"})
        assert [(r["span_id"], r["agent_id"]) for r in found["records"]] == [(rec["span_id"], "agent-a")]
        gate = await call(b, "submit_gate_evidence", gate="numbers", task_id="T", evidence=[rec["span_id"]])
        assert gate["decision"] == "pass", gate
        claimed = await call(a, "claim_task", task_id="next")
        denied = await call(b, "claim_task", task_id="next")
        assert (claimed["granted"], denied["granted"], denied["holder"]) == (True, False, "agent-a")
    # Nothing went to a local SQLite store: the record is in ClickHouse, once per span.
    assert not (tmp_path / "a" / "telemetry.db").exists()
    counts = _rows_per_span(chdb_engine, settings.clickhouse_database)
    assert counts[rec["span_id"]] == 1 and counts[claimed["span_id"]] == 1


async def test_task_records_the_collector_writes_are_found_like_the_agents_own(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    rt = open_backend_runtime(settings)  # index and view in place: the collector's insert is copied live
    try:
        attrs = {"task.id": "ci/build-7", "task.type": "build", "task.status": "complete", "artifacts": 3}
        _ci_job_sends(chdb_engine, settings.clickhouse_database, "ci build", attrs)
        async with Client(create_server(rt)) as c:
            found = await call(c, "find_completed", task_type="build", where={"artifacts": ">= 3"})
            assert [(r["task_id"], r["source"]) for r in found["records"]] == [("ci/build-7", "external")]
            prereq = await call(
                c, "record_task", task_id="ship", task_type="deploy", status="planned", depends_on=["ci/build-7"]
            )
            assert prereq["status"] == "planned"
            ready = await call(c, "check_prerequisites", task_id="ship")
            assert ready["ready"] is True, ready
    finally:
        rt.close()


def _exporter_table_only(engine: ChdbEngine, database: str) -> None:
    """The table as a collector creates it, before any otel-mcp server has run."""
    from otel_mcp.store.clickhouse.schema import create_database_ddl, traces_table_ddl

    engine.server.query(create_database_ddl(database))
    engine.server.query(traces_table_ddl(database, "otel_traces"))


def _task_record(span_id: str, task_id: str, task_type: str, start_ns: int) -> SpanRecord:
    attrs = {"task.id": task_id, "task.type": task_type, "task.status": "complete", "otel_mcp.source": "agent"}
    return SpanRecord(span_id, "2" * 32, None, f"{task_type}_complete", start_ns, start_ns + 5, attributes=attrs)


def test_records_written_before_the_task_index_existed_are_backfilled(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    db = settings.clickhouse_database
    _exporter_table_only(chdb_engine, db)
    old = _task_record("1" * 16, "old", "test", time.time_ns() - 86_400 * 10**9)
    client = chdb_engine.server.get_client()
    client.insert("otel_traces", [record_to_row(old)], database=db, column_names=list(TRACES_INSERT_COLUMNS))
    client.close()
    rt = open_backend_runtime(settings)  # creates the index, copies what is there
    second = open_backend_runtime(replace(settings, agent_id="agent-b", spool_dir=settings.db_path.parent / "b"))
    try:
        for agent in (rt, second):  # the second server finds the index in place and does not copy again
            found = agent.coordinator.find_completed(task_type="test")
            assert [r.span_id for r in found.records] == [old.span_id]
        index = chdb_engine.server.query_rows(f"SELECT count() AS n FROM `{db}`.otel_traces_otel_mcp_tasks")
        assert int(index[0]["n"]) == 1
    finally:
        second.close()
        rt.close()


def test_a_schema_managed_elsewhere_without_the_index_is_read_directly(
    settings: Settings, chdb_engine: ChdbEngine
) -> None:
    db = settings.clickhouse_database
    _exporter_table_only(chdb_engine, db)
    store = ClickHouseStore(
        settings.clickhouse_url, database=db, write="direct", spool_dir=settings.spool_dir or "", create_schema=False
    )
    try:
        record = _task_record("3" * 16, "L", "lint", time.time_ns())
        store.export([record])
        found = store.find_spans(SpanFilter(task_status="complete", task_type="lint"))
        assert [r.span_id for r in found] == [record.span_id]
        assert [t.task_id for t in store.task_index()] == ["L"]
        assert not chdb_engine.server.query_rows(f"EXISTS TABLE `{db}`.otel_traces_otel_mcp_tasks")[0]["result"]
    finally:
        store.close()


async def test_a_claim_settling_on_clickhouse_does_not_hold_up_other_calls(settings: Settings) -> None:
    import anyio

    rt = open_backend_runtime(settings)  # claims settle for 0.3 s here
    finished: list[str] = []
    try:
        async with Client(create_server(rt)) as c:
            await call(c, "record_task", task_id="T", task_type="build", status="complete")

            async def claim() -> None:
                await call(c, "claim_task", task_id="T")
                finished.append("claim")

            async def find() -> None:
                await anyio.sleep(0.05)  # let the claim start first
                await call(c, "find_completed", task_type="build")
                finished.append("find")

            async with anyio.create_task_group() as tg:
                tg.start_soon(claim)
                tg.start_soon(find)
    finally:
        rt.close()
    assert finished == ["find", "claim"]

"""clickhouse-connect against the real ClickHouse engine (chdb) through tests.support.chdb_http.

One engine per module (chdb allows one data path per process at a time); every test uses its own
trace ids or tables, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lz4.frame
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from otel_mcp.store.clickhouse.schema import (
    TRACES_COLUMNS,
    TRACES_INSERT_COLUMNS,
    check_identifier,
    create_database_ddl,
    trace_id_ts_table_ddl,
    trace_id_ts_view_ddl,
    traces_table_ddl,
    ttl_clause,
)
from tests.support.chdb_http import ChdbHttpServer, EngineError

DB = "otel"
TABLE = "otel_traces"
# Recent times: the table has the exporter's TTL, and the engine really drops expired parts.
START_S = int(time.time()) - 3600
START_NS = START_S * 10**9 + 123_456_789
EVENT_TIMES = (
    datetime.fromtimestamp(START_S + 1, UTC).replace(microsecond=123457),
    datetime.fromtimestamp(START_S + 2, UTC).replace(microsecond=250000),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbHttpServer]:
    with ChdbHttpServer(tmp_path_factory.mktemp("chdb") / "data") as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: ChdbHttpServer) -> Iterator[Client]:
    c = server.get_client()
    c.command(create_database_ddl(DB))
    c.command(traces_table_ddl(DB, TABLE, ttl=timedelta(days=3)))
    c.command(trace_id_ts_table_ddl(DB, TABLE, ttl=timedelta(days=3)))
    c.command(trace_id_ts_view_ddl(DB, TABLE))
    yield c
    c.close()


def span_row(trace_id: str, span_id: str, **overrides: Any) -> list[Any]:
    """One otel_traces row in TRACES_INSERT_COLUMNS order, shaped like the collector writes it."""
    values: dict[str, Any] = {
        "Timestamp": START_NS,  # DateTime64(9) as integer nanoseconds: no microsecond rounding
        "TraceId": trace_id,
        "SpanId": span_id,
        "ParentSpanId": "",
        "TraceState": "",
        "SpanName": "record_task",
        "SpanKind": "Internal",
        "ServiceName": "otel-mcp",
        "ResourceAttributes": {"service.name": "otel-mcp"},
        "ScopeName": "otel_mcp",
        "ScopeVersion": "0.1.0",
        "SpanAttributes": {"task.id": "T1", "task.status": "complete", "quality.score": "0.93"},
        "Duration": 1_500_000,
        "StatusCode": "Ok",
        "StatusMessage": "",
        # One column takes one Python shape: ints (raw nanoseconds) or datetimes, not a mix.
        "Events.Timestamp": [EVENT_TIMES[0], EVENT_TIMES[1]],
        "Events.Name": ["check.started", "check.finished"],
        "Events.Attributes": [{"tool": "pytest"}, {"exit": "0"}],
        "Links.TraceId": ["f" * 32],
        "Links.SpanId": ["e" * 16],
        "Links.TraceState": [""],
        "Links.Attributes": [{"kind": "follows"}],
    }
    values.update(overrides)
    return [values[name] for name in TRACES_INSERT_COLUMNS]


def insert_spans(client: Client, rows: list[list[Any]], **kwargs: Any) -> int:
    """Insert rows; return the spans written (the summary also counts the lookup view's rows)."""
    summary = client.insert(TABLE, rows, database=DB, column_names=list(TRACES_INSERT_COLUMNS), **kwargs)
    traces = {row[TRACES_INSERT_COLUMNS.index("TraceId")] for row in rows}
    return int(summary.written_rows) - len(traces)  # one lookup row per trace id in the block


def count_trace(client: Client, trace_id: str) -> int:
    return int(str(client.command(f"SELECT count() FROM {DB}.{TABLE} WHERE TraceId = {{t:String}}", {"t": trace_id})))


def raw_request(
    server: ChdbHttpServer, method: str, query: dict[str, str], body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(method, "/?" + urllib.parse.urlencode(query), body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# --- the endpoint as a server ----------------------------------------------------------------


def test_ping_answers_ok_like_a_clickhouse_server(server: ChdbHttpServer) -> None:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request("GET", "/ping")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"Ok.\n")
    conn.close()
    assert server.host == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_clickhouse_connect_connects_and_reports_the_embedded_engine_version(
    server: ChdbHttpServer, client: Client
) -> None:
    assert client.server_version == server.version
    assert int(server.version.split(".")[0]) >= 24
    assert client.ping()


# --- the otel_traces schema ------------------------------------------------------------------


def test_otel_traces_ddl_creates_the_collector_exporter_columns_in_order(client: Client) -> None:
    described = client.query(f"DESCRIBE TABLE {DB}.{TABLE}").named_results()
    stored = [(row["name"], row["type"]) for row in described if row["default_type"] != "ALIAS"]
    assert stored == list(TRACES_COLUMNS)
    aliases = {row["name"] for row in client.query(f"DESCRIBE TABLE {DB}.{TABLE}").named_results()} - {
        name for name, _ in TRACES_COLUMNS
    }
    assert aliases == {"ResourceAttributeItems", "SpanAttributeItems"}


def test_otel_traces_ddl_sets_the_exporter_keys_indexes_partitioning_and_ttl(client: Client) -> None:
    create = str(client.command(f"SHOW CREATE TABLE {DB}.{TABLE}")).replace("\\n", "\n")
    assert "PARTITION BY toDate(Timestamp)" in create
    assert "PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))" in create
    assert "ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)" in create
    assert "TTL toDateTime(Timestamp) + toIntervalDay(3)" in create
    assert "ttl_only_drop_parts = 1" in create
    for index in ("idx_trace_id", "idx_res_attr_key", "idx_span_attr_value", "idx_duration", "idx_lower_span_name"):
        assert f"INDEX {index} " in create


def test_ddl_rejects_identifiers_that_are_not_plain_names() -> None:
    for bad in ("otel; DROP TABLE x", "ot`el", "1otel", "", "a.b", "a b"):
        with pytest.raises(ValueError, match="not a plain identifier"):
            traces_table_ddl(bad, TABLE)
        with pytest.raises(ValueError):
            create_database_ddl(bad)
    assert check_identifier("otel_traces_2") == "otel_traces_2"
    assert "TTL" not in traces_table_ddl(DB, TABLE)


def test_ttl_clause_uses_the_largest_whole_unit_like_the_exporter() -> None:
    assert ttl_clause(timedelta(hours=72), "toDateTime(Timestamp)") == "TTL toDateTime(Timestamp) + toIntervalDay(3)"
    assert ttl_clause(timedelta(hours=12), "x") == "TTL x + toIntervalHour(12)"
    assert ttl_clause(timedelta(minutes=90), "x") == "TTL x + toIntervalMinute(90)"
    assert ttl_clause(timedelta(seconds=61), "x") == "TTL x + toIntervalSecond(61)"
    assert ttl_clause(timedelta(0), "x") == ttl_clause(None, "x") == ""


# --- inserts and reads through clickhouse-connect ----------------------------------------------


def test_insert_round_trips_maps_nanosecond_timestamps_and_nested_events(client: Client) -> None:
    trace = "a1" * 16
    written = insert_spans(client, [span_row(trace, "0000000000000001"), span_row(trace, "0000000000000002")])
    assert written == 2
    result = client.query(
        f"""SELECT SpanId, toUnixTimestamp64Nano(Timestamp) AS ns, Duration, SpanAttributes, ResourceAttributes,
                   Events.Name, arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS event_ns,
                   Events.Attributes, Links.SpanId, SpanAttributeItems
            FROM {DB}.{TABLE} WHERE TraceId = {{tid:String}} ORDER BY SpanId""",
        parameters={"tid": trace},
    )
    rows = list(result.named_results())
    assert [r["SpanId"] for r in rows] == ["0000000000000001", "0000000000000002"]
    first = rows[0]
    assert first["ns"] == START_NS
    assert first["Duration"] == 1_500_000
    assert first["SpanAttributes"] == {"task.id": "T1", "task.status": "complete", "quality.score": "0.93"}
    assert first["ResourceAttributes"] == {"service.name": "otel-mcp"}
    assert first["Events.Name"] == ["check.started", "check.finished"]
    assert first["event_ns"] == [int(t.timestamp()) * 10**9 + t.microsecond * 1000 for t in EVENT_TIMES]
    assert first["Events.Attributes"] == [{"tool": "pytest"}, {"exit": "0"}]
    assert first["Links.SpanId"] == ["e" * 16]
    assert sorted(first["SpanAttributeItems"]) == ["quality.score=0.93", "task.id=T1", "task.status=complete"]


def test_the_trace_id_lookup_view_fills_from_inserts(client: Client) -> None:
    trace = "b2" * 16
    insert_spans(client, [span_row(trace, "00000000000000b2")])
    rows = client.query(
        f"SELECT min(Start), max(End) FROM {DB}.{TABLE}_trace_id_ts WHERE TraceId = {{t:String}}",
        parameters={"t": trace},
    ).result_rows
    assert rows[0][0] is not None
    assert rows[0][0].replace(tzinfo=None) == datetime.fromtimestamp(START_S, UTC).replace(tzinfo=None)


def test_server_side_parameters_select_only_the_matching_trace(client: Client) -> None:
    mine, other = "c3" * 16, "c4" * 16
    insert_spans(client, [span_row(mine, "00000000000000c3"), span_row(other, "00000000000000c4")])
    rows = client.query(
        f"SELECT TraceId, SpanId FROM {DB}.{TABLE} WHERE TraceId = {{tid:String}} AND Duration >= {{d:UInt64}}",
        parameters={"tid": mine, "d": 1},
    ).result_rows
    assert rows == [(mine, "00000000000000c3")]


def test_hostile_parameter_values_are_data_not_sql(client: Client) -> None:
    trace = "d5" * 16
    tricky = "it's a \\ 'quote'; DROP TABLE otel.otel_traces; --\n\ttab"
    insert_spans(client, [span_row(trace, "00000000000000d5", SpanAttributes={"note": tricky})])
    for hostile in ("x' OR '1'='1", "'; DROP TABLE otel.otel_traces; --", "\\'", "{tid:String}"):
        assert client.query(
            f"SELECT count() FROM {DB}.{TABLE} WHERE TraceId = {{tid:String}}", parameters={"tid": hostile}
        ).result_rows == [(0,)]
    # The exact tricky value finds exactly its row: the value reached the engine byte for byte.
    found = client.query(
        f"SELECT SpanId FROM {DB}.{TABLE} WHERE SpanAttributes['note'] = {{v:String}}", parameters={"v": tricky}
    ).result_rows
    assert found == [("00000000000000d5",)]
    assert int(str(client.command(f"EXISTS TABLE {DB}.{TABLE}"))) == 1


def test_large_parameters_travel_in_a_form_body(server: ChdbHttpServer, client: Client) -> None:
    big = "z" * 300_000  # past clickhouse-connect's URL limit: it switches to multipart form encoding
    assert client.query("SELECT length({v:String})", parameters={"v": big}).result_rows == [(300_000,)]
    forced = server.get_client(form_encode_query_params=True)
    assert forced.query("SELECT {v:String}", parameters={"v": "a&b=c"}).result_rows == [("a&b=c",)]


# --- settings: readonly, result limits, timeouts ---------------------------------------------


def test_readonly_setting_refuses_an_insert_with_a_database_error(client: Client) -> None:
    trace = "e6" * 16
    with pytest.raises(DatabaseError) as caught:
        insert_spans(client, [span_row(trace, "00000000000000e6")], settings={"readonly": 1})
    assert caught.value.code == 164
    assert "readonly mode" in str(caught.value)
    assert count_trace(client, trace) == 0


def test_readonly_setting_refuses_create_drop_and_insert_select(client: Client) -> None:
    for statement in (
        "CREATE TABLE default.ro_probe (a UInt8) ENGINE = Memory",
        f"DROP TABLE {DB}.{TABLE}",
        f"INSERT INTO {DB}.{TABLE} (TraceId) SELECT 'x'",
        "SYSTEM FLUSH LOGS",
    ):
        with pytest.raises(DatabaseError, match="readonly mode") as caught:
            client.command(statement, settings={"readonly": 1})
        assert caught.value.code == 164, statement
    assert int(str(client.command("EXISTS TABLE default.ro_probe"))) == 0
    assert int(str(client.command(f"EXISTS TABLE {DB}.{TABLE}"))) == 1


def test_readonly_cannot_be_lifted_from_inside_the_query(client: Client) -> None:
    with pytest.raises(DatabaseError, match="readonly"):
        client.query("SELECT 1 SETTINGS readonly = 0", settings={"readonly": 1})
    with pytest.raises(DatabaseError, match="readonly"):
        client.command("SELECT 1 FORMAT TSV SETTINGS readonly = 0", settings={"readonly": 1})


def test_readonly_still_allows_reads(client: Client) -> None:
    rows = client.query("SELECT getSetting('readonly'), 41 + 1", settings={"readonly": 1}).result_rows
    assert rows == [(1, 42)]


def test_max_result_rows_with_break_caps_the_rows_returned(client: Client) -> None:
    sql = "SELECT number FROM system.numbers LIMIT 5000"
    assert len(client.query(sql).result_rows) == 5000
    capped = client.query(
        sql, settings={"max_result_rows": 10, "result_overflow_mode": "break", "max_block_size": 10}
    ).result_rows
    assert 10 <= len(capped) <= 20  # break stops after the block that crosses the limit
    with pytest.raises(DatabaseError) as caught:
        client.query(sql, settings={"max_result_rows": 10, "result_overflow_mode": "throw", "max_block_size": 10})
    assert caught.value.code == 396  # TOO_MANY_ROWS_OR_BYTES


def test_max_execution_time_stops_a_slow_query(server: ChdbHttpServer) -> None:
    # Hashing 10^10 numbers takes minutes; the engine must stop it at the limit.
    bounded = server.get_client(send_receive_timeout=60)
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseError) as caught:
            bounded.query(
                "SELECT sum(sipHash64(number)) FROM numbers(10000000000)", settings={"max_execution_time": 0.3}
            )
    finally:
        bounded.close()
    assert caught.value.code == 159  # TIMEOUT_EXCEEDED
    assert time.monotonic() - started < 30


def test_a_failed_query_leaves_nothing_behind_for_the_next_one(client: Client) -> None:
    # chdb keeps the rows a query produced before failing and prepends them to the next result
    # on the session. The endpoint drains them: the next answer is its own, settings included.
    failing = (
        ("SELECT throwIf(number = 3) FROM numbers(10)", {"max_block_size": 1}, 395),
        ("SELECT number FROM system.numbers LIMIT 500", {"max_result_rows": 5, "max_block_size": 5}, 396),
    )
    for sql, settings, code in failing:
        with pytest.raises(DatabaseError) as caught:
            client.query(sql, settings=settings)
        assert caught.value.code == code
        assert client.query("SELECT getSetting('max_result_rows')", settings={"max_result_rows": 7}).result_rows == [
            (7,)
        ]
        with pytest.raises(DatabaseError):
            client.command(sql, settings=settings)
        assert client.command("SELECT 'clean'") == "clean"


# --- errors ------------------------------------------------------------------------------------


def test_a_syntax_error_surfaces_the_engine_message(client: Client) -> None:
    with pytest.raises(DatabaseError) as caught:
        client.query("SELECT TraceId FROM otel.otel_traces WHERE")
    assert caught.value.code == 62
    message = str(caught.value)
    assert "DB::Exception: Syntax error: failed at position" in message
    assert "(SYNTAX_ERROR)" in message


def test_errors_carry_the_http_status_and_headers_a_server_sends(server: ChdbHttpServer) -> None:
    status, headers, body = raw_request(server, "POST", {}, b"SELECT * FROM default.no_such_table")
    assert status == 404
    assert headers["X-ClickHouse-Exception-Code"] == "60"
    assert body.startswith(b"Code: 60. DB::Exception: ") and b"(UNKNOWN_TABLE)" in body
    status, headers, body = raw_request(server, "POST", {}, b"SELECT (")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (400, "62")
    status, headers, body = raw_request(server, "POST", {"no such setting": "1"}, b"SELECT 1")
    assert headers["X-ClickHouse-Exception-Code"] == "115"


def test_multi_statement_requests_are_refused_and_run_nothing(client: Client) -> None:
    for sql in (f"SELECT 1; DROP TABLE {DB}.{TABLE}", f"INSERT INTO {DB}.{TABLE}; DROP TABLE {DB}.{TABLE}"):
        with pytest.raises(DatabaseError, match="Multi-statements are not allowed"):
            client.command(sql)
    assert int(str(client.command(f"EXISTS TABLE {DB}.{TABLE}"))) == 1


def test_into_outfile_and_from_infile_are_refused(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "out.tsv"
    with pytest.raises(DatabaseError, match="INTO OUTFILE is not allowed"):
        client.command(f"SELECT 1 INTO OUTFILE '{target}'")
    assert not target.exists()
    with pytest.raises(DatabaseError, match="FROM INFILE is not allowed"):
        client.command(f"INSERT INTO {DB}.{TABLE} (TraceId) FROM INFILE '/etc/hostname' FORMAT LineAsString")


# --- transport: compression, chunking, GET, sessions -------------------------------------------


@pytest.mark.parametrize("compress", ["lz4", "zstd", "gzip", False])
def test_every_client_compression_round_trips(server: ChdbHttpServer, compress: str | bool) -> None:
    trace = {"lz4": "f1", "zstd": "f2", "gzip": "f3", False: "f4"}[compress] * 16
    c = server.get_client(compress=compress)
    try:
        assert insert_spans(c, [span_row(trace, f"{i:016x}") for i in range(300)]) == 300
        assert c.query(f"SELECT count() FROM {DB}.{TABLE} WHERE TraceId = '{trace}'").result_rows == [(300,)]
    finally:
        c.close()


def test_a_chunked_lz4_frame_body_is_decoded(server: ChdbHttpServer, client: Client) -> None:
    trace = "a7" * 16
    when = datetime.fromtimestamp(START_S, UTC).strftime("%Y-%m-%d %H:%M:%S")
    sql = f"INSERT INTO {DB}.{TABLE} (Timestamp, TraceId, SpanId) FORMAT TSV\n{when}\t{trace}\t00000000000000a7\n"
    compressed = lz4.frame.compress(sql.encode())
    chunks = [compressed[i : i + 7] for i in range(0, len(compressed), 7)]  # many small chunks
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Encoding", "lz4")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for chunk in chunks:
        conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 200, response.read()
    # written_rows counts the span and the trace-id lookup row the materialized view adds
    assert json.loads(response.getheader("X-ClickHouse-Summary") or "{}")["written_rows"] == "2"
    conn.close()
    assert count_trace(client, trace) == 1


def test_responses_are_compressed_when_the_client_accepts_it(server: ChdbHttpServer) -> None:
    status, headers, body = raw_request(server, "POST", {}, b"SELECT 'hello'", {"Accept-Encoding": "lz4"})
    assert (status, headers.get("Content-Encoding")) == (200, "lz4")
    assert lz4.frame.decompress(body) == b"hello\n"
    status, headers, body = raw_request(
        server, "POST", {"enable_http_compression": "0"}, b"SELECT 'hello'", {"Accept-Encoding": "lz4"}
    )
    assert "Content-Encoding" not in headers and body == b"hello\n"


def test_get_requests_are_read_only_like_on_a_server(server: ChdbHttpServer) -> None:
    status, headers, body = raw_request(server, "GET", {"query": "SELECT 6 * 7"})
    assert (status, body, headers["X-ClickHouse-Format"]) == (200, b"42\n", "TabSeparated")
    status, headers, body = raw_request(
        server, "GET", {"query": "CREATE TABLE default.get_probe (a UInt8) ENGINE=Memory"}
    )
    assert headers["X-ClickHouse-Exception-Code"] == "164"


def test_use_and_set_last_for_the_session_and_no_longer(server: ChdbHttpServer) -> None:
    first, second = server.get_client(), server.get_client()
    try:
        first.command("USE system")
        first.command("SET max_threads = 3")
        assert first.command("SELECT currentDatabase(), getSetting('max_threads')") == ["system", "3"]
        assert second.command("SELECT currentDatabase()") == "default"
        assert second.command("SELECT getSetting('max_threads')") != "3"
        with pytest.raises(DatabaseError) as caught:
            first.command("USE no_such_database")
        assert caught.value.code == 81
    finally:
        first.close()
        second.close()


def test_the_database_argument_selects_the_default_database(server: ChdbHttpServer, client: Client) -> None:
    scoped = server.get_client(database=DB)
    try:
        assert scoped.command("SELECT currentDatabase()") == DB
        assert int(str(scoped.command(f"SELECT count() > 0 FROM {TABLE}"))) == 1
    finally:
        scoped.close()


def test_concurrent_clients_each_get_their_own_answers(server: ChdbHttpServer, client: Client) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        c = server.get_client()
        try:
            for i in range(5):
                trace = f"{worker:02x}{i:02x}" * 8
                insert_spans(c, [span_row(trace, f"{worker:08x}{i:08x}")])
                if c.query(f"SELECT count() FROM {DB}.{TABLE} WHERE TraceId = '{trace}'").result_rows != [(1,)]:
                    errors.append(AssertionError(f"worker {worker} lost trace {trace}"))
        except BaseException as exc:
            errors.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


# --- direct use ------------------------------------------------------------------------------


def test_the_query_helper_runs_trusted_sql_directly(server: ChdbHttpServer) -> None:
    assert server.query_rows("SELECT {n:UInt8} + 1 AS n", params={"n": "41"}) == [{"n": 42}]
    assert server.query("SELECT currentDatabase()", "TSV", database="system") == "system\n"
    with pytest.raises(EngineError) as caught:
        server.query("SELECT * FROM default.no_such_table")
    assert caught.value.code == 60 and caught.value.name == "UNKNOWN_TABLE"


def test_a_second_data_path_in_the_same_process_is_refused_clearly(server: ChdbHttpServer, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="cannot open chdb"), ChdbHttpServer(tmp_path / "other"):
        pass
    assert server.query("SELECT 1", "TSV") == "1\n"  # the running engine is unaffected

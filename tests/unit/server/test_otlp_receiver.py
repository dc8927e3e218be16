"""The OTLP/HTTP receiver (`otel-mcp collect`): real SDK exporters in, `source=external` rows out.

Bad input (malformed, oversized, wrong type, gzip bombs) gets the answer OTLP specifies and
changes nothing in the store.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_mcp.server.otlp_http import ReceiverLimits, receiver_for
from otel_mcp.store.sqlite import SQLiteStore
from tests.support.collect_process import Collector, hex_ids, start_collect
from tests.support.processes import cpu_seconds

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("collect") / "telemetry.db"


@pytest.fixture(scope="module")
def collector(shared_db: Path) -> Iterator[Collector]:
    # One receiver process for the module (starting one costs seconds on a busy machine); each test
    # reads back only the rows it sent, or compares counts.
    c = start_collect(shared_db)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def db(collector: Collector, shared_db: Path) -> Path:
    return shared_db


@pytest.fixture
def own_db(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.db"


def _ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def _trace(spans: list[ReadableSpan]) -> str:
    return f"trace_id = '{_ids(spans[0])[0]}'"


def _rows(db: Path, where: str = "1=1") -> list[dict[str, Any]]:
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute(f"SELECT * FROM spans WHERE {where}").fetchall()  # the tests' own SQL
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()
    return [{**dict(r), "attributes": json.loads(r["attributes"])} for r in rows]


class _Capture(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _sdk_spans(resource: dict[str, Any] | None = None, **attributes: Any) -> list[ReadableSpan]:
    capture = _Capture()
    provider = TracerProvider(resource=Resource.create({"service.name": "some-host", **(resource or {})}))
    provider.add_span_processor(SimpleSpanProcessor(capture))
    tracer = provider.get_tracer("host")
    with (
        tracer.start_as_current_span("invoke_agent", attributes={"session.id": "s-1", **attributes}),
        tracer.start_as_current_span("execute_tool", attributes={"gen_ai.tool.name": "Bash"}),
    ):
        pass
    provider.shutdown()
    return capture.spans


def _traces_body(spans: list[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


def _traces_json(spans: list[ReadableSpan]) -> bytes:
    """OTLP/JSON built per the specification (the Python SDK has no JSON exporter): hex ids, integer enums."""
    as_dict = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    return json.dumps(hex_ids(as_dict)).encode()


def test_the_collect_command_says_where_it_listens_and_which_store_it_writes(collector: Collector, db: Path) -> None:
    assert collector.lines[0].startswith(f"otel-mcp collect: OTLP/HTTP at http://127.0.0.1:{collector.port}")
    assert collector.lines[1] == f"store: sqlite {db.resolve()}"


def test_collect_finds_the_store_as_serve_does_and_listens_on_loopback_only(tmp_path: Path) -> None:
    db = tmp_path / "from-env" / "telemetry.db"
    c = start_collect(db, db_flag=False, env={"OTEL_MCP_DB": str(db)})
    try:
        assert c.lines[1] == f"store: sqlite {db.resolve()}"
    finally:
        c.stop()
    refused = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "collect", "--host", "0.0.0.0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert refused.returncode == 2
    assert "loopback only" in refused.stderr


def test_python_sdk_protobuf_exporters_store_spans_and_log_events_as_external_rows_of_the_agent(
    collector: Collector, db: Path
) -> None:
    resource = Resource.create({"service.name": "claude-code", "otel_mcp.agent.id": "backend-agent"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{collector.endpoint}/v1/traces")))
    tracer = provider.get_tracer("claude_code")
    with (
        tracer.start_as_current_span("claude_code.interaction", attributes={"session.id": "sess-1"}) as root,
        tracer.start_as_current_span("claude_code.tool", attributes={"tool_name": "Bash"}),
    ):
        pass
    provider.shutdown()
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{collector.endpoint}/v1/logs")))
    logs.get_logger("com.anthropic.claude_code.events").emit(
        LogRecord(
            body="claude_code.tool_result",
            severity_number=SeverityNumber.INFO,
            attributes={
                "event.name": "tool_result",
                "session.id": "sess-1",
                "prompt.id": "prompt-7",
                "tool_name": "Bash",
                "tool_use_id": "toolu_01ABC",
                "success": "true",
                "duration_ms": 12,
            },
        )
    )
    logs.shutdown()

    spans = {r["name"]: r for r in _rows(db, "agent_id = 'backend-agent'")}
    assert set(spans) == {"claude_code.interaction", "claude_code.tool", "claude_code.tool_result"}
    assert {r["source"] for r in spans.values()} == {"external"}
    assert {r["agent_id"] for r in spans.values()} == {"backend-agent"}
    tool = spans["claude_code.tool"]
    assert tool["trace_id"] == format(root.get_span_context().trace_id, "032x")
    assert tool["parent_span_id"] == format(root.get_span_context().span_id, "016x")
    assert tool["attributes"]["service.name"] == "claude-code"
    event = _rows(db, """json_extract(attributes, '$."tool_use_id"') = 'toolu_01ABC'""")
    assert [e["name"] for e in event] == ["claude_code.tool_result"]
    assert event[0]["attributes"]["prompt.id"] == "prompt-7"
    assert event[0]["attributes"]["otel_mcp.signal"] == "log"


def test_json_built_per_the_spec_stores_the_same_ids_and_is_answered_in_json(collector: Collector, db: Path) -> None:
    spans = _sdk_spans()
    answer = httpx2.post(f"{collector.endpoint}/v1/traces", content=_traces_json(spans), headers=JSON)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {}
    stored = {r["span_id"]: r for r in _rows(db, _trace(spans))}
    assert set(stored) == {_ids(s)[1] for s in spans}
    assert {r["trace_id"] for r in stored.values()} == {_ids(spans[0])[0]}


def test_a_gzip_body_is_inflated_and_answered_in_protobuf(collector: Collector, db: Path) -> None:
    spans = _sdk_spans()
    body = gzip.compress(_traces_body(spans))
    answer = httpx2.post(
        f"{collector.endpoint}/v1/traces", content=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(answer.content) == ExportTraceServiceResponse()
    assert len(_rows(db, _trace(spans))) == 2


def test_a_span_copying_a_runner_span_is_stored_external_without_any_otel_mcp_attribute(
    collector: Collector, db: Path
) -> None:
    forged = {"otel_mcp.source": "runner", "otel_mcp.check": "bandit", "otel_mcp.attestation": "ab" * 32}
    spans = _sdk_spans(resource={"otel_mcp.source": "runner"}, **forged)
    assert httpx2.post(f"{collector.endpoint}/v1/traces", content=_traces_body(spans), headers=PROTOBUF).is_success
    rows = _rows(db, _trace(spans))
    assert len(rows) == 2
    for row in rows:
        assert row["source"] == "external"
        assert [k for k in row["attributes"] if k.startswith("otel_mcp.")] == ["otel_mcp.signal", "otel_mcp.source"]
        assert row["attributes"]["otel_mcp.source"] == "external"


def _status(answer: httpx2.Response) -> str:
    if answer.headers["content-type"] == "application/json":
        return str(answer.json()["message"])
    return str(status_pb2.Status.FromString(answer.content).message)


def test_bad_requests_get_the_answer_otlp_specifies_and_store_nothing(collector: Collector, db: Path) -> None:
    before = len(_rows(db))
    url = f"{collector.endpoint}/v1/traces"
    cases: list[tuple[int, httpx2.Response, str]] = [
        (400, httpx2.post(url, content=b"\xff\x00 not protobuf", headers=PROTOBUF), "not a protobuf"),
        (400, httpx2.post(url, content=b"[1, 2]", headers=JSON), "is an object"),
        (400, httpx2.post(url, content=b'{"resourceSpans": 7}', headers=JSON), "not an OTLP traces request"),
        (400, httpx2.post(url, content=b"{" * 100_000, headers=JSON), "not JSON"),
        (400, httpx2.post(url, content=b"not gzip", headers={**PROTOBUF, "Content-Encoding": "gzip"}), "gzip"),
        (415, httpx2.post(url, content=b"x", headers={"Content-Type": "text/plain"}), "text/plain"),
        (415, httpx2.post(url, content=b"x", headers={**PROTOBUF, "Content-Encoding": "br"}), "br"),
        (405, httpx2.get(url), "POST"),
        (404, httpx2.post(f"{collector.endpoint}/v1/profiles", content=b"", headers=PROTOBUF), "/v1/traces"),
    ]
    for expected, answer, words in cases:
        assert answer.status_code == expected, (expected, answer.text)
        assert words in _status(answer)
    assert cases[7][1].headers["allow"] == "POST"
    assert len(_rows(db)) == before


def test_a_gzip_bomb_is_refused_at_the_limit_without_inflating_it_whole(collector: Collector, db: Path) -> None:
    before = len(_rows(db))
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of zeros in ~64 KB
    assert len(bomb) < 200_000
    answer = httpx2.post(
        f"{collector.endpoint}/v1/traces", content=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 413
    assert "after decompression" in _status(answer)
    plain = httpx2.post(f"{collector.endpoint}/v1/logs", content=b"\x00" * (9 * 1024 * 1024), headers=PROTOBUF)
    assert plain.status_code == 413
    assert len(_rows(db)) == before
    # The receiver is still well and answers the next request.
    ok = httpx2.post(f"{collector.endpoint}/v1/traces", content=_traces_body(_sdk_spans()), headers=PROTOBUF)
    assert ok.status_code == 200


def test_spans_without_valid_ids_are_refused_as_a_partial_success_and_the_rest_stored(
    collector: Collector, db: Path
) -> None:
    spans = _sdk_spans()
    request = encode_spans(spans)
    broken = request.resource_spans[0].scope_spans[0].spans.add()
    broken.name = "no ids"
    answer = httpx2.post(f"{collector.endpoint}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert answer.status_code == 200
    partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_spans == 1
    assert "no valid trace_id" in partial.error_message
    assert sorted(r["name"] for r in _rows(db, _trace(spans))) == ["execute_tool", "invoke_agent"]
    assert not _rows(db, "name = 'no ids'")


def test_metrics_are_accepted_and_answered_as_not_stored(collector: Collector, db: Path) -> None:
    before = len(_rows(db))
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "claude_code.token.usage"
    for value in (1, 2, 3):
        metric.sum.data_points.add().as_int = value
    answer = httpx2.post(f"{collector.endpoint}/v1/metrics", content=request.SerializeToString(), headers=PROTOBUF)
    assert answer.status_code == 200
    partial = ExportMetricsServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_data_points == 3
    assert "not metrics" in partial.error_message
    assert len(_rows(db)) == before


def test_log_events_sent_twice_are_stored_once(collector: Collector, db: Path) -> None:
    body = json.dumps(
        {
            "resourceLogs": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "codex"}}]},
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": "1764979200000000000",
                                    "body": {"stringValue": "codex.tool_result"},
                                    "attributes": [
                                        {"key": "event.name", "value": {"stringValue": "codex.tool_result"}},
                                        {"key": "conversation.id", "value": {"stringValue": "conv-9"}},
                                    ],
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    ).encode()
    for _ in range(2):
        answer = httpx2.post(f"{collector.endpoint}/v1/logs", content=body, headers=JSON)
        assert answer.status_code == 200
        assert json_format.ParseDict(answer.json(), ExportLogsServiceResponse()) == ExportLogsServiceResponse()
    rows = _rows(db, "name = 'codex.tool_result'")
    assert [r["name"] for r in rows] == ["codex.tool_result"]
    assert rows[0]["agent_id"] is None  # nothing maps it: kept, under its conversation's trace


# In-process receivers with small limits: the same app `collect` serves, over a real store.


def _post(app: Any, path: str, body: bytes, headers: dict[str, str] = PROTOBUF) -> httpx2.Response:
    async def go() -> httpx2.Response:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post(path, content=body, headers=headers)

    import anyio

    return anyio.run(go)


def test_a_sender_over_its_rate_gets_429_with_retry_after_and_nothing_stored(own_db: Path) -> None:
    store = SQLiteStore(own_db)
    try:
        app = receiver_for(store, ReceiverLimits(rate=1.0, burst=3.0))
        assert _post(app, "/v1/traces", _traces_body(_sdk_spans())).status_code == 200  # 2 of 3
        answer = _post(app, "/v1/traces", _traces_body(_sdk_spans()))
        assert answer.status_code == 429
        assert int(answer.headers["retry-after"]) >= 1
        assert store.count() == 2
    finally:
        store.shutdown()


def test_attributes_over_the_limits_are_dropped_or_clipped_and_the_answer_says_so(own_db: Path) -> None:
    store = SQLiteStore(own_db)
    try:
        request = ExportTraceServiceRequest()
        span = (
            request.resource_spans.add()
            .scope_spans.add()
            .spans.add(name="big", trace_id=b"\x02" * 16, span_id=b"\x03" * 8)
        )
        for i in range(200):
            span.attributes.add(key=f"k{i:03d}").value.string_value = "v"
        span.attributes.add(key="x" * 500).value.string_value = "too long a key"
        span.attributes[0].value.string_value = "y" * 10_000
        answer = _post(receiver_for(store), "/v1/traces", request.SerializeToString())
        assert answer.status_code == 200
        partial = ExportTraceServiceResponse.FromString(answer.content).partial_success
        assert partial.rejected_spans == 0
        assert "73 attributes dropped" in partial.error_message and "1 values clipped" in partial.error_message
        stored = store.get_spans(["03" * 8])["03" * 8].attributes
        assert len([k for k in stored if k.startswith("k")]) == 128
        assert len(str(stored["k000"])) == 4096
    finally:
        store.shutdown()


def test_more_items_than_one_request_may_carry_is_refused_whole(own_db: Path) -> None:
    store = SQLiteStore(own_db)
    try:
        request = ExportTraceServiceRequest()
        scope = request.resource_spans.add().scope_spans.add()
        for i in range(5001):
            span = scope.spans.add(name=f"s{i}", trace_id=b"\x01" * 16, span_id=(i + 1).to_bytes(8, "big"))
            span.start_time_unix_nano = span.end_time_unix_nano = 1
        answer = _post(receiver_for(store), "/v1/traces", request.SerializeToString())
        assert answer.status_code == 413
        assert "5001 items" in _status(answer)
        assert store.count() == 0
    finally:
        store.shutdown()


def test_a_small_json_body_of_a_million_empty_items_is_refused_before_it_is_parsed_into_messages(
    own_db: Path,
) -> None:
    # A few KB of gzip inflate to 3 MiB of `{},`: parsed into protobuf messages that was ~45 s of
    # pure Python holding the GIL (stalling /mcp beside it) and hundreds of MB, before the item count
    # was even looked at. Empty containers (resources, scopes, events) cost the same.
    store = SQLiteStore(own_db)
    try:
        app = receiver_for(store)
        bombs = {
            "/v1/traces": '{"resourceSpans":[{"scopeSpans":[{"spans":[' + ",".join(["{}"] * 1_000_000) + "]}]}]}",
            "/v1/logs": '{"resourceLogs":[' + ",".join(['{"scopeLogs":[]}'] * 300_000) + "]}",
            "/": '{"resourceSpans":[{"scopeSpans":[{"spans":[{"events":[' + ",".join(["{}"] * 300_000) + "]}]}]}]}",
        }
        for path, text in bombs.items():
            body = gzip.compress(text.encode(), compresslevel=9)
            assert len(body) < 30_000
            started = time.monotonic()
            answer = _post(app, path, body, {**JSON, "Content-Encoding": "gzip"})
            assert answer.status_code == 413, (path, answer.text)
            assert "more than 200000 objects and arrays" in _status(answer)
            assert time.monotonic() - started < 10, path  # was ~45 s for the first
        assert store.count() == 0
        ok = _post(app, "/v1/traces", _traces_json(_sdk_spans()), JSON)
        assert ok.status_code == 200 and store.count() == 2
    finally:
        store.shutdown()


def test_uploads_held_open_are_bounded_in_number_and_time_so_they_cannot_pile_up_in_memory(own_db: Path) -> None:
    # Each body is held in memory while it arrives (up to 8 MiB): 40 connections that sent all but
    # the last byte took a receiver from 76 MB to 492 MB, with nothing bounding their number or time.
    import anyio

    store = SQLiteStore(own_db)
    app = receiver_for(store, ReceiverLimits(max_reading=2, body_timeout_s=1.0))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/traces",
        "headers": [(b"content-type", b"application/x-protobuf")],
        "client": ("127.0.0.1", 1),
    }
    answers: dict[str, int] = {}

    async def held(name: str) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"\x00" * 1024, "more_body": True}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answers[name] = message["status"]

        await app(dict(scope), receive, send)

    async def go() -> None:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(held, f"upload {i}")
                    await anyio.sleep(0)  # in order: the first two are reading when the third comes

    try:
        anyio.run(go)
        assert answers == {"upload 0": 408, "upload 1": 408, "upload 2": 503}
        assert _post(app, "/v1/traces", _traces_body(_sdk_spans())).status_code == 200  # places freed
    finally:
        store.shutdown()


def test_while_every_writer_is_busy_a_request_gets_503_with_retry_after(own_db: Path) -> None:
    store = SQLiteStore(own_db)
    app = receiver_for(store, ReceiverLimits(max_concurrent=1, max_waiting=0))
    lock = sqlite3.connect(own_db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the first request waits
    first: list[httpx2.Response] = []
    try:
        import anyio

        async def both() -> httpx2.Response:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                async with anyio.create_task_group() as tg:

                    async def waiting() -> None:
                        body = _traces_body(_sdk_spans())
                        first.append(await client.post("/v1/traces", content=body, headers=PROTOBUF))

                    tg.start_soon(waiting)
                    with anyio.fail_after(10):
                        while app._slots.value:  # until the first request holds the only slot
                            await anyio.sleep(0.01)
                    second = await client.post("/v1/traces", content=_traces_body(_sdk_spans()), headers=PROTOBUF)
                    lock.execute("ROLLBACK")  # the first request's write goes through now
                return second

        second = anyio.run(both)
        assert second.status_code == 503
        assert second.headers["retry-after"] == "1"
        assert first[0].status_code == 200
        assert store.count() == 2
    finally:
        lock.close()
        store.shutdown()


def _claude_code_logs_json(events: int) -> bytes:
    """A batch of `events` log events shaped like Claude Code's (the fixture's, repeated)."""
    data = json.loads((Path(__file__).parents[2] / "fixtures" / "otlp" / "claude_code_logs.json").read_text())
    scope = data["resourceLogs"][0]["scopeLogs"][0]
    kinds = scope["logRecords"]
    scope["logRecords"] = [
        {**kinds[i % len(kinds)], "attributes": [*kinds[i % len(kinds)]["attributes"], _attr("n", str(i))]}
        for i in range(events)
    ]
    return json.dumps(data).encode()


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _post_at_once(
    app: Any, path: str, body: bytes, headers: dict[str, str], senders: int, *, time_the_loop: bool = False
) -> tuple[list[int], list[float]]:
    """`senders` posts of `body` at once on one event loop: their statuses, and with `time_the_loop`
    how late each 1 ms sleep of that loop woke while they ran (sorted)."""
    import anyio

    async def go() -> tuple[list[int], list[float]]:
        statuses: list[int] = []
        lags: list[float] = []
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", timeout=120) as client:

            async def send() -> None:
                statuses.append((await client.post(path, content=body, headers=headers)).status_code)

            with anyio.fail_after(120):
                async with anyio.create_task_group() as tg:
                    for _ in range(senders):
                        tg.start_soon(send)
                    while time_the_loop and len(statuses) < senders:
                        started = time.perf_counter()
                        await anyio.sleep(0.001)
                        lags.append(time.perf_counter() - started)
        return statuses, sorted(lags)

    return anyio.run(go)


def test_large_json_requests_being_decoded_do_not_stall_the_event_loop_serving_mcp_beside_them(own_db: Path) -> None:
    # A full batch of JSON log events costs seconds of Python to decode: done on the event loop's
    # process it held the GIL, and every MCP request on the same server waited (p99 over a second).
    store = SQLiteStore(own_db)
    body = _claude_code_logs_json(600)  # about a second of decoding each
    app = receiver_for(store)
    senders = 3
    try:
        statuses, lags = _post_at_once(app, "/v1/logs", body, JSON, senders, time_the_loop=True)
        assert statuses == [200] * senders
        assert store.count() == 600  # the same events thrice: stored once
        p99 = lags[int(len(lags) * 0.99)]
        assert p99 < 0.1, f"the event loop stalled: p99 of a 1 ms sleep was {p99 * 1000:.0f} ms"
    finally:
        store.shutdown()


def test_a_sender_over_its_byte_rate_gets_429_before_its_body_is_decoded(own_db: Path) -> None:
    store = SQLiteStore(own_db)
    try:
        body = _claude_code_logs_json(50)
        app = receiver_for(store, ReceiverLimits(byte_rate=1.0, byte_burst=len(body) + 10))
        assert _post(app, "/v1/logs", body, JSON).status_code == 200
        not_json = b"{" + b" " * 100  # would be a 400, were it decoded
        answer = _post(app, "/v1/logs", not_json, JSON)
        assert answer.status_code == 429
        assert int(answer.headers["retry-after"]) >= 1
        assert "bytes per second" in status_pb2.Status(**answer.json()).message
        assert store.count() == 50
    finally:
        store.shutdown()


def test_a_request_whose_worker_is_killed_mid_batch_gets_503_with_retry_after_and_nothing_is_stored(
    own_db: Path,
) -> None:
    store = SQLiteStore(own_db)
    app = receiver_for(store)
    try:
        assert _post(app, "/v1/traces", _traces_body(_sdk_spans())).status_code == 200  # the workers are up
        pool = app._decoder._pool
        assert pool is not None
        workers = list(pool._processes)
        body = _claude_code_logs_json(3_000)  # seconds of decoding: a worker is busy with it when they die

        def kill_workers() -> None:
            for pid in workers:
                os.kill(pid, signal.SIGKILL)

        killer = threading.Timer(0.3, kill_workers)
        killer.start()
        try:
            answer = _post(app, "/v1/logs", body, JSON)
        finally:
            killer.cancel()
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "1"
        assert "retry" in status_pb2.Status(**answer.json()).message
        assert store.count() == 2  # only the first request's spans
        assert _post(app, "/v1/logs", _claude_code_logs_json(20), JSON).status_code == 200  # new workers
        assert store.count() == 22
    finally:
        app._decoder.close()
        store.shutdown()


def test_large_protobuf_requests_cost_the_server_process_little_cpu_their_rows_are_prepared_in_workers(
    own_db: Path,
) -> None:
    # Turning a decoded request into rows is ~0.1 ms of Python per item: in the server's threads it
    # held the GIL the MCP requests beside it wait for, and the write lock other agents wait for.
    # Measured here (the write included): ~0.06 ms of this process's CPU per span before, ~0.025 ms after
    # on a quiet machine; asserted as a ratio to the workers' CPU over the same requests (the speed varies).
    store = SQLiteStore(own_db)
    app = receiver_for(store)
    spans = [_sdk_spans({"otel_mcp.agent.id": "host-agent"}, n=i) for i in range(1_000)]
    body = _traces_body([span for pair in spans for span in pair])  # 2,000 spans
    senders = 3
    try:
        warm_up = _traces_body(_sdk_spans({"otel_mcp.agent.id": "host-agent"}))
        assert _post(app, "/v1/traces", warm_up).status_code == 200  # the workers are up
        pool = app._decoder._pool
        assert pool is not None
        before = {pid: cpu_seconds(pid) for pid in pool._processes}  # more may start meanwhile, on demand
        cpu = time.process_time()
        statuses, _ = _post_at_once(app, "/v1/traces", body, PROTOBUF, senders)
        cpu = time.process_time() - cpu
        worker_cpu = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in pool._processes)
        assert statuses == [200] * senders
        assert store.count() == 2 + 2_000  # the same spans thrice: stored once
        assert {r["agent_id"] for r in _rows(own_db, "name = 'execute_tool'")} == {"host-agent"}
        # The workers build the rows; this process still writes them: about even, never twice theirs.
        assert cpu < 2 * worker_cpu, f"the server process spent {cpu:.2f} s of CPU, its workers {worker_cpu:.2f} s"
    finally:
        app._decoder.close()
        store.shutdown()

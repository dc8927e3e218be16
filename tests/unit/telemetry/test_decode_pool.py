"""The worker processes that turn OTLP bodies into rows: the rows made in process; lost workers said so and replaced;
workers never outlive the server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from otel_mcp.store.sqlite.rows import record_to_row
from otel_mcp.telemetry.decode_pool import DecodePool, WorkerLost
from otel_mcp.telemetry.otlp_rows import TooManyItems, prepare_rows
from otel_mcp.telemetry.otlp_wire import JSON, PROTOBUF, BadPayload, Signal, WireFormat, decode

_LOGS = Path(__file__).parents[2] / "fixtures" / "otlp" / "claude_code_logs.json"


def test_rows_prepared_in_a_worker_are_the_rows_prepared_in_process_from_json_and_protobuf() -> None:
    pool = DecodePool(workers=1)
    try:
        body = _LOGS.read_bytes()
        message = decode("logs", JSON, body)
        here = prepare_rows("logs", message, None, record_to_row)
        cases: list[tuple[Signal | None, WireFormat, bytes]] = [
            (None, JSON, body),
            ("logs", PROTOBUF, message.SerializeToString()),
        ]
        for named, wire, sent in cases:
            there = pool.prepare(named, wire, sent, None, record_to_row)
            assert there.signal == "logs" and there.items == here.items == len(
                message.resource_logs[0].scope_logs[0].log_records
            )
            assert there.rows == here.rows
            assert [(p.record, p.attributes, p.clues) for p in there.pending] == [
                (p.record, p.attributes, p.clues) for p in here.pending
            ]
        with pytest.raises(BadPayload, match="not JSON"):
            pool.prepare("logs", JSON, b"{nope", None, record_to_row)
        with pytest.raises(BadPayload, match="protobuf"):
            pool.prepare("logs", PROTOBUF, b"\xff\xff", None, record_to_row)
    finally:
        pool.close()


def test_a_request_over_the_item_limit_is_refused_by_the_worker_before_any_row_is_made() -> None:
    from otel_mcp.telemetry.otlp_rows import IngestLimits

    pool = DecodePool(workers=1, limits=IngestLimits(max_items=2))
    try:
        with pytest.raises(TooManyItems, match="limit is 2 per request"):
            pool.prepare("logs", JSON, _LOGS.read_bytes(), None, record_to_row)
    finally:
        pool.close()


def test_a_worker_killed_while_preparing_is_reported_lost_and_the_next_request_gets_a_new_one() -> None:
    pool = DecodePool(workers=1)
    try:
        pool.prepare("logs", JSON, _LOGS.read_bytes(), None, record_to_row)  # the worker is up
        assert pool._pool is not None
        (worker,) = list(pool._pool._processes)
        killer = threading.Timer(0.3, os.kill, (worker, signal.SIGKILL))
        killer.start()
        try:
            with pytest.raises(WorkerLost, match="retry"):
                # ~seconds of JSON decoding: the worker is busy with it when it is killed
                pool.prepare("logs", JSON, _many_events(3000), None, record_to_row)
        finally:
            killer.cancel()
        assert pool.prepare("logs", JSON, _LOGS.read_bytes(), None, record_to_row).rows
    finally:
        pool.close()


def _many_events(events: int) -> bytes:
    data = json.loads(_LOGS.read_text())
    scope = data["resourceLogs"][0]["scopeLogs"][0]
    scope["logRecords"] = [scope["logRecords"][i % len(scope["logRecords"])] for i in range(events)]
    return json.dumps(data).encode()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_decoding_workers_exit_when_the_server_process_is_killed() -> None:
    code = (
        "import sys, time\n"
        "from otel_mcp.telemetry.decode_pool import DecodePool\n"
        "from otel_mcp.store.sqlite.rows import record_to_row\n"
        "pool = DecodePool(workers=1)\n"
        f"pool.prepare('logs', 'application/json', open({str(_LOGS)!r}, 'rb').read(), None, record_to_row)\n"
        "print(*pool._pool._processes, flush=True)\n"
        "time.sleep(120)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    workers = [int(pid) for pid in server.stdout.readline().split()]
    server.kill()  # SIGKILL: no chance to shut its pool down
    server.wait()
    assert workers and all(pid != os.getpid() for pid in workers)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)

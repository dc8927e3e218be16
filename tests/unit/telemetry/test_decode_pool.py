"""The OTLP/JSON decoding pool: answers as the in-process decoder did; workers never outlive the server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_mcp.telemetry.decode_pool import DecodePool
from otel_mcp.telemetry.otlp_wire import JSON, BadPayload, decode

_LOGS = Path(__file__).parents[2] / "fixtures" / "otlp" / "claude_code_logs.json"


def test_a_json_body_decoded_in_a_worker_is_the_message_decoded_in_process() -> None:
    pool = DecodePool(workers=1)
    try:
        body = _LOGS.read_bytes()
        assert pool.decode(None, JSON, body) == ("logs", decode("logs", JSON, body))
        with pytest.raises(BadPayload, match="not JSON"):
            pool.decode("logs", JSON, b"{nope")
    finally:
        pool.close()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_decoding_workers_exit_when_the_server_process_is_killed() -> None:
    code = (
        "import sys, time\n"
        "from otel_mcp.telemetry.decode_pool import DecodePool\n"
        "pool = DecodePool(workers=1)\n"
        f"pool.decode('logs', 'application/json', open({str(_LOGS)!r}, 'rb').read())\n"
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

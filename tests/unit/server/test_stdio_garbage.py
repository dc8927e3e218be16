"""Lines the stdio transport cannot decode get a JSON-RPC error answer, and the server keeps serving.

Raw JSON-RPC over the real `otel-mcp serve`, as a careless or broken client would write it: the
official client cannot even produce these lines.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import stdio_params

WAIT_S = 60.0  # a bound, not a wait: a fresh server answers in about a second when the machine is idle


class RawServer:
    """`otel-mcp serve` on pipes; lines in, decoded answers out, every wait bounded."""

    def __init__(self, db_path: Path) -> None:
        params = stdio_params(db_path, "agent-raw")
        self.proc = subprocess.Popen(
            [params.command, *params.args],
            env={**params.env, "PATH": "/usr/bin:/bin"},  # type: ignore[dict-item]
            cwd=params.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._answers: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._answers.put(line)

    def send(self, line: str | bytes) -> None:
        assert self.proc.stdin is not None
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        try:
            line = self._answers.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"no answer within {WAIT_S:g} s") from None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def no_answer(self, wait_s: float = 0.5) -> bool:
        try:
            self._answers.get(timeout=wait_s)
        except queue.Empty:
            return True
        return False

    def call(self, request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
        answer = self.answer()
        assert answer["id"] == request_id, answer
        return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    # One server for the module: each test also checks it still serves after what it sent.
    raw = RawServer(tmp_path_factory.mktemp("stdio") / "telemetry.db")
    try:
        hello = raw.call(
            1,
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        )
        assert "result" in hello, hello
        raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        yield raw
    finally:
        raw.close()


def _tool_call(request_id: str, arguments: str) -> str:
    """A tools/call line with `arguments` spliced in as raw JSON text."""
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
        f'"params": {{"name": "find_completed", "arguments": {arguments}}}}}'
    )


UNDECODABLE = [
    pytest.param(_tool_call("7", '{"task_type": "\\ud800"}'), 7, id="lone-surrogate"),
    pytest.param(_tool_call("8", '{"where": {"k": ' + "[" * 1000 + "]" * 1000 + "}}"), 8, id="nesting-1000"),
    pytest.param(_tool_call("9", '{"limit": ' + "9" * 5000 + "}"), 9, id="5000-digit-integer"),
    pytest.param(_tool_call('"req-10"', '{"task_type": "test"'), "req-10", id="truncated-json"),
    pytest.param('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', None, id="invalid-json"),
    pytest.param(b'{"jsonrpc": "2.0", "id": 12, "method": "tools/list\xff\xc3', 12, id="invalid-utf8-unterminated"),
]


@pytest.mark.parametrize(("line", "request_id"), UNDECODABLE)
def test_an_undecodable_line_gets_a_parse_error_with_its_id_and_the_server_keeps_serving(
    server: RawServer, line: str | bytes, request_id: int | str | None
) -> None:
    server.send(line)
    answer = server.answer()
    assert answer["jsonrpc"] == "2.0"
    assert answer["id"] == request_id
    assert answer["error"]["code"] == -32700
    assert answer["error"]["message"].startswith("Parse error")
    assert len(answer["error"]["message"]) < 300
    # ...and it still serves: the next call is answered normally.
    after = server.call(100, "tools/call", {"name": "find_ready", "arguments": {}})
    assert after["result"]["isError"] is False


@pytest.mark.parametrize(
    ("line", "request_id"),
    [
        pytest.param('{"jsonrpc": "2.0", "id": 11}', 11, id="neither-request-nor-response"),
        pytest.param('{"jsonrpc": "1.0", "id": "x", "method": "tools/list"}', "x", id="wrong-version"),
        pytest.param("[1, 2]", None, id="array"),
        pytest.param('"just a string"', None, id="string"),
        pytest.param('{"jsonrpc": "2.0", "id": 13, "method": 5}', 13, id="method-not-text"),
        pytest.param('{"jsonrpc": "2.0", "id": [1], "method": "tools/list", "params": 3}', None, id="list-id"),
    ],
)
def test_a_message_that_is_json_but_not_json_rpc_gets_invalid_request(
    server: RawServer, line: str, request_id: int | str | None
) -> None:
    server.send(line)
    answer = server.answer()
    assert (answer["id"], answer["error"]["code"]) == (request_id, -32600)
    assert server.call(101, "tools/list", {})["result"]["tools"]


def test_blank_lines_are_ignored_without_an_answer(server: RawServer) -> None:
    server.send("")
    server.send("   ")
    assert server.no_answer()
    assert server.call(102, "tools/list", {})["result"]["tools"]


def test_many_broken_lines_in_a_row_each_get_their_answer_in_order(server: RawServer) -> None:
    for i in range(50):
        server.send(_tool_call(str(1000 + i), '{"task_type": "\\udc00"}'))
    assert [server.answer()["id"] for _ in range(50)] == list(range(1000, 1050))
    assert server.call(103, "tools/call", {"name": "list_gates", "arguments": {}})["result"]["isError"] is False


def test_the_server_process_exits_cleanly_when_stdin_closes(db_path: Path) -> None:
    raw = RawServer(db_path)
    raw.send("not json at all")
    assert raw.answer()["error"]["code"] == -32700
    raw.close()
    assert raw.proc.returncode == 0, sys.executable

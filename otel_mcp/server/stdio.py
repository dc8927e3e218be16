"""The stdio transport, answering the messages the SDK's reader cannot decode.

The SDK's stdio reader hands a line it cannot parse or validate (invalid JSON, a JSON-escaped lone
surrogate, nesting 1,000 deep, a 5,000-digit integer, an object that is no JSON-RPC message) to
the server as an exception, and the server only logs it: the client waits for an answer until its
own timeout. Here each one is answered as JSON-RPC says: -32700 (parse error) or -32600 (invalid
request). When the request's id can still be read, the answer carries it, so the client's pending
call fails at once instead of timing out; otherwise the id is null. Blank lines are ignored.

The SDK's own reader and writer stay in place (they also keep stray output of checks off the
wire); only what comes out of the reader is screened.

When input ends (a host closing the pipe, or calls piped in before stdin closes), the SDK ends
the session at once and cancels what is still running: the last calls went unanswered. Here the
end of input is held back until every request already received has been answered, for at most
DRAIN_S; whatever is still running then is answered with an error saying so.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_REQUEST, PARSE_ERROR, REQUEST_TIMEOUT, ErrorData, JSONRPCError, JSONRPCRequest
from pydantic import ValidationError

__all__ = ["DRAIN_S", "answer_to_undecodable", "request_id_of", "serve_stdio"]

# How long requests received before input ended may still run (a check runs for minutes).
DRAIN_S: Final = 600.0

# How much of a broken line is searched for its request id; ids come first in practice.
_SCAN_CHARS: Final = 64 * 1024
_MAX_ID_TEXT: Final = 256
_SCALAR = re.compile(r'[^\s,:\[\]{}"]+')
_INT_ID = re.compile(r"-?\d{1,15}")
# The json module's C string scanner: (text, index after the opening quote) -> (value, index after the close).
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


async def serve_stdio(server: MCPServer[Any]) -> None:
    """`server.run()` for stdio, with undecodable messages answered instead of dropped."""
    lowlevel = server._lowlevel_server  # the SDK's own `run_stdio_async` runs exactly this
    async with stdio_server() as (read_stream, write_stream):
        writer = _AnswerTracker(write_stream)
        await lowlevel.run(_AnsweringReader(read_stream, writer), writer, lowlevel.create_initialization_options())


class _AnswerTracker:
    """The writer's stream, noting which received requests have been answered."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.pending: set[int | str] = set()
        self._changed = anyio.Event()

    def received(self, request_id: int | str) -> None:
        self.pending.add(request_id)

    async def send(self, item: SessionMessage) -> None:
        await self._inner.send(item)
        answered = getattr(item.message, "id", None)
        if not isinstance(item.message, JSONRPCRequest) and answered in self.pending:
            self.pending.discard(answered)
            self._changed.set()
            self._changed = anyio.Event()

    async def drain(self, limit_s: float) -> None:
        """Wait until every received request is answered; answer those still running after `limit_s`."""
        with anyio.move_on_after(limit_s):
            while self.pending:
                await self._changed.wait()
        for request_id in sorted(self.pending, key=str):
            message = (
                f"the server's input closed and this request did not finish within {limit_s:g} s; it was cancelled"
            )
            await self._inner.send(SessionMessage(_error(request_id, REQUEST_TIMEOUT, message)))
        self.pending.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> _AnswerTracker:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc, tb)  # type: ignore[no-any-return]


class _AnsweringReader:
    """The reader's stream with its exceptions answered on the writer's stream and left out."""

    def __init__(self, inner: Any, writer: _AnswerTracker) -> None:
        self._inner = inner
        self._writer = writer

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage:
        while True:
            try:
                item = await self._inner.receive()
            except anyio.EndOfStream:
                await self._writer.drain(DRAIN_S)
                raise
            if not isinstance(item, Exception):
                if isinstance(item.message, JSONRPCRequest):
                    self._writer.received(item.message.id)
                return item  # type: ignore[no-any-return]
            answer = answer_to_undecodable(item)
            if answer is not None:
                await self._writer.send(SessionMessage(answer))

    def __aiter__(self) -> _AnsweringReader:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _AnsweringReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        await self.aclose()
        return None


def answer_to_undecodable(exc: Exception) -> JSONRPCError | None:
    """The JSON-RPC error answering a line the reader failed on (None for a blank line)."""
    if not isinstance(exc, ValidationError):
        return _error(None, PARSE_ERROR, f"Parse error: {type(exc).__name__}")
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        line = first.get("input")
        if not isinstance(line, str) or not line.strip():
            return None
        return _error(request_id_of(line), PARSE_ERROR, f"Parse error: {str(first['msg'])[:200]}")
    # The JSON was valid. An error's `input` is the value at its location: the whole message for an
    # error about the message itself, or for a member missing from it.
    whole = (e["input"] for e in errors if len(e["loc"]) == 1 or (len(e["loc"]) == 2 and e["type"] == "missing"))
    message = next((m for m in whole if isinstance(m, dict)), None)
    return _error(
        _valid_id(message.get("id") if message is not None else None),
        INVALID_REQUEST,
        "Invalid request: not a JSON-RPC 2.0 request, notification or response (it needs 'jsonrpc': '2.0' and a "
        "'method', or an 'id' with a 'result' or an 'error')",
    )


def _error(request_id: int | str | None, code: int, message: str) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=request_id, error=ErrorData(code=code, message=message))


def _valid_id(value: object) -> int | str | None:
    """`value` if it can be sent back as a request id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 2**53 else None
    if isinstance(value, str) and len(value) <= _MAX_ID_TEXT:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot go back on the wire
            return None
        return value
    return None


def request_id_of(line: str) -> int | str | None:
    """The `id` member of the JSON object on `line`, read without parsing the rest of it.

    A scan of the top level only, that skips nested values and strings without building them, so
    it works on exactly the lines a parser refuses (deep nesting, huge numbers, lone surrogates).
    None when there is no usable id within the first 64 KiB.
    """
    text = line[:_SCAN_CHARS]
    start = len(text) - len(text.lstrip())
    if not text.startswith("{", start):
        return None
    pos, depth, key, after_colon = start + 1, 1, None, False
    while pos < len(text):
        ch = text[pos]
        if ch in " \t\r\n":
            pos += 1
        elif ch in "{[":
            if depth == 1 and after_colon and key == "id":
                return None
            depth, pos, after_colon = depth + 1, pos + 1, False
        elif ch in "}]":
            depth, pos = depth - 1, pos + 1
            if depth == 0:
                return None
        elif ch == ",":
            pos, after_colon = pos + 1, False
            key = None if depth == 1 else key
        elif ch == ":":
            pos, after_colon = pos + 1, depth == 1
        elif ch == '"':
            try:
                value, pos = _scanstring(text, pos + 1)
            except ValueError:
                return None
            if depth == 1 and after_colon:
                if key == "id":
                    return _valid_id(value)
                after_colon = False
            elif depth == 1:
                key = value
        else:
            token = _SCALAR.match(text, pos)
            if token is None:
                return None
            if depth == 1 and after_colon and key == "id":
                return int(token.group()) if _INT_ID.fullmatch(token.group()) else None
            pos, after_colon = token.end(), False
    return None

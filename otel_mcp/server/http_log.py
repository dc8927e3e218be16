"""One log line per HTTP request: which agent, which MCP method and tool, and how it ended.

Two halves meet in the request's state: `CallRecorder`, an MCP middleware, notes the JSON-RPC
method, the tool and whether the tool answered with an error; `AccessLog`, the outermost ASGI
layer, writes the line once the answer has gone out, with the HTTP status for requests refused
before MCP saw them (bad Host, no token, unknown session). Arguments are never logged: they are
the agents' data, and the audit spans in the store already keep a clipped copy.

Lines go to the `otel_mcp.http` logger: requests at info, notifications and stream opens at debug.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from otel_mcp.server._http import (
    AGENT_STATE_KEY,
    CALL_STATE_KEY,
    REFUSAL_STATE_KEY,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    request_state,
)

__all__ = ["AccessLog", "CallRecorder"]

_log = logging.getLogger("otel_mcp.http")


def _is_tool_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    return isinstance(result, dict) and result.get("isError") is True


class CallRecorder:
    """MCP middleware: leaves (method, tool, outcome) in the HTTP request's state; a no-op over stdio."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        scope = getattr(ctx.request, "scope", None)
        if not isinstance(scope, dict) or ctx.request_id is None:
            return await call_next(ctx)
        params = ctx.params or {}
        name = params.get("name") if ctx.method == "tools/call" else None
        tool = name[:100] if isinstance(name, str) else None
        state = request_state(scope)
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            state[CALL_STATE_KEY] = (ctx.method, tool, f"error {exc.error.code}")
            raise
        except BaseException as exc:
            state[CALL_STATE_KEY] = (ctx.method, tool, f"error ({type(exc).__name__})")
            raise
        state[CALL_STATE_KEY] = (ctx.method, tool, "tool error" if _is_tool_error(result) else "ok")
        return result


class AccessLog:
    """ASGI middleware, outermost: one line per request once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            self._line(scope, status, time.perf_counter() - started)

    @staticmethod
    def _line(scope: Scope, status: int, seconds: float) -> None:
        state = request_state(scope)
        call = state.get(CALL_STATE_KEY)
        level = logging.INFO if call is not None or status >= 400 or status == 0 else logging.DEBUG
        if not _log.isEnabledFor(level):
            return
        agent = state.get(AGENT_STATE_KEY) or "-"
        if call is not None and status < 400:
            method, tool, outcome = call
            what = f"{method} {tool}" if tool else method
        else:
            what = f"{scope.get('method', '?')} {str(scope.get('path', ''))[:100]}"
            outcome = f"HTTP {status}" if status else "no answer (connection closed)"
            reason = state.get(REFUSAL_STATE_KEY)
            if reason:
                outcome += f": {reason}"
        _log.log(level, "%s %s -> %s (%.0f ms)", agent, what, outcome, seconds * 1000)

"""Every tool call leaves a span: who asked what, when, and with what result.

The MCP SDK wraps every inbound message in a SERVER span on the *global* tracer provider
(`OpenTelemetryMiddleware`), which otel-mcp does not install: each server (several can share one
process in tests) writes to its own store under its own identity. For `tools/call` this middleware
takes that span's place, so a call makes one span, not two: the same name (`tools/call <tool>`) and
attributes (MCP semantic conventions: `mcp.method.name`, `mcp.session.id`, `mcp.protocol.version`,
`jsonrpc.request.id`, `gen_ai.tool.name`, `gen_ai.operation.name=execute_tool`, `error.type`), the
same parenting on SEP-414 `_meta.traceparent`, and, over HTTP, on the `traceparent` header when
`_meta` has none (with both, the header's context becomes a link, as the conventions ask). When the
caller sent trace context, every span the call writes joins that trace under the audit span.
Other messages keep the SDK's span.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID
from otel_mcp.server._http import AGENT_STATE_KEY
from otel_mcp.telemetry import Telemetry, acting_for, joining_caller_trace

__all__ = ["AuditMiddleware", "SdkSpansBesideAudit"]

_log = logging.getLogger(__name__)
_MAX_TEXT = 1024
_W3C = TraceContextTextMapPropagator()


def _remote(carrier: Mapping[str, Any] | None) -> Context | None:
    """The W3C trace context a carrier (`_meta`, HTTP headers) holds, if it holds a valid one."""
    if not carrier:
        return None
    try:
        ctx = _W3C.extract({k: v for k, v in carrier.items() if isinstance(v, str)})
    except (ValueError, TypeError):
        return None
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def _headers(scope: Mapping[str, Any]) -> dict[str, str]:
    wanted = (b"traceparent", b"tracestate", b"mcp-session-id")
    return {k.decode(): v.decode("latin-1") for k, v in scope.get("headers", []) if k in wanted}


class SdkSpansBesideAudit:
    """The SDK's OpenTelemetry middleware for every message but `tools/call`, whose span is the audit span."""

    def __init__(self, sdk: ServerMiddleware[Any]) -> None:
        self._sdk = sdk

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call":
            return await call_next(ctx)
        return await self._sdk(ctx, call_next)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _error_text(result: HandlerResult) -> str | None:
    # Look at the error flag before anything else: dumping a large successful result would cost
    # more than the call it audits.
    if isinstance(result, CallToolResult):
        if not result.is_error:
            return None
        texts = [block.text for block in result.content if isinstance(block, TextContent)]
        return " ".join(texts) or "tool error"
    if isinstance(result, dict) and result.get("isError") is True:
        for block in result.get("content") or []:
            if isinstance(block, dict) and block.get("type") == "text":
                return str(block.get("text", ""))
        return "tool error"
    return None


class AuditMiddleware:
    """Wraps `tools/call` in a SERVER span stored like any other span."""

    def __init__(self, telemetry: Telemetry, flush_delay_s: float = 0.05, *, offload: bool = False) -> None:
        self._telemetry = telemetry
        self._flush_delay_s = flush_delay_s
        # A store behind a network takes milliseconds to write: do it in a worker thread, not on the loop.
        self._offload = offload
        self._flush_pending: asyncio.TimerHandle | None = None

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        # Over HTTP with bearer tokens the caller, not the server, is the agent (see server/auth.py).
        state = getattr(ctx.request, "scope", {}).get("state") or {}
        with acting_for(state.get(AGENT_STATE_KEY)):
            return await self._audited(ctx, call_next)

    async def _audited(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        name = params.get("name")
        tool = name if isinstance(name, str) else "unknown"
        raw_arguments = params.get("arguments")
        arguments: dict[str, Any] = raw_arguments if isinstance(raw_arguments, dict) else {}
        scope = getattr(ctx.request, "scope", None)
        headers = _headers(scope) if isinstance(scope, Mapping) else {}
        attributes: dict[str, Any] = {
            "mcp.method.name": "tools/call",
            "mcp.protocol.version": ctx.protocol_version,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            ATTR_SOURCE: "audit",
            "otel_mcp.tool.arguments": _clip(json.dumps(arguments, default=str, ensure_ascii=False)),
        }
        if headers.get("mcp-session-id"):
            attributes["mcp.session.id"] = headers["mcp-session-id"][:200]
        if isinstance(arguments.get("task_id"), str):
            attributes[ATTR_TASK_ID + ".argument"] = _clip(arguments["task_id"])
        if ctx.request_id is not None:
            attributes["jsonrpc.request.id"] = str(ctx.request_id)
        from_meta = _remote(ctx.meta if isinstance(ctx.meta, Mapping) else None)
        from_transport = _remote(headers)
        parent = from_meta or from_transport
        links = []
        if from_meta is not None and from_transport is not None:
            links.append(Link(trace.get_current_span(from_transport).get_span_context()))
        span = self._telemetry.tracer.start_span(
            f"tools/call {tool}",
            context=parent or Context(),
            kind=SpanKind.SERVER,
            attributes=attributes,
            links=links,
        )
        try:
            with (
                trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False),
                joining_caller_trace() if parent is not None else nullcontext(),
            ):
                result = await call_next(ctx)
        except MCPError as exc:
            span.set_attributes({"error.type": str(exc.error.code), "rpc.response.status_code": str(exc.error.code)})
            span.set_status(Status(StatusCode.ERROR, _clip(exc.error.message)))
            self._end(span)
            raise
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, _clip(str(exc))))
            span.set_attribute("error.type", type(exc).__qualname__)
            self._end(span)
            raise
        error = _error_text(result)
        if error is not None:
            span.set_attribute("error.type", "tool_error")
            span.set_attribute("otel_mcp.tool.error", _clip(error))
            span.set_status(Status(StatusCode.ERROR, _clip(error)))
        else:
            span.set_status(Status(StatusCode.OK))
        self._end(span)
        self._schedule_flush()
        return result

    def _schedule_flush(self) -> None:
        # Audit spans are buffered (see telemetry's AuditBuffer); store them shortly after the answer
        # has gone out, in one batch with whatever else arrived meanwhile.
        if self._flush_pending is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._flush_pending = loop.call_later(self._flush_delay_s, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._flush_pending = None
        if self._offload:
            loop.run_in_executor(None, self._flush)
        else:
            self._flush()

    def _flush(self) -> None:
        try:
            self._telemetry.flush_audit()
        except Exception:
            _log.warning("could not store audit spans", exc_info=True)

    @staticmethod
    def _end(span: Any) -> None:
        try:
            span.end()
        except Exception:
            # The audit record is best effort: never turn a tool's answer into an error because of it.
            _log.warning("could not store the audit span for a tool call", exc_info=True)

"""Context that travels with a tool call: who it speaks for, deferred store writes, the last record.

Context variables rather than arguments, because the OpenTelemetry span processor that reads them
is called by the SDK, deep below the code that knows the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_span_id, format_trace_id

from otel_mcp.model import SpanRecord

__all__ = [
    "acting_for",
    "caller",
    "caller_trace_joined",
    "context_for",
    "current_span_link_target",
    "deferred_records",
    "deferred_store_export",
    "joining_caller_trace",
    "remember_record",
    "remembered_record",
]

# Set while a caller writes spans into the store itself (inside its own transaction).
_DEFERRED: ContextVar[list[SpanRecord] | None] = ContextVar("otel_mcp_deferred_export", default=None)
# Who the current request speaks for, when one server serves many agents (bearer tokens over HTTP).
_CALLER: ContextVar[str | None] = ContextVar("otel_mcp_caller", default=None)
# True while a tool call runs whose caller sent trace context: its spans join the caller's trace.
_JOINED: ContextVar[bool] = ContextVar("otel_mcp_joined_caller_trace", default=False)
# The record the processor made of the span that just ended, so the caller need not convert it again.
_LAST_RECORD: ContextVar[SpanRecord | None] = ContextVar("otel_mcp_last_record", default=None)


@contextmanager
def deferred_store_export() -> Iterator[list[SpanRecord]]:
    """Spans ended in this block are handed back instead of written to the store.

    For read-then-write decisions (claims) that must write the span inside the same store
    transaction as the read: the caller writes the returned records with `export_in`. Only the
    store write is deferred; every other processor (OTLP) sees the span as usual. If the caller's
    transaction then fails, the OTLP copy may hold a span the store does not: OTLP is a mirror.
    """
    captured: list[SpanRecord] = []
    token = _DEFERRED.set(captured)
    try:
        yield captured
    finally:
        _DEFERRED.reset(token)


def deferred_records() -> list[SpanRecord] | None:
    """The list collecting deferred records in this context, if a deferred block is open."""
    return _DEFERRED.get()


@contextmanager
def acting_for(agent_id: str | None) -> Iterator[None]:
    """Spans made inside carry `agent_id` instead of the server's configured identity."""
    token = _CALLER.set(agent_id)
    try:
        yield
    finally:
        _CALLER.reset(token)


def caller() -> str | None:
    """The agent the current request speaks for, when it is not the server's own identity."""
    return _CALLER.get()


@contextmanager
def joining_caller_trace() -> Iterator[None]:
    """Spans written inside hang under the current span (the call's audit span, in the caller's trace)."""
    token = _JOINED.set(True)
    try:
        yield
    finally:
        _JOINED.reset(token)


def caller_trace_joined() -> bool:
    return _JOINED.get()


def remember_record(record: SpanRecord) -> None:
    _LAST_RECORD.set(record)


def remembered_record(span_id: str) -> SpanRecord | None:
    """The record just made of span `span_id` in this context, if that is the last one made."""
    record = _LAST_RECORD.get()
    return record if record is not None and record.span_id == span_id else None


def context_for(trace_id: str, span_id: str) -> Context:
    """A context whose parent is a span recorded earlier, perhaps by another process."""
    parent = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


def current_span_link_target() -> tuple[str, str] | None:
    """(trace id, span id) of the current span (the tool call's audit span), if any."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)

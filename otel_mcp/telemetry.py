"""The OpenTelemetry side: a real TracerProvider whose spans land in the shared store.

Evidence must never be dropped, so the store sits behind a processor that exports each span
synchronously in `on_end` and lets a failed write propagate to the tool call (the SDK's own
SimpleSpanProcessor logs and swallows errors). When the standard `OTEL_EXPORTER_OTLP_*`
variables are set, every span is also shipped over OTLP, batched, to any collector or UI.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    format_span_id,
    format_trace_id,
)

from otel_mcp import __version__
from otel_mcp.model import ATTR_AGENT_ID, ATTR_AGENT_NAME, ATTR_SOURCE, AttrValue, SpanRecord
from otel_mcp.store.base import Store

__all__ = [
    "StoreSpanExporter",
    "Telemetry",
    "acting_for",
    "context_for",
    "current_span_link_target",
    "deferred_store_export",
    "last_record",
    "to_record",
]

log = logging.getLogger(__name__)

_KIND = {
    SpanKind.INTERNAL: "Internal",
    SpanKind.SERVER: "Server",
    SpanKind.CLIENT: "Client",
    SpanKind.PRODUCER: "Producer",
    SpanKind.CONSUMER: "Consumer",
}
_STATUS = {0: "Unset", 1: "Ok", 2: "Error"}

# Set while a caller writes spans into the store itself (inside its own transaction).
_DEFERRED: ContextVar[list[SpanRecord] | None] = ContextVar("otel_mcp_deferred_export", default=None)


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


# Who the current request speaks for, when one server serves many agents (bearer tokens over HTTP).
_CALLER: ContextVar[str | None] = ContextVar("otel_mcp_caller", default=None)


@contextmanager
def acting_for(agent_id: str | None) -> Iterator[None]:
    """Spans made inside carry `agent_id` instead of the server's configured identity."""
    token = _CALLER.set(agent_id)
    try:
        yield
    finally:
        _CALLER.reset(token)


# The record the processor made of the span that just ended, so the caller need not convert it again.
_LAST_RECORD: ContextVar[SpanRecord | None] = ContextVar("otel_mcp_last_record", default=None)


def last_record(span: ReadableSpan) -> SpanRecord:
    """The stored record of a span that has just ended in this context."""
    record = _LAST_RECORD.get()
    ctx = span.get_span_context()
    if record is not None and ctx is not None and record.span_id == format_span_id(ctx.span_id):
        return record
    return to_record(span)


def _plain(attributes: Mapping[str, object] | None) -> dict[str, AttrValue]:
    if attributes is None:
        return {}
    # The SDK's BoundedAttributes copies its dict in one call; dict() would take its lock per key.
    copy = attributes.copy() if isinstance(attributes, BoundedAttributes) else dict(attributes)
    return cast(dict[str, AttrValue], copy)


def to_record(span: ReadableSpan) -> SpanRecord:
    """An SDK span -> the store's flat record (hex ids, exporter spellings)."""
    ctx = span.get_span_context()
    assert ctx is not None
    parent = span.parent
    return SpanRecord(
        span_id=format_span_id(ctx.span_id),
        trace_id=format_trace_id(ctx.trace_id),
        parent_span_id=format_span_id(parent.span_id) if parent is not None else None,
        name=span.name,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or span.start_time or 0,
        kind=_KIND.get(span.kind, "Internal"),
        status_code=_STATUS.get(span.status.status_code.value, "Unset"),
        status_message=span.status.description or "",
        attributes=_plain(span.attributes),
        resource=_plain(span.resource.attributes),
        scope_name=span.instrumentation_scope.name if span.instrumentation_scope else "",
        links=tuple(
            (format_trace_id(link.context.trace_id), format_span_id(link.context.span_id)) for link in span.links
        ),
    )


class StoreSpanExporter(SpanExporter):
    """A span exporter whose destination is the shared store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.store.export([to_record(s) for s in spans])
        return SpanExportResult.SUCCESS

    def export_records(self, records: Sequence[SpanRecord]) -> None:
        """Store already-converted records; raises if the store cannot keep them."""
        self.store.export(records)

    def shutdown(self) -> None:
        self.store.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.store.force_flush(timeout_millis)


# Audit spans buffered before a write is forced, whatever the timer says.
_AUDIT_BATCH = 256


class _AuditBuffer:
    """Audit spans wait here and are written in batches, off the answers' path.

    One audit span per tool call is not evidence; giving each its own commit would add a
    transaction to every answer, and so would riding along with the next evidence write.
    They are written shortly after the call (the server schedules a flush on its event loop),
    when a read needs them, when 256 are waiting, and at shutdown. A background thread was
    tried and measured slower: it contends for the GIL just when the next request arrives.
    """

    def __init__(self) -> None:
        # Ended SDK spans, converted to records only when written: the conversion is then off the answer's path too.
        self._pending: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def put(self, span: ReadableSpan) -> None:
        with self._lock:
            self._pending.append(span)

    def drain(self) -> list[SpanRecord]:
        with self._lock:
            pending, self._pending = self._pending, []
        return [to_record(span) for span in pending]

    def __len__(self) -> int:
        return len(self._pending)


class _EvidenceProcessor(SpanProcessor):
    """Stamps the agent identity on every span and stores it before `end()` returns.

    Audit spans (one per tool call, `otel_mcp.source=audit`) are buffered instead, see _AuditBuffer.
    """

    def __init__(self, exporter: StoreSpanExporter, identity: Mapping[str, str], audit: _AuditBuffer) -> None:
        self._exporter = exporter
        self._identity = dict(identity)
        self._audit = audit

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # On the span as well as the resource: the flat `agent_id` column and ClickHouse's
        # SpanAttributes map then need no join with resource attributes.
        caller = _CALLER.get()
        span.set_attributes({ATTR_AGENT_ID: caller} if caller else self._identity)

    def on_end(self, span: ReadableSpan) -> None:
        deferred = _DEFERRED.get()
        if deferred is None and (span.attributes or {}).get(ATTR_SOURCE) == "audit":
            self._audit.put(span)
            if len(self._audit) >= _AUDIT_BATCH:
                self.flush_audit()
            return
        record = to_record(span)
        _LAST_RECORD.set(record)
        if deferred is not None:
            deferred.append(record)
            return
        self._exporter.export_records([record])  # raises on failure: the caller must know evidence was not kept

    def flush_audit(self) -> None:
        pending = self._audit.drain()
        if pending:
            try:
                self._exporter.export_records(pending)
            except Exception:
                log.warning("could not store %d audit spans", len(pending), exc_info=True)

    def shutdown(self) -> None:
        self.flush_audit()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flush_audit()
        return self._exporter.force_flush(timeout_millis)


def _otlp_exporter(env: Mapping[str, str]) -> SpanExporter | None:
    traces_endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    base_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (traces_endpoint or base_endpoint):
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )
    # Imported only when asked for: the exporters (gRPC above all) cost start-up time. The endpoint is
    # passed explicitly so a given env mapping wins; headers, timeouts etc. come from the process env.
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=traces_endpoint or base_endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    endpoint = traces_endpoint or f"{str(base_endpoint).rstrip('/')}/v1/traces"
    return HttpExporter(endpoint=endpoint)


class Telemetry:
    """One TracerProvider per server: resource, identity, the store path and optional OTLP."""

    def __init__(
        self,
        store: Store,
        *,
        agent_id: str,
        agent_name: str | None = None,
        env: Mapping[str, str] | None = None,
        extra_processors: Sequence[SpanProcessor] = (),
    ) -> None:
        env = os.environ if env is None else env
        identity = {ATTR_AGENT_ID: agent_id}
        if agent_name:
            identity[ATTR_AGENT_NAME] = agent_name
        resource = Resource.create(
            {"service.name": "otel-mcp", "service.version": __version__, "service.instance.id": agent_id, **identity}
        )
        self.agent_id = agent_id
        self.provider = TracerProvider(resource=resource)
        self.exporter = StoreSpanExporter(store)
        self._audit = _AuditBuffer()
        self._evidence = _EvidenceProcessor(self.exporter, identity, self._audit)
        self.provider.add_span_processor(self._evidence)
        self.otlp: BatchSpanProcessor | None = None
        # A store that itself ships spans to the collector (ClickHouse, write=otlp) must not get a
        # second copy of each from here: they would land in the same table twice.
        otlp = None if store.exports_otlp else _otlp_exporter(env)
        if otlp is not None:
            self.otlp = BatchSpanProcessor(otlp)
            self.provider.add_span_processor(self.otlp)
        for processor in extra_processors:
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("otel_mcp", __version__)

    def current_agent_id(self) -> str:
        """The agent the current request speaks for: its bearer token's agent, else the configured one."""
        return _CALLER.get() or self.agent_id

    def force_flush(self, timeout_millis: int = 10000) -> bool:
        return self.provider.force_flush(timeout_millis)

    def flush_audit(self) -> None:
        """Store this process's buffered audit spans (reads call this first)."""
        if len(self._audit):
            self._evidence.flush_audit()

    def shutdown(self) -> None:
        # Drain audit spans and flush OTLP before the store closes; the store is owned by whoever opened it.
        self._evidence.flush_audit()
        if self.otlp is not None:
            self.otlp.force_flush(5000)
            self.otlp.shutdown()


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
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)

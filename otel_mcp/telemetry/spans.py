"""Writing the spans the server records: parented, linked to the tool call, signed when asked.

Core services (tasks, claims, gates) make their spans here rather than through each other. A span
that must be signed is signed once its ids and final attributes exist, just before it ends and so
is stored: the attestation covers the span's own ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    format_span_id,
    format_trace_id,
)

from otel_mcp.model import ATTR_ATTESTATION, SpanRecord
from otel_mcp.telemetry._context import (
    caller_trace_joined,
    context_for,
    current_span_link_target,
    remembered_record,
)
from otel_mcp.telemetry._convert import STATUS_NAMES, plain_attributes, to_record
from otel_mcp.telemetry.attestation import Attestor
from otel_mcp.telemetry.chain import WriterChain

__all__ = ["SpanRef", "SpanWriter", "ref"]

# A span recorded earlier, perhaps by another process: (trace id, span id).
SpanRef = tuple[str, str]


def ref(record: SpanRecord | None) -> SpanRef | None:
    """The reference a new span needs to hang under `record`."""
    return (record.trace_id, record.span_id) if record is not None else None


def _link(target: SpanRef) -> Link:
    trace_id, span_id = target
    return Link(SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1)))


class SpanWriter:
    """Starts, signs, ends and so stores spans through one tracer."""

    def __init__(self, tracer: Tracer, attestor: Callable[[], Attestor], chain: WriterChain | None = None) -> None:
        self._tracer = tracer
        self._attestor = attestor
        self.chain = chain or WriterChain()

    def start(
        self,
        name: str,
        attributes: Mapping[str, Any],
        *,
        parent: SpanRef | None = None,
        links: Sequence[SpanRef] = (),
        start_ns: int | None = None,
    ) -> Span:
        """Start a span under `parent`, linked to the tool call's audit span.

        When the caller sent trace context (SEP-414 `_meta.traceparent`, or the HTTP `traceparent`
        header), the span joins the caller's trace under the audit span instead, linked to `parent`.
        """
        targets = list(links)
        audit = current_span_link_target()
        if audit is not None and caller_trace_joined():
            context = None  # the current context: the audit span, a child of the caller's span
            if parent:
                targets.append(parent)
        else:
            # No parent means a new trace root, not a child of whatever span is current (the audit span).
            context = context_for(*parent) if parent else Context()
            if audit is not None:
                targets.append(audit)
        span = self._tracer.start_span(
            name,
            context=context,
            kind=SpanKind.INTERNAL,
            attributes=dict(attributes),
            links=[_link(t) for t in targets],
            start_time=start_ns,
        )
        assert isinstance(span, Span)
        return span

    def finish(
        self,
        span: Span,
        *,
        error: str | None = None,
        ok: bool = False,
        end_ns: int | None = None,
        sign: bool = False,
    ) -> SpanRecord:
        """Set the status, sign the whole content if asked (and chain it), end and so store the span."""
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error[:500]))
        elif ok:
            span.set_status(Status(StatusCode.OK))
        if sign:
            with self.chain.next_link() as (link, signed):
                span.set_attributes(link.attributes())
                signed.append(self._sign(span))
                span.end(end_time=end_ns)  # stored here, or raises: then the chain does not advance
        else:
            span.end(end_time=end_ns)  # the evidence processor writes it to the store here, or raises
        ctx = span.get_span_context()
        return remembered_record(format_span_id(ctx.span_id)) or to_record(span)

    def emit(
        self,
        name: str,
        attributes: Mapping[str, Any],
        *,
        parent: SpanRef | None = None,
        error: str | None = None,
        ok: bool = False,
        start_ns: int | None = None,
        end_ns: int | None = None,
        links: Sequence[SpanRef] = (),
        sign: bool = False,
    ) -> SpanRecord:
        """Create, end and durably store one span; returns it as the store will return it."""
        span = self.start(name, attributes, parent=parent, links=links, start_ns=start_ns)
        return self.finish(span, error=error, ok=ok, end_ns=end_ns, sign=sign)

    def _sign(self, span: Span) -> str:
        ctx = span.get_span_context()
        signature = self._attestor().sign(
            span_id=format_span_id(ctx.span_id),
            trace_id=format_trace_id(ctx.trace_id),
            name=span.name,
            start_ns=span.start_time or 0,
            status_code=STATUS_NAMES.get(span.status.status_code.value, "Unset"),
            attributes=plain_attributes(span.attributes),
        )
        span.set_attribute(ATTR_ATTESTATION, signature)
        return signature

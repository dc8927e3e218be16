"""An SDK span as the store keeps it: hex ids and the collector exporter's spellings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from otel_mcp.model import AttrValue, SpanRecord

__all__ = ["STATUS_NAMES", "plain_attributes", "to_record"]

_KIND = {
    SpanKind.INTERNAL: "Internal",
    SpanKind.SERVER: "Server",
    SpanKind.CLIENT: "Client",
    SpanKind.PRODUCER: "Producer",
    SpanKind.CONSUMER: "Consumer",
}
# StatusCode values -> the exporter's spelling.
STATUS_NAMES = {0: "Unset", 1: "Ok", 2: "Error"}


def plain_attributes(attributes: Mapping[str, object] | None) -> dict[str, AttrValue]:
    """A plain dict copy of span attributes (taken in one call from the SDK's locked mapping)."""
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
        status_code=STATUS_NAMES.get(span.status.status_code.value, "Unset"),
        status_message=span.status.description or "",
        attributes=plain_attributes(span.attributes),
        resource=plain_attributes(span.resource.attributes),
        scope_name=span.instrumentation_scope.name if span.instrumentation_scope else "",
        links=tuple(
            (format_trace_id(link.context.trace_id), format_span_id(link.context.span_id)) for link in span.links
        ),
    )

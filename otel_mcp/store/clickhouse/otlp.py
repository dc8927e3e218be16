"""SpanRecords as an OTLP/HTTP protobuf request, for the `otlp` write mode.

The SDK's own encoder does the work: each record becomes a `ReadableSpan` with its original ids,
times, status, links, resource and scope, so the collector receives what the SDK's exporter would
have sent for the same span, and writes the same row. The SDK is imported only when used.
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_mcp.model import SpanRecord

__all__ = ["encode_spans"]


def encode_spans(records: Sequence[SpanRecord]) -> bytes:
    """An OTLP/HTTP protobuf request body (`ExportTraceServiceRequest`) for these spans."""
    # Here, not at the top: the encoder is 0.1 s of import (python -X importtime, cumulative) a
    # server would otherwise pay at start-up, before its first answer, and `direct` writes never use.
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    kinds = {k.name.capitalize(): k for k in SpanKind}
    statuses = {"Ok": StatusCode.OK, "Error": StatusCode.ERROR, "Unset": StatusCode.UNSET}
    flags = TraceFlags(TraceFlags.SAMPLED)
    spans = []
    for r in records:
        context = SpanContext(int(r.trace_id, 16), int(r.span_id, 16), is_remote=False, trace_flags=flags)
        parent = (
            SpanContext(int(r.trace_id, 16), int(r.parent_span_id, 16), is_remote=True, trace_flags=flags)
            if r.parent_span_id
            else None
        )
        spans.append(
            ReadableSpan(
                name=r.name,
                context=context,
                parent=parent,
                resource=Resource(dict(r.resource)),
                attributes=dict(r.attributes),
                links=[
                    Link(SpanContext(int(t, 16), int(s, 16), is_remote=True, trace_flags=flags)) for t, s in r.links
                ],
                kind=kinds.get(r.kind, SpanKind.INTERNAL),
                # A description is only meaningful (and only accepted quietly) on an error status.
                status=Status(StatusCode.ERROR, r.status_message or None)
                if r.status_code == "Error"
                else Status(statuses.get(r.status_code, StatusCode.UNSET)),
                start_time=r.start_ns,
                end_time=r.end_ns,
                instrumentation_scope=InstrumentationScope(r.scope_name or "otel_mcp"),
            )
        )
    return bytes(encode(spans).SerializeToString())

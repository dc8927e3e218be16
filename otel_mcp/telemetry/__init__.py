"""The OpenTelemetry side: a real TracerProvider whose spans land in the shared store.

`Telemetry` holds the provider and the `SpanWriter` every core service records through;
evidence is stored synchronously in `on_end` (never dropped), audit spans in batches, and every
span is mirrored over OTLP when the standard variables ask for it. `attestation` signs the spans
whose content must be provable.
"""

from __future__ import annotations

from otel_mcp.telemetry._context import (
    acting_for,
    context_for,
    current_span_link_target,
    deferred_store_export,
    joining_caller_trace,
)
from otel_mcp.telemetry._convert import to_record
from otel_mcp.telemetry._processor import StoreSpanExporter
from otel_mcp.telemetry._provider import Telemetry
from otel_mcp.telemetry.spans import SpanRef, SpanWriter, ref

__all__ = [
    "SpanRef",
    "SpanWriter",
    "StoreSpanExporter",
    "Telemetry",
    "acting_for",
    "context_for",
    "current_span_link_target",
    "deferred_store_export",
    "joining_caller_trace",
    "ref",
    "to_record",
]

"""The span processor in front of the store: evidence written before `end()` returns, audit batched.

Evidence must never be dropped, so it is exported synchronously in `on_end` and a failed write
propagates to the tool call (the SDK's own SimpleSpanProcessor logs and swallows errors).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_mcp.model import ATTR_AGENT_ID, ATTR_SOURCE, SpanRecord
from otel_mcp.store.base import Store
from otel_mcp.telemetry._context import caller, deferred_records, remember_record
from otel_mcp.telemetry._convert import to_record

__all__ = ["ATTR_AUDIT_DROPPED", "AUDIT_BATCH", "AUDIT_KEEP", "AuditBuffer", "EvidenceProcessor", "StoreSpanExporter"]

log = logging.getLogger("otel_mcp.telemetry")

# Audit spans buffered before a write is forced, whatever the timer says.
AUDIT_BATCH = 256
# Audit spans kept in memory while the store cannot take them (a few MB at most).
AUDIT_KEEP = 4096
# On the first audit span stored after others had to be dropped: how many.
ATTR_AUDIT_DROPPED = "otel_mcp.audit.dropped"


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


class AuditBuffer:
    """Audit spans wait here and are written in batches, off the answers' path.

    One audit span per tool call is not evidence; giving each its own commit would add a
    transaction to every answer. They are written shortly after the call (the server schedules a
    flush on its event loop), when a read needs them, when 256 are waiting, and at shutdown. A
    background thread was tried and measured slower: it contends for the GIL just when the next
    request arrives.

    A batch the store cannot take (a full disk) is kept and tried again with the next flush, up to
    `limit` spans; beyond that the oldest are dropped and counted, and the count is written on the
    next audit span that is stored (`otel_mcp.audit.dropped`), so the trail says where it has a gap.
    """

    def __init__(self, limit: int = AUDIT_KEEP) -> None:
        # Ended SDK spans, converted to records only when written: the conversion is then off the answer's path too.
        self._pending: list[ReadableSpan] = []
        self._kept: list[SpanRecord] = []  # converted, waiting since a failed write
        self._dropped = 0
        self.limit = limit
        self._lock = threading.Lock()

    def put(self, span: ReadableSpan) -> None:
        with self._lock:
            self._pending.append(span)

    def drain(self) -> tuple[list[SpanRecord], int]:
        """Everything waiting, oldest first, and how many spans were dropped since the last stored batch."""
        with self._lock:
            pending, self._pending = self._pending, []
            kept, self._kept = self._kept, []
            dropped, self._dropped = self._dropped, 0
        return kept + [to_record(span) for span in pending], dropped

    def keep(self, records: list[SpanRecord], dropped: int) -> None:
        """Put back a batch that could not be written (and its drop count), dropping the oldest beyond `limit`."""
        with self._lock:
            self._kept = records + self._kept
            self._dropped += dropped
            excess = len(self._kept) + len(self._pending) - self.limit
            if excess > 0:
                cut = min(excess, len(self._kept))
                del self._kept[:cut]
                self._dropped += cut

    @property
    def new(self) -> int:
        """Spans put since the last flush (what the batch size counts)."""
        return len(self._pending)

    def __len__(self) -> int:
        return len(self._pending) + len(self._kept)


def _with_dropped(record: SpanRecord, dropped: int) -> SpanRecord:
    return replace(record, attributes={**record.attributes, ATTR_AUDIT_DROPPED: dropped})


class EvidenceProcessor(SpanProcessor):
    """Stamps the agent identity on every span and stores it before `end()` returns.

    Audit spans (one per tool call, `otel_mcp.source=audit`) are buffered instead, see AuditBuffer.
    """

    def __init__(self, exporter: StoreSpanExporter, identity: Mapping[str, str], audit: AuditBuffer) -> None:
        self._exporter = exporter
        self._identity = dict(identity)
        self._audit = audit
        self._failing = False  # log a failing store once, and its recovery once

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # On the span as well as the resource: the flat `agent_id` column and ClickHouse's
        # SpanAttributes map then need no join with resource attributes.
        who = caller()
        span.set_attributes({ATTR_AGENT_ID: who} if who else self._identity)

    def on_end(self, span: ReadableSpan) -> None:
        deferred = deferred_records()
        if deferred is None and (span.attributes or {}).get(ATTR_SOURCE) == "audit":
            self._audit.put(span)
            if self._audit.new >= AUDIT_BATCH:
                self.flush_audit()
            return
        record = to_record(span)
        remember_record(record)
        if deferred is not None:
            deferred.append(record)
            return
        self._exporter.export_records([record])  # raises on failure: the caller must know evidence was not kept

    def flush_audit(self) -> None:
        records, dropped = self._audit.drain()
        if not records:
            if dropped:
                self._audit.keep([], dropped)  # nothing to carry the count yet
            return
        batch = [_with_dropped(records[0], dropped), *records[1:]] if dropped else records
        try:
            self._exporter.export_records(batch)
        except Exception as exc:
            self._audit.keep(records, dropped)
            if not self._failing:
                self._failing = True
                log.warning(
                    "could not store %d audit spans, kept in memory (up to %d) until a write succeeds: %s",
                    len(records),
                    self._audit.limit,
                    exc,
                )
            return
        if self._failing:
            self._failing = False
            log.warning("stored %d audit spans that waited for the store; %d were dropped", len(records), dropped)

    def shutdown(self) -> None:
        self.flush_audit()
        if len(self._audit):
            log.warning("%d audit spans could not be stored before shutdown", len(self._audit))

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.flush_audit()
        return self._exporter.force_flush(timeout_millis)

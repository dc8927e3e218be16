"""Chain checks at decision time: evidence from a writer whose chain shows a deleted or replaced row is refused.

The signature proves a span unaltered; its writer's chain (otel_mcp/telemetry/chain.py) shows
whether rows around it were deleted: every sequence number from 1 to the writer's highest must be
there, and the span's `prev` must be its predecessor's signature. Two store queries per writer
(spans of one decision usually share one), whatever the chain's length.
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_mcp.model import ATTR_CHAIN_PREV, ATTR_CHAIN_SEQ, ATTR_CHAIN_WRITER, SpanRecord
from otel_mcp.store.base import Store

__all__ = ["chain_problems"]


def _seq(span: SpanRecord) -> int | None:
    try:
        return int(span.attributes.get(ATTR_CHAIN_SEQ))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def chain_problems(store: Store, spans: Iterable[SpanRecord]) -> dict[str, str]:
    """span id -> why the span's chain shows tampering, for each span whose chain is broken."""
    by_writer: dict[str, list[tuple[SpanRecord, int]]] = {}
    for span in spans:
        writer, seq = span.attributes.get(ATTR_CHAIN_WRITER), _seq(span)
        if isinstance(writer, str) and writer and seq is not None and seq > 0:
            by_writer.setdefault(writer, []).append((span, seq))
    problems: dict[str, str] = {}
    for writer, items in by_writer.items():
        count, highest = store.chain_summary(writer)
        links = store.chain_links(writer, sorted({seq - 1 for _, seq in items if seq > 1}))
        for span, seq in items:
            if count != highest:
                problems[span.span_id] = (
                    f"span {span.span_id} comes from a writer whose chain of signed spans has {highest - count} of "
                    f"{highest} missing: rows were deleted from the store, so none of that writer's evidence is "
                    "trusted. An admin should run `otel-mcp audit`; produce new evidence meanwhile"
                )
            elif seq > 1 and links.get(seq - 1) != span.attributes.get(ATTR_CHAIN_PREV):
                problems[span.span_id] = (
                    f"span {span.span_id}'s predecessor in its writer's chain is missing or replaced: the store "
                    "was altered. An admin should run `otel-mcp audit`; produce new evidence meanwhile"
                )
    return problems

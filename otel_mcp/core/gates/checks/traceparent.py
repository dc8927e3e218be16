"""The W3C `traceparent` a nested run hangs its span under (as in the TRACEPARENT variable).

Its own module so that `otel-mcp run` can read it without loading the check runner.
"""

from __future__ import annotations

import re

from otel_mcp.telemetry import SpanRef

__all__ = ["parse_traceparent"]

_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def parse_traceparent(value: str | None) -> SpanRef | None:
    """W3C `traceparent` text (as in the TRACEPARENT variable) -> (trace_id, span_id), or None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2)

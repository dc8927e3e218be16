"""Time as agents write it and read it: record timestamps as text, ages ('24h') and instants (ISO-8601)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from otel_mcp.errors import InvalidArgument, excerpt

__all__ = ["MAX_DURATION_S", "MAX_TIME_TEXT", "format_time", "parse_duration", "parse_since"]


def format_time(ns: int) -> str:
    """UTC timestamp text that sorts correctly and reads the same on both backends."""
    # isoformat without its "+00:00": the same text as strftime("%Y-%m-%d %H:%M:%S.%f"), in a third of the time.
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(" ", "microseconds")[:26]


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d|w)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer ago than any record could be: past this a duration is a mistake, and its nanoseconds
# would not fit the 64-bit timestamps both stores keep.
MAX_DURATION_S: Final = 100 * 365 * 86400
MAX_TIME_TEXT: Final = 64  # the longest ISO-8601 instant with nanoseconds and an offset is ~40


def parse_duration(text: str, what: str = "duration") -> float:
    """'90s', '15m', '24h', '7d' -> seconds (at most 100 years)."""
    m = _RELATIVE.fullmatch(text.strip()) if len(text) <= MAX_TIME_TEXT else None
    if not m:
        raise InvalidArgument(f"{what} {excerpt(text)} is not understood; write e.g. '90s', '15m', '24h' or '7d'")
    seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if not seconds <= MAX_DURATION_S:  # also catches inf: float('9' * 400) overflows to it
        raise InvalidArgument(f"{what} {excerpt(text)} is more than 100 years; write e.g. '24h', '7d' or '52w'")
    return seconds


def parse_since(text: str, now_ns: int, what: str = "since") -> int:
    """A relative age ('2h') or an ISO-8601 instant -> nanoseconds since the epoch."""
    hint = "write a relative age ('30m', '24h', '7d') or an ISO-8601 time ('2026-11-24T10:00:00Z')"
    if not isinstance(text, str) or len(text) > MAX_TIME_TEXT:
        size = f"is {len(text):,} characters" if isinstance(text, str) else f"is a {type(text).__name__}"
        raise InvalidArgument(f"{what} {size}; {hint}")
    if _RELATIVE.fullmatch(text.strip()):
        return max(0, now_ns - int(parse_duration(text, what) * 1e9))
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp()
    except (ValueError, OverflowError):
        raise InvalidArgument(f"{what} {excerpt(text)} is not understood; {hint}") from None
    # Nanoseconds since 1970 overflow int64 in 2262: clamp rather than fail on far dates.
    return max(0, min(int(seconds * 1e9), 2**63 - 1))

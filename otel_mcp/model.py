"""The data model: a span as the store keeps it, and the rules for ids and attributes.

A task record *is* a span. The store keeps OpenTelemetry spans in a flat shape that both
backends share (SQLite here, the collector's `otel_traces` layout in ClickHouse): hex ids,
nanosecond timestamps, a string-keyed attribute map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from otel_mcp.errors import InvalidArgument, excerpt

__all__ = [
    "ATTR_AGENT_ID",
    "ATTR_AGENT_NAME",
    "ATTR_ATTESTATION",
    "ATTR_BRANCH",
    "ATTR_CHAIN_PREV",
    "ATTR_CHAIN_SEQ",
    "ATTR_CHAIN_WRITER",
    "ATTR_COMMITS",
    "ATTR_DEPENDS_ON",
    "ATTR_KEY_PATTERN",
    "ATTR_PARENT_ID",
    "ATTR_QUALITY",
    "ATTR_SOURCE",
    "ATTR_SUMMARY",
    "ATTR_TASK_ID",
    "ATTR_TASK_STATUS",
    "ATTR_TASK_TYPE",
    "MAX_ATTRS",
    "MAX_ATTR_KEY",
    "MAX_DURATION_S",
    "MAX_LIST_ITEMS",
    "MAX_STRING_VALUE",
    "MAX_TASK_ID",
    "MAX_TIME_TEXT",
    "RESERVED_PREFIX",
    "SOURCES",
    "TASK_STATUSES",
    "AttrValue",
    "SpanRecord",
    "check_attributes",
    "check_span_id",
    "check_task_id",
    "check_trace_id",
    "format_time",
    "parse_duration",
    "parse_since",
]

ATTR_TASK_ID: Final = "task.id"
ATTR_TASK_TYPE: Final = "task.type"
ATTR_TASK_STATUS: Final = "task.status"
ATTR_PARENT_ID: Final = "task.parent_id"
ATTR_DEPENDS_ON: Final = "task.depends_on"
ATTR_SUMMARY: Final = "task.summary"
ATTR_COMMITS: Final = "task.commits"  # the commit(s) a task produced (record_task's commits)
ATTR_BRANCH: Final = "vcs.ref.head.name"  # OpenTelemetry's VCS convention: the branch it is on
ATTR_QUALITY: Final = "quality.score"
ATTR_AGENT_ID: Final = "gen_ai.agent.id"
ATTR_AGENT_NAME: Final = "gen_ai.agent.name"
ATTR_SOURCE: Final = "otel_mcp.source"
ATTR_ATTESTATION: Final = "otel_mcp.attestation"
# Each signed span's place in its writer's hash chain (see otel_mcp/telemetry/chain.py).
ATTR_CHAIN_WRITER: Final = "otel_mcp.chain.writer"
ATTR_CHAIN_SEQ: Final = "otel_mcp.chain.seq"
ATTR_CHAIN_PREV: Final = "otel_mcp.chain.prev"
RESERVED_PREFIX: Final = "otel_mcp."

TASK_STATUSES: Final = ("planned", "started", "complete", "failed", "blocked")
SOURCES: Final = ("agent", "runner", "gate", "external")

# Attributes the server sets from arguments or configuration; an agent may not smuggle them in.
_ARGUMENT_ATTRIBUTES: Final = {
    ATTR_TASK_ID: "task_id",
    ATTR_TASK_TYPE: "task_type",
    ATTR_TASK_STATUS: "status",
    ATTR_PARENT_ID: "parent_task_id",
    ATTR_DEPENDS_ON: "depends_on",
    ATTR_SUMMARY: "summary",
    ATTR_COMMITS: "commits",
    ATTR_BRANCH: "branch",
    ATTR_AGENT_ID: "OTEL_MCP_AGENT_ID (server configuration)",
    ATTR_AGENT_NAME: "server configuration",
}

AttrValue = str | bool | int | float | tuple[str, ...] | tuple[bool, ...] | tuple[int, ...] | tuple[float, ...]

_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
# Task ids are path-like names agents choose (`auth/refactor-login`); no spaces or control characters.
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@#+=-]*")
ATTR_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")

MAX_TASK_ID = 200
MAX_ATTR_KEY = 128
MAX_ATTRS = 64
MAX_STRING_VALUE = 4096
MAX_LIST_ITEMS = 100


def check_span_id(value: object, what: str = "span_id") -> str:
    """Return a valid span id or raise with a message a model can act on."""
    if not isinstance(value, str) or not _SPAN_ID.fullmatch(value):
        raise InvalidArgument(
            f"{what} must be 16 lowercase hex characters, exactly as a tool returned it "
            f"(e.g. '00f067aa0ba902b7'); got {excerpt(value)}"
        )
    if value == "0" * 16:
        raise InvalidArgument(f"{what} '0000000000000000' is the invalid span id; cite a span a tool returned")
    return value


def check_trace_id(value: object, what: str = "trace_id") -> str:
    if not isinstance(value, str) or not _TRACE_ID.fullmatch(value) or value == "0" * 32:
        raise InvalidArgument(
            f"{what} must be 32 lowercase hex characters, exactly as a tool returned it; got {excerpt(value)}"
        )
    return value


def check_task_id(value: object, what: str = "task_id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be a non-empty string such as 'auth/refactor-login'")
    if len(value) > MAX_TASK_ID:
        raise InvalidArgument(f"{what} is {len(value)} characters; the limit is {MAX_TASK_ID}")
    if not _TASK_ID.fullmatch(value):
        raise InvalidArgument(
            f"{what} {excerpt(value)} has characters that are not allowed; use letters, digits and "
            "_ . : / @ # + = - (no spaces), starting with a letter or digit"
        )
    return value


def _check_scalar(key: str, value: object) -> str | bool | int | float:
    if isinstance(value, bool | int):
        if not isinstance(value, bool) and abs(value) >= 2**63:
            raise InvalidArgument(f"attribute {key!r}: integer {value} does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"attribute {key!r}: {value} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE:
            raise InvalidArgument(
                f"attribute {key!r} is {len(value)} characters; the limit is {MAX_STRING_VALUE} "
                "(record a digest or a path instead of the whole text)"
            )
        return value
    raise InvalidArgument(
        f"attribute {key!r} must be a string, number, boolean or a flat list of one of those; "
        f"got {type(value).__name__} (flatten nested objects into dotted keys like 'tests.failed')"
    )


def check_attributes(attributes: Mapping[str, Any] | None, *, allow_reserved: bool = False) -> dict[str, AttrValue]:
    """Validate agent-supplied attributes into OpenTelemetry attribute values.

    OTel allows scalars and homogeneous lists of scalars only; nested objects would be silently
    stringified by exporters, so they are refused here instead.
    """
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise InvalidArgument("attributes must be an object mapping names to values")
    if len(attributes) > MAX_ATTRS:
        raise InvalidArgument(f"{len(attributes)} attributes given; the limit is {MAX_ATTRS}")
    out: dict[str, AttrValue] = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not key or len(key) > MAX_ATTR_KEY or not ATTR_KEY_PATTERN.fullmatch(key):
            raise InvalidArgument(
                f"attribute name {excerpt(key)} is not allowed; use dotted names of letters, digits, "
                f"'_', '-', '/' (e.g. 'vulnerabilities.critical'), at most {MAX_ATTR_KEY} characters"
            )
        if not allow_reserved:
            if key.startswith(RESERVED_PREFIX):
                raise InvalidArgument(
                    f"attribute {key!r} is reserved: 'otel_mcp.*' attributes are set by the server "
                    "(provenance, attestation), never by an agent"
                )
            if key in _ARGUMENT_ATTRIBUTES:
                raise InvalidArgument(
                    f"attribute {key!r} is set by the server from {_ARGUMENT_ATTRIBUTES[key]}; pass it there instead"
                )
        if key == ATTR_QUALITY and not (isinstance(value, int | float) and not isinstance(value, bool)):
            raise InvalidArgument(f"attribute 'quality.score' must be a number between 0 and 1; got {excerpt(value)}")
        if key == ATTR_QUALITY and not 0 <= float(value) <= 1:
            raise InvalidArgument(f"attribute 'quality.score' must be between 0 and 1; got {value}")
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST_ITEMS:
                raise InvalidArgument(f"attribute {key!r} has {len(value)} items; the limit is {MAX_LIST_ITEMS}")
            items = tuple(_check_scalar(key, v) for v in value)
            kinds = {bool if isinstance(v, bool) else float if isinstance(v, int | float) else str for v in items}
            if len(kinds) > 1:
                raise InvalidArgument(f"attribute {key!r}: list items must all be of one type (OpenTelemetry rule)")
            out[key] = items  # type: ignore[assignment]
        else:
            out[key] = _check_scalar(key, value)
    return out


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


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span, as every store backend returns it."""

    span_id: str
    trace_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    kind: str = "Internal"
    status_code: str = "Unset"  # the exporter's spelling: Unset | Ok | Error
    status_message: str = ""
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    resource: Mapping[str, AttrValue] = field(default_factory=dict)
    scope_name: str = ""
    links: Sequence[tuple[str, str]] = ()  # (trace_id, span_id)

    def _attr_str(self, key: str) -> str | None:
        value = self.attributes.get(key)
        return None if value is None else str(value)

    @property
    def task_id(self) -> str | None:
        return self._attr_str(ATTR_TASK_ID)

    @property
    def task_type(self) -> str | None:
        return self._attr_str(ATTR_TASK_TYPE)

    @property
    def task_status(self) -> str | None:
        return self._attr_str(ATTR_TASK_STATUS)

    @property
    def task_parent_id(self) -> str | None:
        return self._attr_str(ATTR_PARENT_ID)

    @property
    def agent_id(self) -> str | None:
        value = self.attributes.get(ATTR_AGENT_ID, self.resource.get(ATTR_AGENT_ID))
        return None if value is None else str(value)

    @property
    def source(self) -> str:
        # Spans that did not come through this server (CI, tools, other SDKs) are external evidence.
        return self._attr_str(ATTR_SOURCE) or "external"

    @property
    def quality_score(self) -> float | None:
        value = self.attributes.get(ATTR_QUALITY)
        try:
            return None if value is None or isinstance(value, tuple) else float(value)
        except ValueError:
            return None

    @property
    def depends_on(self) -> tuple[str, ...]:
        value = self.attributes.get(ATTR_DEPENDS_ON)
        if value is None:
            return ()
        if isinstance(value, tuple):
            return tuple(str(v) for v in value)
        # ClickHouse keeps attributes as strings: a list arrives as its JSON text.
        text = str(value)
        if text.startswith("["):
            import json

            try:
                return tuple(str(v) for v in json.loads(text))
            except ValueError:
                pass
        return tuple(t for t in (s.strip() for s in text.split(",")) if t)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def start_time(self) -> str:
        return format_time(self.start_ns)

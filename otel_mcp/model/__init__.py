"""The data model: a span as the store keeps it, and the rules for ids and attributes.

A task record *is* a span. The store keeps OpenTelemetry spans in a flat shape that both
backends share (SQLite here, the collector's `otel_traces` layout in ClickHouse): hex ids,
nanosecond timestamps, a string-keyed attribute map.

The rules live in private modules by concept (`_names`, `_ids`, `_attributes`, `_time`, `_span`);
this module is their one public front.
"""

from __future__ import annotations

from otel_mcp.model._attributes import (
    ATTR_KEY_PATTERN,
    MAX_ATTR_KEY,
    MAX_ATTRS,
    MAX_LIST_ITEMS,
    MAX_STRING_VALUE,
    check_attributes,
)
from otel_mcp.model._ids import MAX_TASK_ID, check_span_id, check_task_id, check_trace_id
from otel_mcp.model._names import (
    ATTR_AGENT_ID,
    ATTR_AGENT_NAME,
    ATTR_ATTESTATION,
    ATTR_BRANCH,
    ATTR_CHAIN_PREV,
    ATTR_CHAIN_SEQ,
    ATTR_CHAIN_WRITER,
    ATTR_COMMITS,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_QUALITY,
    ATTR_SOURCE,
    ATTR_SUMMARY,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    RESERVED_PREFIX,
    SOURCES,
    TASK_STATUSES,
    AttrValue,
)
from otel_mcp.model._span import SpanRecord
from otel_mcp.model._time import MAX_DURATION_S, MAX_TIME_TEXT, format_time, parse_duration, parse_since

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

"""A span as a `span_store` row and back: the column order, JSON for maps and links, and decoding.

Attribute lists are stored as JSON arrays and come back as tuples (SpanRecord's attribute values are
immutable). Resources repeat on nearly every row, so both directions remember the last few.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from otel_mcp.model import SpanRecord, format_time

__all__ = ["INSERT_SQL", "SELECT_SQL", "dumps", "record_from_row", "record_to_row"]

_COLUMNS = (
    "span_id, trace_id, parent_span_id, name, kind, agent_id, task_id, task_type, task_status, task_parent_id, "
    "quality_score, source, status_code, status_message, start_ns, end_ns, start_time, end_time, attributes, "
    "resource, scope_name, links"
)
# Writes `record_to_row(record)`; a span id already stored is skipped, so a re-sent span is harmless.
INSERT_SQL = f"INSERT OR IGNORE INTO span_store ({_COLUMNS}) VALUES ({', '.join('?' * 22)})"
# Reads the columns `record_from_row` decodes, in its order; `seq` (index 13) is the insertion order.
SELECT_SQL = (
    "SELECT span_id, trace_id, parent_span_id, name, kind, start_ns, end_ns, status_code, status_message, "
    "attributes, resource, scope_name, links, seq FROM span_store"
)


def dumps(value: Any) -> str:
    """Compact JSON, as stored and as bound to `json_each(?)`; tuples and sets become arrays."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=list)


def _json_lists(mapping: Mapping[str, Any]) -> str:
    # json writes tuples as arrays already; only a read-only mapping (a resource read back) needs a copy.
    return dumps(mapping if type(mapping) is dict else dict(mapping))


# A process writes one resource on nearly every span: dump it once, not per row.
_last_resource: tuple[dict[str, Any], str] = ({}, "{}")


def _resource_json(resource: Mapping[str, Any]) -> str:
    global _last_resource
    known, text = _last_resource
    if resource != known:
        text = _json_lists(resource)
        _last_resource = (dict(resource), text)
    return text


def record_to_row(record: SpanRecord) -> tuple[Any, ...]:
    """The values `INSERT_SQL` binds for one span."""
    start_time = format_time(record.start_ns)
    return (
        record.span_id,
        record.trace_id,
        record.parent_span_id,
        record.name,
        record.kind,
        record.agent_id,
        record.task_id,
        record.task_type,
        record.task_status,
        record.task_parent_id,
        record.quality_score,
        record.source,
        record.status_code,
        record.status_message,
        record.start_ns,
        record.end_ns,
        start_time,
        start_time if record.end_ns == record.start_ns else format_time(record.end_ns),
        _json_lists(record.attributes),
        _resource_json(record.resource),
        record.scope_name,
        dumps([list(link) for link in record.links]) if record.links else "[]",
    )


def _tuples(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in mapping.items()}


# Rows of one store share a handful of resources: decode each text once, shared read-only.
_resources_read: dict[str, Mapping[str, Any]] = {}


def _resource(text: str) -> Mapping[str, Any]:
    known = _resources_read.get(text)
    if known is None:
        if len(_resources_read) >= 256:
            _resources_read.clear()
        known = _resources_read[text] = MappingProxyType(_tuples(json.loads(text)))
    return known


def record_from_row(row: sqlite3.Row | tuple[Any, ...]) -> SpanRecord:
    """The span a `SELECT_SQL` row holds."""
    return SpanRecord(
        span_id=row[0],
        trace_id=row[1],
        parent_span_id=row[2],
        name=row[3],
        kind=row[4],
        start_ns=row[5],
        end_ns=row[6],
        status_code=row[7],
        status_message=row[8],
        attributes=_tuples(json.loads(row[9])),
        resource=_resource(row[10]),
        scope_name=row[11],
        links=tuple((t, s) for t, s in json.loads(row[12])),
    )

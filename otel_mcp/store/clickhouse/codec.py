"""SpanRecord <-> the exporter's row, and attribute values <-> the text its maps hold.

Attribute maps are `Map(String, String)`: values are written as text (numbers as text, booleans
`true`/`false`, lists as compact JSON) and read back as numbers, booleans and tuples only where
the text is exactly what that value would have been written as, so text such as '007' stays text.
A record also has a JSON form, for the spool and for ordering differing copies of one span.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

from otel_mcp.model import (
    ATTR_AGENT_ID,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    AttrValue,
    SpanRecord,
)

__all__ = [
    "RECORD_COLUMNS",
    "attr_from_text",
    "attr_to_text",
    "record_from_json",
    "record_from_row",
    "record_to_json",
    "record_to_row",
]

# Reading a row back into a SpanRecord: the nanosecond start comes out as an integer (a DateTime64
# read as a Python datetime would lose the last three digits, and with them attestation).
RECORD_COLUMNS: Final = (
    "toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, SpanName, SpanKind, Duration, StatusCode, "
    "StatusMessage, SpanAttributes, ResourceAttributes, ScopeName, `Links.TraceId`, `Links.SpanId`"
)
_STRING_KEYS: Final = frozenset(
    {ATTR_TASK_ID, ATTR_TASK_TYPE, ATTR_TASK_STATUS, ATTR_PARENT_ID, ATTR_AGENT_ID, ATTR_SOURCE, "service.name"}
)


def attr_to_text(value: Any) -> str:
    """One attribute value as the exporter stores it: text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return json.dumps(
            [v if isinstance(v, str | bool | int | float) else str(v) for v in value], separators=(",", ":")
        )
    return str(value)


def _scalar_from_text(text: str) -> str | bool | int | float:
    if text in ("true", "false"):
        return text == "true"
    if not text or not (text[0].isdigit() or (text[0] == "-" and len(text) > 1)):
        return text
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if str(number) == text and abs(number) < 2**63 else text
    try:
        real = float(text)
    except ValueError:
        return text
    return real if math.isfinite(real) and repr(real) == text else text


def attr_from_text(key: str, text: str) -> AttrValue:
    """Text from the map -> the value it was written as, when the text is exactly that value's spelling."""
    if key in _STRING_KEYS:
        # Identifiers and provenance are text by definition; a task called '7' must stay '7'.
        return text
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except ValueError:
            return text
        scalars = isinstance(items, list) and all(isinstance(v, str | bool | int | float) for v in items)
        if scalars and attr_to_text(items) == text:
            return tuple(items)
        return text
    return _scalar_from_text(text)


def _attrs_from_map(mapping: Mapping[str, str] | None) -> dict[str, AttrValue]:
    return {k: attr_from_text(k, v) for k, v in (mapping or {}).items()}


def _status(code: str) -> str:
    # Exporter versions have written both 'Ok' and 'STATUS_CODE_OK'.
    lowered = code.lower().removeprefix("status_code_")
    return {"ok": "Ok", "error": "Error"}.get(lowered, "Unset")


def _kind(kind: str) -> str:
    lowered = kind.lower().removeprefix("span_kind_")
    return lowered.capitalize() if lowered in ("server", "client", "producer", "consumer", "internal") else "Internal"


def record_to_row(record: SpanRecord) -> list[Any]:
    """A span as the collector's exporter writes it, in TRACES_INSERT_COLUMNS order."""
    resource = {k: attr_to_text(v) for k, v in record.resource.items()}
    return [
        record.start_ns,  # DateTime64(9) from integer nanoseconds: exact, no microsecond rounding
        record.trace_id,
        record.span_id,
        record.parent_span_id or "",
        "",
        record.name,
        record.kind,
        resource.get("service.name", ""),
        resource,
        record.scope_name,
        "",
        {k: attr_to_text(v) for k, v in record.attributes.items()},
        max(record.end_ns - record.start_ns, 0),
        record.status_code,
        record.status_message,
        [],
        [],
        [],
        [t for t, _ in record.links],
        [s for _, s in record.links],
        ["" for _ in record.links],
        [{} for _ in record.links],
    ]


def record_from_row(row: Sequence[Any]) -> SpanRecord:
    """The span a row selected as RECORD_COLUMNS holds."""
    start_ns, trace_id, span_id, parent, name, kind, duration, status, message, attrs, resource, scope, lt, ls = row
    return SpanRecord(
        span_id=span_id,
        trace_id=trace_id,
        parent_span_id=parent or None,
        name=name,
        start_ns=int(start_ns),
        end_ns=int(start_ns) + int(duration),
        kind=_kind(kind),
        status_code=_status(status),
        status_message=message,
        attributes=_attrs_from_map(attrs),
        resource=_attrs_from_map(resource),
        scope_name=scope,
        links=tuple(zip(lt or (), ls or (), strict=False)),
    )


def record_to_json(record: SpanRecord) -> dict[str, Any]:
    """Every field of the span as JSON-ready values (tuples become lists)."""
    return {
        "span_id": record.span_id,
        "trace_id": record.trace_id,
        "parent_span_id": record.parent_span_id,
        "name": record.name,
        "start_ns": record.start_ns,
        "end_ns": record.end_ns,
        "kind": record.kind,
        "status_code": record.status_code,
        "status_message": record.status_message,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in record.attributes.items()},
        "resource": {k: list(v) if isinstance(v, tuple) else v for k, v in record.resource.items()},
        "scope_name": record.scope_name,
        "links": [list(link) for link in record.links],
    }


def record_from_json(data: Mapping[str, Any]) -> SpanRecord:
    """The span `record_to_json` described."""

    def values(mapping: Mapping[str, Any]) -> dict[str, AttrValue]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in mapping.items()}

    return SpanRecord(
        span_id=data["span_id"],
        trace_id=data["trace_id"],
        parent_span_id=data["parent_span_id"],
        name=data["name"],
        start_ns=data["start_ns"],
        end_ns=data["end_ns"],
        kind=data["kind"],
        status_code=data["status_code"],
        status_message=data["status_message"],
        attributes=values(data["attributes"]),
        resource=values(data["resource"]),
        scope_name=data["scope_name"],
        links=tuple((t, s) for t, s in data["links"]),
    )

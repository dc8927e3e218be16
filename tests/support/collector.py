"""A stand-in for the collector's ClickHouse exporter: OTLP spans in, `otel_traces` rows out.

Plug `ExporterSink(...)` into `OtlpHttpReceiver(on_spans=...)` and spans that any OTLP SDK sends
(a CI job, another tool) land in ClickHouse the way `exporter/clickhouseexporter` maps them:
hex ids, start `Timestamp`, `Duration` in nanoseconds, `SpanKind`/`StatusCode` as words, every
attribute value stringified as the collector's `pcommon.Value.AsString()` does (integers as
digits, doubles in Go's shortest form, booleans `true`/`false`, arrays and maps as JSON).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from otel_mcp.store.clickhouse.schema import TRACES_INSERT_COLUMNS
from tests.support.otlp_receiver import ReceivedSpan

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["ExporterSink", "exporter_row", "go_string"]

_KINDS = {0: "Unspecified", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
_STATUSES = {0: "Unset", 1: "Ok", 2: "Error"}


def _go_float(value: float) -> str:
    # strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent.
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        return format(value, "f").rstrip("0").rstrip(".")
    return text


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def go_string(value: Any) -> str:
    """An OTLP attribute value as the collector's exporter writes it into a Map(String, String)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, tuple | list | dict):
        return json.dumps(_json_value(value), separators=(",", ":"), ensure_ascii=False)
    return "" if value is None else str(value)


def _strings(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {k: go_string(v) for k, v in mapping.items()}


def exporter_row(span: ReceivedSpan) -> list[Any]:
    """One received span as an `otel_traces` row, in TRACES_INSERT_COLUMNS order."""
    resource = _strings(span.resource)
    return [
        span.start_ns,
        span.trace_id,
        span.span_id,
        span.parent_span_id or "",
        "",
        span.name,
        _KINDS.get(span.kind, "Unspecified"),
        resource.get("service.name", ""),
        resource,
        span.scope_name,
        "",
        _strings(span.attributes),
        max(span.end_ns - span.start_ns, 0),
        _STATUSES.get(span.status_code, "Unset"),
        span.status_message,
        [t for _, t, _ in span.events],
        [n for n, _, _ in span.events],
        [_strings(a) for _, _, a in span.events],
        [t for t, _ in span.links],
        [s for _, s in span.links],
        ["" for _ in span.links],
        [{} for _ in span.links],
    ]


class ExporterSink:
    """`on_spans` callback: insert what the receiver got into `database.table`, exporter-style."""

    def __init__(self, client: Client, database: str, table: str = "otel_traces") -> None:
        self.client = client
        self.database = database
        self.table = table
        self.inserted = 0
        self._lock = threading.Lock()

    def __call__(self, spans: list[ReceivedSpan]) -> None:
        if not spans:
            return
        with self._lock:
            self.client.insert(
                self.table,
                [exporter_row(s) for s in spans],
                database=self.database,
                column_names=list(TRACES_INSERT_COLUMNS),
            )
            self.inserted += len(spans)

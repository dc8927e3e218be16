"""DDL for the ClickHouse traces table in the OpenTelemetry Collector exporter's layout.

The layout mirrors the `otel_traces` table that `exporter/clickhouseexporter` in
open-telemetry/opentelemetry-collector-contrib creates (its `internal/sqltemplates/traces_table.sql`,
map-column variant, plus the `<table>_trace_id_ts` lookup table and its materialized view). Mirroring
it means otel-mcp reads what a stock collector writes, and a table otel-mcp creates itself (direct
write mode, tests) is one the collector can keep writing into. The statements here are written for
otel-mcp, not copied: if upstream changes its schema, compare column by column.

What the exporter writes into each column (checked against its span-to-row mapping):

- `Timestamp` is the span *start* time; `Duration` is end minus start in nanoseconds.
- `TraceId` / `SpanId` / `ParentSpanId` are lowercase hex (32 / 16 / 16 characters), empty for none.
- `SpanKind` and `StatusCode` are strings (`Server`, `Internal`, …; `Ok`, `Error`, `Unset`).
- Attribute maps hold every value as a string (numbers, booleans and arrays arrive stringified).
- `ServiceName` is copied out of the resource attribute `service.name`.

Identifiers are never user data: they come from configuration, are checked against a strict
pattern and are backquoted anyway. No engine is imported here. What otel-mcp adds beside these
tables (the agents' `spans` view, the task-status index) is in `views.py`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

__all__ = [
    "TRACES_COLUMNS",
    "TRACES_INSERT_COLUMNS",
    "check_identifier",
    "create_database_ddl",
    "quoted",
    "trace_id_ts_table_ddl",
    "trace_id_ts_view_ddl",
    "traces_table_ddl",
    "ttl_clause",
]

# Plain ClickHouse identifiers only: no quoting tricks, dots or spaces, and short enough to be a
# table name with the `_trace_id_ts_mv` suffix added.
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")

# (column, type) in table order, for readers that want to check a live table's shape. Nested
# columns appear as ClickHouse flattens them (`Events.Timestamp` is `Array(DateTime64(9))`).
TRACES_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("TraceState", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("ScopeVersion", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("Events.Timestamp", "Array(DateTime64(9))"),
    ("Events.Name", "Array(LowCardinality(String))"),
    ("Events.Attributes", "Array(Map(LowCardinality(String), String))"),
    ("Links.TraceId", "Array(String)"),
    ("Links.SpanId", "Array(String)"),
    ("Links.TraceState", "Array(String)"),
    ("Links.Attributes", "Array(Map(LowCardinality(String), String))"),
)

# The columns the exporter inserts, in its order (the two ALIAS columns are computed, never written).
TRACES_INSERT_COLUMNS: Final[tuple[str, ...]] = tuple(name for name, _ in TRACES_COLUMNS)


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return `name` if it is a plain ClickHouse identifier; raise ValueError naming `what` otherwise."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{what} {name!r} is not a plain identifier (letters, digits, underscore; not a digit first)")
    return name


def quoted(name: str, what: str) -> str:
    """`name` checked as an identifier (ValueError naming `what` if not), then backquoted.

    Backquoting after validation is belt and braces, and keeps keywords such as `default` usable.
    """
    return f"`{check_identifier(name, what)}`"


def ttl_clause(ttl: timedelta | None, time_expr: str) -> str:
    """A `TTL …` clause in the exporter's style (largest whole unit), or "" when there is no TTL.

    `time_expr` is one of the fixed expressions this module passes (never user input).
    """
    if ttl is None:
        return ""
    seconds = int(ttl.total_seconds())
    if seconds <= 0:
        return ""
    for unit, size in (("Day", 86400), ("Hour", 3600), ("Minute", 60)):
        if seconds % size == 0:
            return f"TTL {time_expr} + toInterval{unit}({seconds // size})"
    return f"TTL {time_expr} + toIntervalSecond({seconds})"


def create_database_ddl(database: str) -> str:
    """`CREATE DATABASE IF NOT EXISTS` for the exporter's database (default `otel`)."""
    return f"CREATE DATABASE IF NOT EXISTS {quoted(database, 'database')}"


def traces_table_ddl(database: str, table: str, *, ttl: timedelta | None = None) -> str:
    """`CREATE TABLE IF NOT EXISTS` for the spans table, in the collector exporter's current layout.

    `ttl` adds the exporter's `ttl` option (rows expire by span start time, whole parts dropped).
    """
    target = f"{quoted(database, 'database')}.{quoted(table, 'table')}"
    ttl_sql = ttl_clause(ttl, "toDateTime(Timestamp)")
    # Codecs, skip indexes, key and partitioning follow upstream so query plans behave the same:
    # day partitions, (service, span name, second) primary key, bloom filters on the trace id and
    # on attribute keys/values, minmax on duration, token bloom filter on the lowered span name.
    return f"""CREATE TABLE IF NOT EXISTS {target}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested
    (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested
    (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS
        arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS
        arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
{ttl_sql}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""


def trace_id_ts_table_ddl(database: str, table: str, *, ttl: timedelta | None = None) -> str:
    """The exporter's `<table>_trace_id_ts` lookup: first/last second a trace id was seen.

    Lets "all spans of trace X" prune partitions instead of scanning the service-ordered table.
    """
    lookup = quoted(f"{check_identifier(table, 'table')}_trace_id_ts", "table")
    ttl_sql = ttl_clause(ttl, "toDateTime(Start)")
    return f"""CREATE TABLE IF NOT EXISTS {quoted(database, "database")}.{lookup}
(
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
{ttl_sql}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""


def trace_id_ts_view_ddl(database: str, table: str) -> str:
    """The materialized view that keeps `<table>_trace_id_ts` filled from inserts into `<table>`."""
    db = quoted(database, "database")
    base = check_identifier(table, "table")
    return f"""CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quoted(base + "_trace_id_ts_mv", "table")}
TO {db}.{quoted(base + "_trace_id_ts", "table")}
AS SELECT
    TraceId,
    min(Timestamp) AS Start,
    max(Timestamp) AS End
FROM {db}.{quoted(base, "table")}
WHERE TraceId != ''
GROUP BY TraceId"""

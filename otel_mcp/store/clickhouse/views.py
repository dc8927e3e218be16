"""What otel-mcp adds beside the exporter's table: the agents' `spans` view and the task-status index.

Both only add objects next to the collector's `otel_traces`; neither changes it, so a stock
collector keeps writing as before. The `spans` view has the same flat columns on every backend (see
DESIGN.md). The task-status index is a narrow copy of every task-status record, kept filled by a
materialized view, so "the newest complete records of type X" reads a key range instead of whole
day partitions of attribute maps.
"""

from __future__ import annotations

from typing import Final

from otel_mcp.model import (
    ATTR_AGENT_ID,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
)
from otel_mcp.store.clickhouse.schema import check_identifier, quoted

__all__ = [
    "AGENT_SQL",
    "spans_view_ddl",
    "task_index_backfill_sql",
    "task_index_name",
    "task_index_table_ddl",
    "task_index_view_ddl",
]

# A span's agent: its own attribute, else its resource's (the SDK puts it on the resource).
AGENT_SQL: Final = (
    f"if(mapContains(SpanAttributes, '{ATTR_AGENT_ID}'), SpanAttributes['{ATTR_AGENT_ID}'], "
    f"ResourceAttributes['{ATTR_AGENT_ID}'])"
)
_STATUS_SQL: Final = (
    "multiIf(StatusCode IN ('Ok', 'STATUS_CODE_OK'), 'Ok', StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'Error', "
    "'Unset')"
)


def spans_view_ddl(database: str, table: str, view: str = "spans") -> str:
    """The read-only `spans` view with the flat columns every backend offers (see DESIGN.md)."""
    db = f"`{check_identifier(database, 'database')}`"
    src = f"{db}.`{check_identifier(table, 'table')}`"
    # Times as UTC text with microseconds, as the SQLite view has them, so string comparisons agree.
    return f"""CREATE VIEW IF NOT EXISTS {db}.`{check_identifier(view, "view")}` AS
SELECT
    SpanId AS span_id,
    TraceId AS trace_id,
    nullIf(ParentSpanId, '') AS parent_span_id,
    SpanName AS name,
    nullIf({AGENT_SQL}, '') AS agent_id,
    nullIf(SpanAttributes['{ATTR_TASK_ID}'], '') AS task_id,
    nullIf(SpanAttributes['{ATTR_TASK_TYPE}'], '') AS task_type,
    nullIf(SpanAttributes['{ATTR_TASK_STATUS}'], '') AS task_status,
    nullIf(SpanAttributes['{ATTR_PARENT_ID}'], '') AS task_parent_id,
    toFloat64OrNull(SpanAttributes['quality.score']) AS quality_score,
    if(SpanAttributes['{ATTR_SOURCE}'] = '', 'external', SpanAttributes['{ATTR_SOURCE}']) AS source,
    {_STATUS_SQL} AS status_code,
    formatDateTime(Timestamp, '%Y-%m-%d %H:%i:%S.%f', 'UTC') AS start_time,
    formatDateTime(fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)),
                   '%Y-%m-%d %H:%i:%S.%f', 'UTC') AS end_time,
    Duration / 1e6 AS duration_ms,
    toJSONString(SpanAttributes) AS attributes
FROM {src}"""


# -- otel-mcp's own index of task-status records ---------------------------------------------------
# The exporter's table is keyed by (service, span name, second): "the newest complete records of
# type X" has to read whole day partitions of the attribute map. Task-status records (spans with
# `task.status`, whoever wrote them, the collector included) are therefore also copied, by a
# materialized view, into a table keyed by (status, type, time) with the task fields as columns.
# It only adds objects next to the exporter's table; it never changes it. Small granules: a read
# wants the newest few rows of a key range, and each granule touched decodes its attribute maps.

_TASK_INDEX_COLUMNS: Final = """    TaskStatus LowCardinality(String),
    TaskType LowCardinality(String),
    TaskId String CODEC(ZSTD(1)),
    ParentTaskId String CODEC(ZSTD(1)),
    AgentId LowCardinality(String),
    DependsOn String CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    SpanName LowCardinality(String),
    SpanKind LowCardinality(String),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String),
    StatusMessage String CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String) CODEC(ZSTD(1))"""


def task_index_name(table: str) -> str:
    """The index table's name: `<table>_otel_mcp_tasks` (its view adds `_mv`)."""
    return f"{check_identifier(table, 'table')}_otel_mcp_tasks"


def task_index_table_ddl(database: str, table: str) -> str:
    """`CREATE TABLE` (no IF NOT EXISTS: the creator alone backfills) for the task-status index."""
    return f"""CREATE TABLE {quoted(database, "database")}.{quoted(task_index_name(table), "table")}
(
{_TASK_INDEX_COLUMNS},
    INDEX idx_task_id TaskId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_parent_task_id ParentTaskId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_agent_id AgentId TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (TaskStatus, TaskType, Timestamp)
SETTINGS index_granularity = 1024"""


def _task_index_select(database: str, table: str) -> str:
    return f"""SELECT
    SpanAttributes['{ATTR_TASK_STATUS}'] AS TaskStatus,
    SpanAttributes['{ATTR_TASK_TYPE}'] AS TaskType,
    SpanAttributes['{ATTR_TASK_ID}'] AS TaskId,
    SpanAttributes['{ATTR_PARENT_ID}'] AS ParentTaskId,
    {AGENT_SQL} AS AgentId,
    SpanAttributes['{ATTR_DEPENDS_ON}'] AS DependsOn,
    Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ResourceAttributes, ScopeName,
    SpanAttributes, Duration, StatusCode, StatusMessage,
    `Links.TraceId` AS `Links.TraceId`, `Links.SpanId` AS `Links.SpanId`
FROM {quoted(database, "database")}.{quoted(table, "table")}
WHERE mapContains(SpanAttributes, '{ATTR_TASK_STATUS}')"""


def task_index_view_ddl(database: str, table: str) -> str:
    """The materialized view that copies every task-status record inserted into `<table>`."""
    db = quoted(database, "database")
    index = task_index_name(table)
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quoted(index + '_mv', 'table')} "
        f"TO {db}.{quoted(index, 'table')}\nAS {_task_index_select(database, table)}"
    )


def task_index_backfill_sql(database: str, table: str) -> str:
    """Copy the task-status records already in `<table>` (run once, by whoever created the index)."""
    db = quoted(database, "database")
    return f"INSERT INTO {db}.{quoted(task_index_name(table), 'table')}\n{_task_index_select(database, table)}"

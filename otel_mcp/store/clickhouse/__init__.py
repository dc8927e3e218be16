"""The ClickHouse store: spans in the OpenTelemetry Collector exporter's `otel_traces` layout.

`store` is `ClickHouseStore`, which answers the protocol's reads itself; beside it, `connection`
(client, schema on first use), `schema` (the exporter's tables), `views` (the `spans` view and
task-status index otel-mcp adds), `codec` (values and rows), `spool`, `delivery`, `otlp` and
`visibility` (durable writes and read-your-writes), `filters` (the reads' conditions and paging),
`sandbox` (the agent's own SQL).
"""

from __future__ import annotations

from otel_mcp.store.clickhouse.codec import attr_from_text, attr_to_text, record_to_row
from otel_mcp.store.clickhouse.store import ClickHouseStore
from otel_mcp.store.clickhouse.views import spans_view_ddl

__all__ = ["ClickHouseStore", "attr_from_text", "attr_to_text", "record_to_row", "spans_view_ddl"]

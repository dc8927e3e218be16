"""Span stores: the embedded SQLite file (default) or ClickHouse in the collector's schema.

The bottom layer: it imports nothing above it. `base` is the protocol every backend implements,
`predicates` the attribute conditions reads can carry; `sqlite/` and `clickhouse/` are the backends;
`opening` opens the one the settings name (`unopened` stands in when it cannot be opened).
"""

from __future__ import annotations

from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SpanFilter, SqlRows, Store
from otel_mcp.store.opening import open_for_reading, open_store, require_store, store_label

__all__ = [
    "SPANS_VIEW_COLUMNS",
    "SpanFilter",
    "SqlRows",
    "Store",
    "open_for_reading",
    "open_store",
    "require_store",
    "store_label",
]

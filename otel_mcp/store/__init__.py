"""Span stores: the embedded SQLite file (default) or ClickHouse in the collector's schema."""

from __future__ import annotations

from otel_mcp.config import Settings
from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SpanFilter, SqlRows, Store

__all__ = ["SPANS_VIEW_COLUMNS", "SpanFilter", "SqlRows", "Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The backend the settings name; ClickHouse's client is imported only when used."""
    if settings.backend == "clickhouse":
        from otel_mcp.store.clickhouse import ClickHouseStore  # type: ignore[import-not-found,unused-ignore]

        return ClickHouseStore.from_settings(settings)  # type: ignore[no-any-return,unused-ignore]
    from otel_mcp.store.sqlite import SQLiteStore

    return SQLiteStore(settings.db_path)

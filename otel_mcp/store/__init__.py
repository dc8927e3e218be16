"""Span stores: the embedded SQLite file (default) or ClickHouse in the collector's schema.

The bottom layer: it imports nothing above it. `base` is the protocol every backend implements,
`predicates` the attribute conditions reads can carry; `sqlite/` and `clickhouse/` are the backends.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from otel_mcp.config import Settings
from otel_mcp.errors import StoreUnavailable
from otel_mcp.store.base import SPANS_VIEW_COLUMNS, SpanFilter, SqlRows, Store

__all__ = ["SPANS_VIEW_COLUMNS", "SpanFilter", "SqlRows", "Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The backend the settings name; ClickHouse's client is imported only when used."""
    if settings.backend == "clickhouse":
        return _open_clickhouse(settings, os.environ)
    from otel_mcp.store.sqlite import SQLiteStore

    return SQLiteStore(settings.db_path)


def _open_clickhouse(settings: Settings, env: Mapping[str, str]) -> Store:
    from otel_mcp.store.clickhouse import ClickHouseStore

    # The spool sits next to the embedded store's file unless placed elsewhere; with `otlp` writes,
    # spans go to the collector the standard OTLP variables name.
    spool = settings.spool_dir or Path(settings.db_path).parent / "spool"
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    try:
        return ClickHouseStore(
            settings.clickhouse_url,
            database=settings.clickhouse_database,
            table=settings.clickhouse_table,
            write=settings.clickhouse_write,
            username=settings.clickhouse_user,
            password=settings.clickhouse_password,
            spool_dir=spool,
            otlp_endpoint=endpoint,
        )
    except (OSError, sqlite3.Error) as exc:
        # The spool is a local SQLite file: a read-only or missing directory fails here, at once.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreUnavailable(
            f"cannot open the local spool of the ClickHouse store in {spool} ({reason}): spans wait there until "
            "ClickHouse has them; set OTEL_MCP_SPOOL_DIR to a writable directory"
        ) from exc

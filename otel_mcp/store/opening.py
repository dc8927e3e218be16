"""Opening the store the settings name, and the one a read-only command (`trace`, `report`, `gates
verify`, the git hook) reads: named, and never created.

Opening the embedded store creates the file (and its folder) when it is missing, which is right for
a server and wrong for a command that only reads: run in the wrong folder, it would quietly make an
empty store there and report that nothing happened. A read-only command refuses instead, naming the
path it looked at and how to point it at the right one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from otel_mcp.config import Settings
from otel_mcp.errors import InvalidArgument, NotFound, StoreUnavailable
from otel_mcp.store.base import Store
from otel_mcp.store.sqlite import SQLiteStore
from otel_mcp.store.sqlite.health import not_a_store

__all__ = ["open_for_reading", "open_store", "require_store", "store_label"]


def open_store(settings: Settings, *, read_only: bool = False) -> Store:
    """The backend the settings name; `read_only` for commands that only read (never create, upgrade or write)."""
    if settings.backend == "clickhouse":
        return _open_clickhouse(settings, os.environ)
    return SQLiteStore(settings.db_path, read_only=read_only)


def _open_clickhouse(settings: Settings, env: Mapping[str, str]) -> Store:
    # Here, not at the top: ClickHouse's client library alone is 0.4 s of import (cumulative, by
    # python -X importtime) that the embedded store, the default, never needs.
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


def store_label(settings: Settings) -> str:
    """Which store a command reads, in words: the file's absolute path, or the ClickHouse table."""
    if settings.backend == "clickhouse":
        return f"ClickHouse {settings.clickhouse_url} {settings.clickhouse_database}.{settings.clickhouse_table}"
    return str(Path(settings.db_path).resolve())


def open_for_reading(settings: Settings) -> Store:
    """The configured store if it exists, opened read-only; NotFound naming the path otherwise."""
    require_store(settings)
    return open_store(settings, read_only=True)


def require_store(settings: Settings) -> None:
    """NotFound, naming the path looked at, when the embedded store file does not exist."""
    if settings.backend == "sqlite":
        path = Path(settings.db_path).resolve()
        wrong = not_a_store(path)
        if wrong is not None:
            raise InvalidArgument(wrong)
        if not path.is_file():
            raise NotFound(
                f"no telemetry store at {path}: nothing has been recorded there. Point at the store the "
                "agents write with --db PATH or OTEL_MCP_DB (default: in a git repository "
                "<common git dir>/otel-mcp/telemetry.db, shared by its worktrees; elsewhere "
                "<workspace>/.otel-mcp/telemetry.db, the workspace being OTEL_MCP_WORKSPACE or the folder you run in)"
                + (f". Note: {earlier}" if (earlier := settings.earlier_store_note()) else "")
            )

"""The store a read-only command (`trace`, `report`, `gates verify`) reads: named, and never created.

Opening the embedded store creates the file (and its folder) when it is missing, which is right for
a server and wrong for a command that only reads: run in the wrong folder, it would quietly make an
empty store there and report that nothing happened. A read-only command refuses instead, naming the
path it looked at and how to point it at the right one.
"""

from __future__ import annotations

from pathlib import Path

from otel_mcp.config import Settings
from otel_mcp.errors import NotFound
from otel_mcp.store import Store, open_store

__all__ = ["open_for_reading", "require_store", "store_label"]


def store_label(settings: Settings) -> str:
    """Which store a command reads, in words: the file's absolute path, or the ClickHouse table."""
    if settings.backend == "clickhouse":
        return f"ClickHouse {settings.clickhouse_url} {settings.clickhouse_database}.{settings.clickhouse_table}"
    return str(Path(settings.db_path).resolve())


def open_for_reading(settings: Settings) -> Store:
    """The configured store if it exists; NotFound naming the path otherwise."""
    require_store(settings)
    return open_store(settings)


def require_store(settings: Settings) -> None:
    """NotFound, naming the path looked at, when the embedded store file does not exist."""
    if settings.backend == "sqlite":
        path = Path(settings.db_path).resolve()
        if not path.is_file():
            raise NotFound(
                f"no telemetry store at {path}: nothing has been recorded there. Point at the store the "
                "agents write with --db PATH or OTEL_MCP_DB (default: in a git repository "
                "<common git dir>/otel-mcp/telemetry.db, shared by its worktrees; elsewhere "
                "<workspace>/.otel-mcp/telemetry.db, the workspace being OTEL_MCP_WORKSPACE or the folder you run in)"
                + (f". Note: {earlier}" if (earlier := settings.earlier_store_note()) else "")
            )

"""Flags shared by sub-commands; they mirror the environment variables."""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["add_store_flags", "apply_store_flags", "definitions_in_force"]

_FLAGS = (
    ("agent_id", "OTEL_MCP_AGENT_ID"),
    ("db", "OTEL_MCP_DB"),
    ("backend", "OTEL_MCP_BACKEND"),
    ("gates_dir", "OTEL_MCP_GATES_DIR"),
)


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agent-id", help="who this process speaks for (OTEL_MCP_AGENT_ID)")
    parser.add_argument(
        "--db",
        help="embedded store file (OTEL_MCP_DB; default: <git common dir>/otel-mcp/telemetry.db, shared by "
        "every worktree, or <workspace>/.otel-mcp/telemetry.db outside git)",
    )
    parser.add_argument("--backend", choices=["sqlite", "clickhouse"], help="store backend (OTEL_MCP_BACKEND)")
    parser.add_argument(
        "--gates-dir",
        help="gate YAML directory (OTEL_MCP_GATES_DIR, default <workspace>/gates, else the bundled examples)",
    )


def apply_store_flags(args: argparse.Namespace) -> None:
    # Setting the variable keeps one source of truth: Settings.from_env reads it.
    for flag, var in _FLAGS:
        value = getattr(args, flag, None)
        if value:
            os.environ[var] = str(value)


def definitions_in_force(settings: Any) -> dict[str, str]:
    """gate -> digest of its definition in force now (the committed one in a git work tree)."""
    from otel_mcp.core.gates.catalog import Catalogue

    catalogue = Catalogue(settings.gates_dir, configured=settings.gates_configured, ref=settings.gates_ref)
    return dict(catalogue.catalog().definitions)

"""Flags shared by sub-commands: each is spelled like the `OTEL_MCP_*` variable it overrides.

A flag reaches the command as a value (a `Settings` override), never by writing the variable into
`os.environ`: the process's environment stays what it was given, and what a command runs with is
visible at the call.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from otel_mcp.config import Settings

__all__ = [
    "add_gates_dir_flag",
    "add_store_flags",
    "definitions_in_force",
    "flag_variables",
    "name_list",
    "settings_from",
]

# argparse dest (= the Settings field) -> the variable the flag overrides, and how its text becomes the value.
_FLAGS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "agent_id": ("OTEL_MCP_AGENT_ID", str),
    "db_path": ("OTEL_MCP_DB", Path),
    "backend": ("OTEL_MCP_BACKEND", str),
    "gates_dir": ("OTEL_MCP_GATES_DIR", Path),
    "workspace": ("OTEL_MCP_WORKSPACE", Path),
    "tokens_file": ("OTEL_MCP_TOKENS_FILE", Path),
    "allowed_hosts": ("OTEL_MCP_ALLOWED_HOSTS", tuple),
    "allowed_origins": ("OTEL_MCP_ALLOWED_ORIGINS", tuple),
    "allow_readable_tokens": ("OTEL_MCP_ALLOW_READABLE_TOKENS", bool),
}


def add_store_flags(parser: argparse.ArgumentParser, *, gates: bool = True) -> None:
    """--agent-id, --db, --backend and (unless `gates` is False) --gates-dir."""
    parser.add_argument("--agent-id", help="who this process speaks for (OTEL_MCP_AGENT_ID)")
    parser.add_argument(
        "--db",
        dest="db_path",
        metavar="PATH",
        help="embedded store file (OTEL_MCP_DB, default <workspace>/.otel-mcp/telemetry.db)",
    )
    parser.add_argument("--backend", choices=["sqlite", "clickhouse"], help="store backend (OTEL_MCP_BACKEND)")
    if gates:
        add_gates_dir_flag(parser)


def add_gates_dir_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gates-dir",
        help="gate YAML directory (OTEL_MCP_GATES_DIR, default <workspace>/gates, else the bundled examples)",
    )


def name_list(text: str) -> list[str]:
    """A flag's value read as its variable is: names separated by commas or spaces."""
    return [item for item in text.replace(",", " ").split() if item]


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """dest -> value for each shared flag this command has and was given."""
    values = {dest: getattr(args, dest, None) for dest in _FLAGS}
    return {dest: value for dest, value in values.items() if value not in (None, [], "")}


def settings_from(args: argparse.Namespace, default_agent: str | None = "cli") -> Settings:
    """What the command runs with: the `OTEL_MCP_*` variables, each overridden by its flag when given."""
    overrides = {dest: _FLAGS[dest][1](value) for dest, value in _given(args).items()}
    return Settings.from_env(default_agent=default_agent, **overrides)


def flag_variables(args: argparse.Namespace) -> dict[str, str]:
    """The given flags as the variables they stand for (what `hooks install` writes into its scripts)."""
    return {_FLAGS[dest][0]: _as_text(value) for dest, value in _given(args).items()}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return ",".join(value) if isinstance(value, list) else str(value)


def definitions_in_force(settings: Any) -> dict[str, str]:
    """gate -> digest of its definition in force now (the committed one in a git work tree)."""
    from otel_mcp._resources import example_gates_dir
    from otel_mcp.core.gates.definitions.loading import CatalogLoader

    loader = CatalogLoader(settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir())
    return dict(loader.catalog().definitions)

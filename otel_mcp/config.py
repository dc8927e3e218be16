"""Configuration from environment variables; a command's flags, spelled like them, override them as values."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from otel_mcp.errors import InvalidArgument

__all__ = ["RUNNERS", "Settings", "default_agent_id"]

RUNNERS = ("server", "cli", "ci")


def default_agent_id(suffix: str | None = None) -> str:
    """`user@host:<pid>`: unique per server process, so two unconfigured windows never share one claim.

    One-shot commands pass a stable suffix (`cli`): a person's successive commands are one agent.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "agent"
    return f"{user}@{socket.gethostname()}:{suffix or os.getpid()}"


def _list(value: str | None) -> tuple[str, ...]:
    """A comma- or space-separated variable as a tuple of its non-empty items."""
    return tuple(item for item in (value or "").replace(",", " ").split() if item)


def _given(env: Mapping[str, str], name: str) -> str:
    """The variable's value, or "" when unset or when a host left a `${...}` placeholder unexpanded.

    Shared host configs say `${workspaceFolder}` (Cursor) or `${OTEL_MCP_AGENT_ID:-}` (Claude Code);
    a host that cannot expand one passes the text itself, which must not become a path or an identity.
    """
    value = env.get(name, "").strip()
    return "" if value.startswith("${") and value.endswith("}") else value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise InvalidArgument(f"{name}={value[:20]!r} is not a yes/no value; use 1 or 0")


@dataclass(frozen=True, slots=True)
class Settings:
    """What one process was told. Paths not configured are settled by `otel_mcp.resolve` (workspace-relative)."""

    agent_id: str
    agent_name: str | None = None
    backend: str = "sqlite"
    db_path: Path = Path(".otel-mcp/telemetry.db")
    gates_dir: Path = Path("gates")
    # False when the value is the default, not configured: only then may the workspace's own (or,
    # for gates, the bundled examples) stand in; a configured gates directory must exist.
    db_configured: bool = True
    gates_configured: bool = True
    workspace: Path | None = None
    runner: str = "server"  # who runs checks in this process: server | cli | ci
    check_user: str | None = None  # the account checks run as when the server runs as root
    attestation_key: str | None = None
    clickhouse_url: str = "http://localhost:8123"
    clickhouse_database: str = "otel"
    clickhouse_table: str = "otel_traces"
    clickhouse_write: str = "otlp"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    spool_dir: Path | None = None
    tokens_file: Path | None = None
    # Streamable HTTP: Host names / Origins accepted besides loopback and the bind address.
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    allow_readable_tokens: bool = False
    # The ref whose committed gates are in force (OTEL_MCP_GATES_REF; None: the default branch).
    gates_ref: str | None = None
    project_dir: Path | None = None  # CLAUDE_PROJECT_DIR: Claude Code names the agent's project
    # Filled in by `otel_mcp.resolve`: why this workspace and this store, for start-up lines.
    workspace_reason: str = ""
    store_reason: str = ""
    earlier_store: Path | None = None  # a per-worktree store left behind by the shared one
    no_store: str = ""  # set when there is no workspace to keep a store in: why, and the config line

    def earlier_store_note(self) -> str | None:
        """A sentence about a per-worktree store the shared one replaced (set by `resolve`), or None."""
        if self.earlier_store is None:
            return None
        return (
            f"an earlier store of this worktree is at {self.earlier_store} and is no longer used: the store is "
            f"now {self.db_path}, shared by every worktree of the repository. Its records are not in the shared "
            f"store; to keep using it, set OTEL_MCP_DB={self.earlier_store}"
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, default_agent: str | None = None, **overrides: Any
    ) -> Settings:
        env = os.environ if env is None else env
        backend = env.get("OTEL_MCP_BACKEND", "sqlite").strip().lower() or "sqlite"
        if backend not in ("sqlite", "clickhouse"):
            raise InvalidArgument(f"OTEL_MCP_BACKEND={backend!r} is not known; use 'sqlite' or 'clickhouse'")
        write = env.get("OTEL_MCP_CLICKHOUSE_WRITE", "otlp").strip().lower() or "otlp"
        if write not in ("otlp", "direct"):
            raise InvalidArgument(f"OTEL_MCP_CLICKHOUSE_WRITE={write!r} is not known; use 'otlp' or 'direct'")
        settings = cls(
            agent_id=_given(env, "OTEL_MCP_AGENT_ID") or default_agent_id(default_agent),
            agent_name=env.get("OTEL_MCP_AGENT_NAME") or None,
            backend=backend,
            db_path=Path(env.get("OTEL_MCP_DB") or ".otel-mcp/telemetry.db"),
            gates_dir=Path(env.get("OTEL_MCP_GATES_DIR") or "gates"),
            db_configured=bool(env.get("OTEL_MCP_DB")),
            gates_configured=bool(env.get("OTEL_MCP_GATES_DIR")),
            workspace=Path(workspace) if (workspace := _given(env, "OTEL_MCP_WORKSPACE")) else None,
            check_user=env.get("OTEL_MCP_CHECK_USER", "").strip() or None,
            attestation_key=env.get("OTEL_MCP_ATTESTATION_KEY") or None,
            clickhouse_url=env.get("OTEL_MCP_CLICKHOUSE_URL") or "http://localhost:8123",
            clickhouse_database=env.get("OTEL_MCP_CLICKHOUSE_DATABASE") or "otel",
            clickhouse_table=env.get("OTEL_MCP_CLICKHOUSE_TABLE") or "otel_traces",
            clickhouse_write=write,
            clickhouse_user=env.get("OTEL_MCP_CLICKHOUSE_USER") or "default",
            clickhouse_password=env.get("OTEL_MCP_CLICKHOUSE_PASSWORD") or "",
            spool_dir=Path(env["OTEL_MCP_SPOOL_DIR"]) if env.get("OTEL_MCP_SPOOL_DIR") else None,
            tokens_file=Path(env["OTEL_MCP_TOKENS_FILE"]) if env.get("OTEL_MCP_TOKENS_FILE") else None,
            allowed_hosts=_list(env.get("OTEL_MCP_ALLOWED_HOSTS")),
            allowed_origins=_list(env.get("OTEL_MCP_ALLOWED_ORIGINS")),
            allow_readable_tokens=_flag(env, "OTEL_MCP_ALLOW_READABLE_TOKENS"),
            gates_ref=env.get("OTEL_MCP_GATES_REF", "").strip() or None,
            project_dir=Path(project) if (project := _given(env, "CLAUDE_PROJECT_DIR")) else None,
        )
        # Overrides are values given another way (a command's flags): each wins over its variable,
        # and a path given so is configured, as the variable would make it.
        given = {k: v for k, v in overrides.items() if v is not None}
        if "db_path" in given:
            given.setdefault("db_configured", True)
        if "gates_dir" in given:
            given.setdefault("gates_configured", True)
        return replace(settings, **given)

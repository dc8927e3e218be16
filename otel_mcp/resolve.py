"""Settle the paths a process works with: its workspace, and the store and gates under it.

Hosts start servers wherever they like (Claude Desktop: `/`), so nothing may silently depend on
the current directory. The workspace is `OTEL_MCP_WORKSPACE`, else the git top level of the
configured gates directory, else that of the current directory, else the current directory unless
it is `/` or the home directory. Paths that were configured are taken as given (relative to the
current directory); defaults live in the workspace: `<workspace>/.otel-mcp/telemetry.db` and
`<workspace>/gates`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from otel_mcp.config import Settings
from otel_mcp.core.workspace import Workspace, find_root

__all__ = ["open_workspace", "resolve"]


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def resolve(settings: Settings, cwd: Path | None = None) -> Settings:
    """`settings` with an absolute workspace (or None), store path and gates directory."""
    here = Path(cwd or os.getcwd())
    gates = _absolute(settings.gates_dir, here) if settings.gates_configured else None
    configured = _absolute(settings.workspace, here) if settings.workspace is not None else None
    workspace = find_root(configured, gates, here)
    base = workspace or here
    db_path = _absolute(settings.db_path, here if settings.db_configured else base)
    gates_dir = gates if gates is not None else _absolute(settings.gates_dir, base)
    return replace(settings, workspace=workspace, db_path=db_path, gates_dir=gates_dir)


def open_workspace(settings: Settings, *, watch: bool = True) -> Workspace | None:
    """The workspace resolved settings name, with the store's own files never part of its code state.

    Every process that digests the workspace (servers, `gates status`, hooks) must leave out the same
    files, or they would disagree on the code state.
    """
    # Here, not at the top: `resolve` alone (the git hook) would pay for OpenTelemetry's SDK,
    # +19 % CPU (0.23 s -> 0.29 s median) for `otel-mcp hooks run git-pre-commit`.
    from otel_mcp.telemetry.attestation import KEY_FILE_NAME

    if settings.workspace is None:
        return None
    store_dir, root = settings.db_path.parent.resolve(), settings.workspace.resolve()
    excluded: list[Path] = []
    if store_dir != root:
        # A store outside the workspace (or in a folder above it) never touches its code state.
        if store_dir.is_relative_to(root):
            excluded = [store_dir]
    else:  # the store sits in the workspace root itself: leave out its files, not the root
        name = settings.db_path.name
        excluded = [store_dir / n for n in (name, f"{name}-wal", f"{name}-shm", f"{name}-journal")]
        excluded += [store_dir / KEY_FILE_NAME, settings.spool_dir or store_dir / "spool"]
    return Workspace(settings.workspace, watch=watch, extra_excluded_dirs=excluded)

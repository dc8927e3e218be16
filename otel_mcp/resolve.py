"""Settle the paths a process works with: its workspace, and the store and gates it uses, and why.

Hosts start servers wherever they like (Claude Desktop: `/`), so nothing may silently depend on
the current directory; `core.workspace.root` says which workspace is chosen and in what order.
Paths that were configured are taken as given (relative to the current directory). Defaults: the
gates in `<workspace>/gates`; the store, in a git repository, under the common git directory
(`<common>/otel-mcp/telemetry.db`, its key beside it), so that every linked worktree of the
repository shares one record and one claim per task; outside git, `<workspace>/.otel-mcp/`.
A per-worktree store an earlier version made is named (`earlier_store`), never silently dropped.
Without a workspace and without `OTEL_MCP_DB` there is no store at all (`no_store` says why and
which config line to add): a store in `/` or the home folder would be nobody's.

The ClickHouse backend keeps its key and spool in `<workspace>/.otel-mcp/` as before: the team's
store is elsewhere anyway, and moving the spool would strand spans not yet delivered.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from otel_mcp.config import Settings
from otel_mcp.core.workspace import Workspace, find_root

__all__ = ["SHARED_STORE", "WORKTREE_STORE", "open_workspace", "resolve"]

WORKTREE_STORE = Path(".otel-mcp/telemetry.db")  # relative to the workspace: outside git, and before sharing
SHARED_STORE = Path("otel-mcp/telemetry.db")  # relative to the repository's common git directory


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def resolve(settings: Settings, cwd: Path | None = None, offered: Path | None = None) -> Settings:
    """`settings` with an absolute workspace (or None), store path and gates directory, and why.

    `offered`: a folder the client offered as an MCP root (after start-up, when there was none).
    """
    here = Path(cwd or os.getcwd())
    gates = _absolute(settings.gates_dir, here) if settings.gates_configured else None
    configured = _absolute(settings.workspace, here) if settings.workspace is not None else None
    choice = find_root(configured, gates, here, settings.project_dir, offered)
    workspace = choice.root
    base = workspace or here
    gates_dir = gates if gates is not None else _absolute(settings.gates_dir, base)
    earlier: Path | None = None
    no_store = ""
    if settings.db_configured:
        db_path, why = _absolute(settings.db_path, here), "set by OTEL_MCP_DB"
    elif settings.backend == "sqlite" and workspace is None:
        db_path, why = base / WORKTREE_STORE, "none: there is no workspace to keep it in"
        no_store = _no_store(choice.reason)
    elif settings.backend == "sqlite" and choice.common_dir is not None:
        db_path = choice.common_dir / SHARED_STORE
        why = "shared by every worktree of the repository, under its common git directory"
        old = base / WORKTREE_STORE
        if old.is_file() and old.resolve() != db_path.resolve():
            earlier = old
    else:
        db_path = base / WORKTREE_STORE
        why = "in the workspace (not a git repository)" if settings.backend == "sqlite" else "key and spool folder"
    return replace(
        settings,
        workspace=workspace,
        db_path=db_path,
        gates_dir=gates_dir,
        workspace_reason=choice.reason,
        store_reason=why,
        earlier_store=earlier,
        no_store=no_store,
    )


def _no_store(reason: str) -> str:
    return (
        f"this server has no workspace: {reason.removeprefix('none: ')}. It records nothing rather than keep a "
        "store there. "
        "Add this line to the \"env\" of the otel-mcp entry in the host's MCP config, with your project's "
        'folder: "OTEL_MCP_WORKSPACE": "/path/to/project" (or set OTEL_MCP_DB to a store file), then restart '
        "the server"
    )


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

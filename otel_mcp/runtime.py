"""Everything one server (or CLI) process holds: settings, store, telemetry, workspace and the core services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from otel_mcp.config import Settings
from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.claims import ClaimService
from otel_mcp.core.gates import GateService
from otel_mcp.core.gates.runner import RunnerName
from otel_mcp.core.tasks import Coordinator
from otel_mcp.core.workspace import Workspace
from otel_mcp.resolve import resolve
from otel_mcp.store import Store, open_store
from otel_mcp.telemetry import Telemetry
from otel_mcp.telemetry.attestation import KEY_FILE_NAME, Attestor

__all__ = ["Runtime"]


class Runtime:
    """Wires the layers together: server -> core -> telemetry -> store."""

    def __init__(
        self, settings: Settings, store: Store, telemetry: Telemetry, workspace: Workspace | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.telemetry = telemetry
        self.workspace = workspace
        # One cache of each task's first record, shared by every service that writes spans under it.
        self.anchors = TaskAnchors(store)
        self.coordinator = Coordinator(store, telemetry, self.anchors)
        self.claims = ClaimService(store, telemetry, self.anchors)
        self.gates = GateService(
            store,
            telemetry,
            self.anchors,
            settings.gates_dir,
            gates_configured=settings.gates_configured,
            workspace=workspace,
            runner=cast(RunnerName, settings.runner),
        )

    @classmethod
    def open(cls, settings: Settings, env: Mapping[str, str] | None = None, *, watch: bool = True) -> Runtime:
        """Settle the paths, open the store and the workspace; `watch=False` for one-shot commands."""
        settings = resolve(settings)
        store = open_store(settings)
        try:
            workspace = cls.workspace_for(settings, watch=watch)
        except BaseException:
            store.shutdown()
            raise
        return cls(settings, store, cls.telemetry_for(settings, store, env), workspace)

    @staticmethod
    def workspace_for(settings: Settings, *, watch: bool = True) -> Workspace | None:
        """The workspace these settings name, with the store's own folder never part of its code state."""
        if settings.workspace is None:
            return None
        store_dir = settings.db_path.parent.resolve()
        root = settings.workspace.resolve()
        if store_dir != root:
            # A store outside the workspace (or in a folder above it) never touches its code state.
            excluded = [store_dir] if store_dir.is_relative_to(root) else []
        else:  # the store sits in the workspace root itself: leave out its files, not the root
            name = settings.db_path.name
            excluded = [store_dir / n for n in (name, f"{name}-wal", f"{name}-shm", f"{name}-journal")]
            excluded += [store_dir / KEY_FILE_NAME, settings.spool_dir or store_dir / "spool"]
        return Workspace(settings.workspace, watch=watch, extra_excluded_dirs=excluded)

    @staticmethod
    def telemetry_for(settings: Settings, store: Store, env: Mapping[str, str] | None = None) -> Telemetry:
        """The TracerProvider these settings describe, over `store`."""
        return Telemetry(
            store,
            agent_id=settings.agent_id,
            agent_name=settings.agent_name,
            env=env,
            attestor=lambda: Attestor.from_settings(settings.attestation_key, settings.db_path),
        )

    @property
    def agent_id(self) -> str:
        return self.settings.agent_id

    def close(self) -> None:
        try:
            self.telemetry.shutdown()
        finally:
            try:
                self.store.shutdown()
            finally:
                if self.workspace is not None:
                    self.workspace.close()

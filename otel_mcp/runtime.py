"""Everything one server (or CLI) process holds: settings, store, telemetry, workspace and the core services."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

from otel_mcp._resources import example_gates_dir
from otel_mcp.config import Settings
from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.claims.service import ClaimService
from otel_mcp.core.gates.checks.describe import RunnerName
from otel_mcp.core.gates.checks.runner import CheckRunner
from otel_mcp.core.gates.definitions.loading import CatalogLoader
from otel_mcp.core.gates.verdicts.decisions import GateDecisions
from otel_mcp.core.gates.verdicts.judge import Judge
from otel_mcp.core.tasks import Coordinator
from otel_mcp.core.workspace import Workspace
from otel_mcp.errors import OtelMcpError
from otel_mcp.resolve import open_workspace, resolve
from otel_mcp.store import Store, open_store
from otel_mcp.store.unopened import UnopenedStore
from otel_mcp.telemetry import Telemetry
from otel_mcp.telemetry.attestation import Attestor

__all__ = ["Runtime"]

_log = logging.getLogger("otel_mcp.serve")


class Runtime:
    """Wires the layers together: server -> core -> telemetry -> store."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        telemetry: Telemetry,
        workspace: Workspace | None = None,
        *,
        watch: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.telemetry = telemetry
        self.workspace = workspace
        # One cache of each task's first record, shared by every service that writes spans under it.
        self.anchors = TaskAnchors(store)
        self.coordinator = Coordinator(store, telemetry, self.anchors)
        self.claims = ClaimService(store, telemetry, self.anchors)
        # Gates: what is defined, decisions on evidence, check runs, and the verdict every guard asks.
        self.catalog_loader = CatalogLoader(
            settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir(), watch=watch
        )
        self.decisions = GateDecisions(store, telemetry, self.anchors, self.catalog_loader, workspace)
        self.runner = CheckRunner(
            store,
            telemetry,
            self.anchors,
            self.catalog_loader,
            workspace,
            cast(RunnerName, settings.runner),
            settings.check_user,
        )
        # The attestor is made on first use: a process that never checks a signature creates no key.
        self.judge = Judge(
            store,
            self.catalog_loader.catalog,
            lambda record: telemetry.attestor.verify(record),
            self.decisions.code_state,
        )
        # Guarded transitions (a gate's `guards:`) are refused while the gate does not stand passed.
        self.coordinator.guard = self.judge.check_transition

    @classmethod
    def open(cls, settings: Settings, env: Mapping[str, str] | None = None, *, watch: bool = True) -> Runtime:
        """Settle the paths, open the store and the workspace; `watch=False` for one-shot commands.

        Watching (inotify on the workspace and the gate definitions) pays off from the second call on.
        """
        settings = resolve(settings)
        store = open_store(settings)
        try:
            workspace = cls.workspace_for(settings, watch=watch)
        except BaseException:
            store.shutdown()
            raise
        return cls(settings, store, cls.telemetry_for(settings, store, env), workspace, watch=watch)

    @staticmethod
    def workspace_for(settings: Settings, *, watch: bool = True) -> Workspace | None:
        """The workspace these settings name, with the store's own folder never part of its code state."""
        return open_workspace(settings, watch=watch)

    @classmethod
    def open_for_serving(cls, settings: Settings, env: Mapping[str, str] | None = None) -> Runtime:
        """Like `open`, but a store that cannot be opened does not stop the server.

        Its stand-in answers every call with the reason (see `UnopenedStore`): a host shows tool
        errors to the person, while a server that exits shows them only "connection closed".
        """
        settings = resolve(settings)
        try:
            store = open_store(settings)
        except OtelMcpError as exc:  # unopenable, damaged, or misconfigured (the reason says which)
            _log.warning("%s; serving anyway: every tool call answers with this", exc)
            store = UnopenedStore(settings, str(exc), lambda: open_store(settings))
        try:
            workspace = cls.workspace_for(settings)
        except OtelMcpError as exc:  # a workspace that is not a directory: checks say so, the rest works
            _log.warning("%s; serving without a workspace", exc)
            workspace = None
        runtime = cls(settings, store, cls.telemetry_for(settings, store, env), workspace, watch=True)
        runtime.warn_about_gates()
        return runtime

    def warn_about_gates(self) -> None:
        """At start-up: say which gate edits are not in force, and any definition problem."""
        try:
            catalog = self.catalog_loader.catalog()
        except Exception:  # the first tool call reports it properly
            return
        for note in catalog.uncommitted:
            _log.warning("%s", note)
        for problem in catalog.problems[:10]:
            _log.warning("gate definitions: %s", problem)

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

    def describe_store(self) -> str:
        """Which store this process uses, for start-up lines: backend and where."""
        s = self.settings
        problem = self.store.problem
        if problem:
            return f"UNUSABLE: {problem}"
        if s.backend == "clickhouse":
            table = f"{s.clickhouse_database}.{s.clickhouse_table}"
            return f"clickhouse {s.clickhouse_url} table {table} (writes: {s.clickhouse_write})"
        return f"sqlite {s.db_path.resolve()}"

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
                self.catalog_loader.close()
                if self.workspace is not None:
                    self.workspace.close()

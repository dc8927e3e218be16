"""Everything one server (or CLI) process holds: settings, store, telemetry, workspace and the core services."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
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
from otel_mcp.errors import OtelMcpError, StoreUnavailable
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
        self.store = store
        self.telemetry = telemetry
        # The settings as given, before `resolve`: a workspace learned later is resolved from them.
        self.given: Settings | None = None
        self._wire(settings, store, workspace, watch)

    def _wire(self, settings: Settings, store: Store, workspace: Workspace | None, watch: bool) -> None:
        """The core services over `store` and this telemetry, for these settings and this workspace."""
        telemetry = self.telemetry
        self.settings = settings
        self.workspace = workspace
        # One cache of each task's first record, shared by every service that writes spans under it.
        self.anchors = TaskAnchors(store)
        self.coordinator = Coordinator(store, telemetry, self.anchors)
        self.claims = ClaimService(store, telemetry, self.anchors)
        # Gates: what is defined, decisions on evidence, check runs, and the verdict every guard asks.
        self.catalog_loader = CatalogLoader(
            settings.gates_dir,
            configured=settings.gates_configured,
            fallback=example_gates_dir(),
            watch=watch,
            ref=settings.gates_ref,
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
        given, settings = settings, resolve(settings)
        if settings.no_store:  # no project to keep a store in: serve, and answer every call with the cure
            _log.warning("%s", settings.no_store)
            store: Store = UnopenedStore(settings, settings.no_store, _refusing_opener(settings.no_store))
        else:
            try:
                store = open_store(settings)
            except OtelMcpError as exc:  # unopenable, damaged, or misconfigured (the reason says which)
                _log.warning("%s; serving anyway: every tool call answers with this", exc)
                store = UnopenedStore(settings, str(exc), lambda: open_store(settings))
        _log.info("workspace: %s (%s)", settings.workspace or "none", settings.workspace_reason)
        if (note := settings.earlier_store_note()) is not None:
            _log.warning("%s", note)
        try:
            workspace = cls.workspace_for(settings)
        except OtelMcpError as exc:  # a workspace that is not a directory: checks say so, the rest works
            _log.warning("%s; serving without a workspace", exc)
            workspace = None
        cell: list[Runtime] = []  # the key follows the settings a workspace learned later brings
        telemetry = cls.telemetry_for(settings, store, env, current=lambda: cell[0].settings)
        runtime = cls(settings, store, telemetry, workspace, watch=True)
        cell.append(runtime)
        runtime.given = given
        runtime.warn_about_gates()
        return runtime

    @property
    def awaiting_workspace(self) -> bool:
        """True while this server has no workspace and could take one a client offers (an MCP root)."""
        return bool(self.settings.no_store) and isinstance(self.store, UnopenedStore) and self.given is not None

    def adopt_root(self, folder: Path) -> bool:
        """Take `folder` (a client's MCP root) as the workspace, if it is a project: open the real store.

        Blocking (git, the store, the watcher): call it from a worker thread, once at a time.
        """
        if not self.awaiting_workspace or self.given is None:
            return False
        settings = resolve(self.given, offered=folder)
        if settings.workspace is None or settings.no_store:
            return False
        store = open_store(settings)
        try:
            workspace = self.workspace_for(settings)
        except BaseException:
            store.shutdown()
            raise
        stand_in, old_loader = self.store, self.catalog_loader
        assert isinstance(stand_in, UnopenedStore)
        self._wire(settings, store, workspace, True)
        # Last: until here every call is still refused (StoreGuard asks `self.store`), never half-wired.
        stand_in.adopt(store)  # telemetry writes through the stand-in; the services hold the store itself
        self.store = store
        old_loader.close()
        _log.warning(
            "workspace: %s (%s); store: %s", settings.workspace, settings.workspace_reason, self.describe_store()
        )
        if (note := settings.earlier_store_note()) is not None:
            _log.warning("%s", note)
        self.warn_about_gates()
        return True

    def warn_about_gates(self) -> None:
        """At start-up: say which gate edits are not in force, and any definition problem."""
        try:
            catalog = self.catalog_loader.catalog()
        except Exception:  # the first tool call reports it properly
            return
        if catalog.ref:
            _log.info("gates in force: committed on %s (%s) in %s", catalog.ref, catalog.ref_reason, catalog.directory)
        for note in catalog.uncommitted:
            _log.warning("%s", note)
        for problem in catalog.problems[:10]:
            _log.warning("gate definitions: %s", problem)

    @staticmethod
    def telemetry_for(
        settings: Settings,
        store: Store,
        env: Mapping[str, str] | None = None,
        current: Callable[[], Settings] | None = None,
    ) -> Telemetry:
        """The TracerProvider these settings describe, over `store` (its key from `current()` if given)."""
        latest = current or (lambda: settings)
        return Telemetry(
            store,
            agent_id=settings.agent_id,
            agent_name=settings.agent_name,
            env=env,
            attestor=lambda: Attestor.from_settings(latest().attestation_key, latest().db_path),
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
        return f"sqlite {s.db_path.resolve()} ({s.store_reason})" if s.store_reason else f"sqlite {s.db_path.resolve()}"

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


def _refusing_opener(reason: str) -> Callable[[], Store]:
    def refuse() -> Store:
        raise StoreUnavailable(reason)

    return refuse

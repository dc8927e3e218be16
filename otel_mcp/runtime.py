"""Everything one server process holds: settings, store, telemetry and the core services."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from otel_mcp.config import Settings
from otel_mcp.core.claims import ClaimService
from otel_mcp.core.gates import GateService
from otel_mcp.core.tasks import Coordinator
from otel_mcp.store import Store, open_store
from otel_mcp.telemetry import Telemetry

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


class Runtime:
    """Wires the layers together: server -> core -> telemetry -> store."""

    def __init__(self, settings: Settings, store: Store, telemetry: Telemetry) -> None:
        self.settings = settings
        self.store = store
        self.telemetry = telemetry
        self.coordinator = Coordinator(store, telemetry)
        self.claims = ClaimService(store, self.coordinator)
        self.gates = GateService(
            store,
            self.coordinator,
            settings.gates_dir,
            attestation_key=settings.attestation_key,
            db_path=settings.db_path,
        )

    @classmethod
    def open(cls, settings: Settings, env: Mapping[str, str] | None = None) -> Runtime:
        store = open_store(settings)
        telemetry = Telemetry(store, agent_id=settings.agent_id, agent_name=settings.agent_name, env=env)
        return cls(settings, store, telemetry)

    @property
    def agent_id(self) -> str:
        return self.settings.agent_id

    def close(self) -> None:
        try:
            self.telemetry.shutdown()
        finally:
            self.store.shutdown()

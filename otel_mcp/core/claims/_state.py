"""The claim service's state and the helpers both ways of appending a claim event share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.claims.fold import ClaimFold, Lease, LeaseFold, Outcome, fold_claims
from otel_mcp.core.claims.readiness import DeclaredPaths
from otel_mcp.core.claims.reservations import reservation_fold
from otel_mcp.core.claims.world import ReservationWorld
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, SpanRecord
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_PATHS_ATTR,
    CLAIM_SHARED_ATTR,
    ClaimEvent,
    Store,
)
from otel_mcp.telemetry import Telemetry


class _Request(NamedTuple):
    task_id: str
    action: str  # 'claim' | 'release'
    lease_s: int = 0
    paths: tuple[str, ...] | None = None
    shared: bool = False

    def event(self, agent_id: str, start_ns: int, span_id: str = "") -> ClaimEvent:
        return ClaimEvent(self.task_id, self.action, agent_id, start_ns, span_id, self.lease_s, self.paths, self.shared)


class _Appended(NamedTuple):
    outcome: Outcome
    span_id: str
    lease: Lease | None  # the lease after the event
    latest: SpanRecord | None  # the task's latest status record
    blockers: tuple[Lease, ...] = ()  # the reservations a claim denied for its paths ran into


class _ClaimState:
    """What `ClaimService` holds (set in its constructor) and reads on every path."""

    store: Store
    telemetry: Telemetry
    anchors: TaskAnchors
    now_ns: Callable[[], int]
    _sleep: Callable[[float], None]
    settle_s: float
    visible_timeout_s: float
    _folds: dict[str, tuple[LeaseFold, int]]
    _world_made: bool
    _world: ReservationWorld | None
    _declared: DeclaredPaths

    @property
    def agent_id(self) -> str:
        return self.telemetry.current_agent_id()

    @property
    def transactional(self) -> bool:
        return callable(getattr(self.store, "transaction", None)) and callable(getattr(self.store, "export_in", None))

    def _fold(self, task_id: str, events: list[ClaimEvent], at_ns: int, paths: bool) -> ClaimFold:
        """The task's history folded; with the other reserving tasks' when paths are involved."""
        return reservation_fold(self.store, at_ns, task_id) if paths else fold_claims(events)

    def _attributes(self, request: _Request) -> dict[str, Any]:
        attrs: dict[str, Any] = {ATTR_TASK_ID: request.task_id, ATTR_SOURCE: "agent", CLAIM_ACTION_ATTR: request.action}
        if request.action == "claim":
            attrs[CLAIM_LEASE_ATTR] = request.lease_s
            if request.paths is not None:
                attrs[CLAIM_PATHS_ATTR] = request.paths
                if request.shared and request.paths:
                    attrs[CLAIM_SHARED_ATTR] = True
        return attrs

    def _task_records(self, task_id: str, action: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        """The task's first status record (the span its events hang under) and, for a claim, its latest one."""
        if action != "claim":
            return self.anchors.anchor(task_id), None
        return self.anchors.status_bounds(task_id)

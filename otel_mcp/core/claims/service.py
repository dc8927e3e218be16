"""The claim service: claim_task and release_task over any store, and find_ready.

Two ways to make "append my claim, then learn whether I won" safe:

- **Transactional stores (SQLite)** expose `transaction()` and `export_in(db, spans)`. Inside one
  `BEGIN IMMEDIATE` transaction the service reads the task's history, stamps its claim with a start
  time later than every event already there, decides the outcome by the fold, and appends the span.
  Writers are serialised, so the new event is last in fold order when it commits: the outcome
  recorded on the span is final and no later reader can fold it differently.
- **Append-only stores (ClickHouse)** have no transactions and may show a write late. The claimant
  appends its claim span (its own start time, no outcome), waits until the span is visible to
  reads, then until `start + settle_s` has passed, re-reads the history and folds it. It believes it
  won only if the fold grants its own span. Events are ordered by their timestamps, not by arrival,
  so every claimant folds the same history to the same single winner, provided a write becomes
  visible, and clocks agree, within `settle_s` (the lease-system assumption of bounded clock skew
  and delay). A claimant whose own span does not become visible in time appends a release for
  safety and reports failure: if its claim surfaces later and won the fold, the release frees it.

Path reservations make one task's outcome depend on others' (a claim whose paths overlap another
agent's live reservation is denied). A task whose history never named paths is still decided on its
own history alone; once paths are involved, the service folds the history of every task that named
paths and was active within the longest lease (`reservations.reservation_fold`), and on SQLite
stamps the event after all of that history, so it is last in fold order there too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.claims._settling import _ThenSettle
from otel_mcp.core.claims._state import _Appended, _Request
from otel_mcp.core.claims._transactional import (
    ATTR_CLAIM_EXPIRES_AT,
    ATTR_CLAIM_HOLDER,
    ATTR_CLAIM_OUTCOME,
    _InTransaction,
)
from otel_mcp.core.claims.fold import DEFAULT_LEASE_S, MAX_LEASE_S, MIN_LEASE_S, NS, Lease, LeaseFold
from otel_mcp.core.claims.fold import expiry_text as _when
from otel_mcp.core.claims.globs import check_paths
from otel_mcp.core.claims.readiness import DeclaredPaths, find_ready
from otel_mcp.core.claims.results import ClaimResult, ReadyTasks, ReleaseResult
from otel_mcp.core.claims.texts import claim_reason, path_conflicts
from otel_mcp.core.claims.world import ReservationWorld
from otel_mcp.errors import Conflict, InvalidArgument, excerpt
from otel_mcp.model import check_task_id
from otel_mcp.store.base import Store
from otel_mcp.telemetry import Telemetry

__all__ = ["ATTR_CLAIM_EXPIRES_AT", "ATTR_CLAIM_HOLDER", "ATTR_CLAIM_OUTCOME", "ClaimService"]


def _check_lease(lease_seconds: object) -> int:
    if (
        isinstance(lease_seconds, bool)
        or not isinstance(lease_seconds, int | float)
        or lease_seconds != int(lease_seconds)
        or not MIN_LEASE_S <= lease_seconds <= MAX_LEASE_S
    ):
        raise InvalidArgument(
            f"lease_seconds must be a whole number of seconds from {MIN_LEASE_S} to {MAX_LEASE_S} (24 h); got "
            f"{excerpt(lease_seconds)}. Claim for about as long as the next step takes and renew by claiming again."
        )
    return int(lease_seconds)


class ClaimService(_InTransaction, _ThenSettle):
    """claim_task, release_task and find_ready over any Store.

    `now_ns` is injectable so tests move time instead of sleeping; `settle_s` and `visible_timeout_s`
    only matter on append-only stores (see the module docstring).
    """

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        settle_s: float = 2.0,
        visible_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        self.now_ns = now_ns
        self._sleep = sleep
        self.settle_s = settle_s
        self.visible_timeout_s = visible_timeout_s
        # Transactional stores: task id -> (fold over its claim history, start of the last folded event).
        self._folds: dict[str, tuple[LeaseFold, int]] = {}
        # ... and, where the store lists claims in commit order, the running fold of every reserving task.
        # Made on first use: a store that could not be opened yet answers every attribute with its error.
        self._world_made = False
        self._world: ReservationWorld | None = None
        self._declared = DeclaredPaths()  # find_ready: the paths plans declare, by record

    # -- claim / release ---------------------------------------------------------------------

    def claim(
        self,
        task_id: str,
        lease_seconds: int = DEFAULT_LEASE_S,
        paths: list[str] | tuple[str, ...] | None = None,
        shared: bool = False,
    ) -> ClaimResult:
        """Claim (or renew) a task, reserving `paths` with it; None keeps a renewal's paths as they are."""
        check_task_id(task_id)
        lease_s = _check_lease(lease_seconds)
        globs = None if paths is None else check_paths(paths)
        if not isinstance(shared, bool):
            raise InvalidArgument(f"shared must be true or false; got {excerpt(shared)}")
        request = _Request(task_id, "claim", lease_s, globs, shared)
        outcome, span_id, lease, latest, blockers = self._append(request)
        now = self.now_ns()
        me = self.agent_id
        granted = outcome in ("granted", "renewed")
        mine = lease if lease is not None and lease.holder == me else None
        return ClaimResult(
            task_id=task_id,
            granted=granted,
            outcome=outcome,  # type: ignore[arg-type]
            holder=lease.holder if lease else None,
            you=me,
            expires_at=_when(lease.expires_ns) if lease else None,
            lease_seconds_left=round(max(lease.expires_ns - now, 0) / NS, 3) if lease else None,
            span_id=span_id,
            task_status=latest.task_status if latest else None,
            paths=list(mine.paths) if mine else [],
            shared=mine.shared if mine else False,
            conflicts=path_conflicts(globs or (), blockers),
            reason=claim_reason(request.task_id, outcome, lease, me, globs, blockers, latest),
        )

    def release(self, task_id: str) -> ReleaseResult:
        check_task_id(task_id)
        outcome, span_id, lease, _, _ = self._append(_Request(task_id, "release"))
        if outcome == "released":
            return ReleaseResult(
                task_id=task_id,
                released=True,
                you=self.agent_id,
                span_id=span_id,
                reason=f"released: {task_id!r} and any paths reserved with it are free for any agent to claim",
            )
        # The refused attempt is still a span (span_id), so the history shows who tried.
        if lease is not None:
            why = f"it is held by {lease.holder} until {_when(lease.expires_ns)}; only the holder can release it"
        else:
            why = "nobody holds a live claim on it (never claimed, already released, or the lease lapsed)"
        raise Conflict(f"release of {task_id!r} refused: {why}. Recorded as span {span_id}; nothing changed.")

    def holder(self, task_id: str) -> Lease | None:
        """The live lease on a task now, if any."""
        now = self.now_ns()
        events = self.store.claim_events([task_id])
        folded = self._fold(task_id, events, now, any(e.paths for e in events))
        return folded.task(task_id).lease_at(now)

    def _append(self, request: _Request) -> _Appended:
        """Append one claim/release event to the task's trace and say what it did."""
        if self.transactional:
            return self._append_in_transaction(request)
        return self._append_then_settle(request)

    # -- readiness ---------------------------------------------------------------------------

    def find_ready(self, task_type: str | None = None, limit: int = 50) -> ReadyTasks:
        """Planned tasks whose dependencies are complete and that no other agent holds, oldest first."""
        return find_ready(self.store, self.agent_id, self.now_ns(), task_type, limit, self._declared)

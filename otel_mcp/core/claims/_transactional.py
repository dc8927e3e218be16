"""Appending a claim event on a transactional store (SQLite): read, decide and append in one transaction.

See `otel_mcp.core.claims.service` for why the outcome decided here is final.
"""

from __future__ import annotations

from typing import Any

from otel_mcp.core.claims._state import _Appended, _ClaimState, _Request
from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, Lease, LeaseFold, Outcome, fold_claims
from otel_mcp.core.claims.fold import expiry_text as _when
from otel_mcp.core.claims.reservations import path_history
from otel_mcp.core.claims.world import ReservationWorld, has_claim_log
from otel_mcp.store.base import CLAIM_SPAN, RELEASE_SPAN
from otel_mcp.telemetry import deferred_store_export, ref

__all__ = ["ATTR_CLAIM_EXPIRES_AT", "ATTR_CLAIM_HOLDER", "ATTR_CLAIM_OUTCOME"]

# Informational: what the writer decided. The fold never reads these, only action, agent, time, lease.
ATTR_CLAIM_OUTCOME = "otel_mcp.claim.outcome"
ATTR_CLAIM_HOLDER = "otel_mcp.claim.holder"
ATTR_CLAIM_EXPIRES_AT = "otel_mcp.claim.expires_at"

_FOLD_CACHE = 4096  # tasks whose folded claim history a process remembers
_SUCCESS: frozenset[str] = frozenset({"granted", "renewed", "released"})


class _InTransaction(_ClaimState):
    """The claim service's transactional append (a part of `ClaimService`)."""

    def _append_in_transaction(self, request: _Request) -> _Appended:
        store: Any = self.store
        task_id, me = request.task_id, self.agent_id
        name = CLAIM_SPAN if request.action == "claim" else RELEASE_SPAN
        attrs = self._attributes(request)
        try:
            with store.transaction() as db:
                # Read inside the write transaction: one transaction per claim instead of three, and the
                # same snapshot the decision is made on.
                anchor, latest = self._task_records(task_id, request.action)
                fold, last_ns = self._fold_so_far(task_id)
                # Strictly after everything already recorded: the new event is last in fold order, so the
                # outcome decided here is the one every later reader will fold to (even if a clock stepped back).
                start = max(self.now_ns(), last_ns + 1)
                blockers: tuple[Lease, ...] = ()
                with_paths = fold.has_paths or bool(request.paths)
                if with_paths:
                    # Paths make the outcome depend on other tasks: decide on the fold of every reserving
                    # task, and stamp the event after all of that history too.
                    fold, start, outcome, blockers = self._decide_with_paths(request, fold, start)
                else:
                    outcome = fold.apply(request.event(me, start))
                lease = fold.lease_at(start)
                attrs[ATTR_CLAIM_OUTCOME] = outcome
                if lease is not None:
                    attrs[ATTR_CLAIM_HOLDER] = lease.holder
                    attrs[ATTR_CLAIM_EXPIRES_AT] = _when(lease.expires_ns)
                with deferred_store_export() as captured:
                    record = self.telemetry.spans.emit(
                        name, attrs, parent=ref(anchor), start_ns=start, end_ns=start, ok=outcome in _SUCCESS
                    )
                store.export_in(db, captured)
        except BaseException:
            if self._world is not None:
                self._world.forget()  # it may hold this event, which did not commit
            raise
        if self._world is not None and with_paths:
            self._world.applied(record.span_id)
        if outcome in ("granted", "renewed"):
            fold.span_id = record.span_id
        # Only once committed: a rolled-back event must not be remembered.
        self._folds.pop(task_id, None)
        if len(self._folds) >= _FOLD_CACHE:  # a long session claims many tasks: forget the least recent
            del self._folds[next(iter(self._folds))]
        # The running reservation fold keeps changing its own copy; this cache must not see that.
        self._folds[task_id] = (fold.copy() if with_paths else fold, start)
        return _Appended(outcome, record.span_id, fold.lease_at(start), latest, blockers)

    def _decide_with_paths(
        self, request: _Request, fold: LeaseFold, start: int
    ) -> tuple[LeaseFold, int, Outcome, tuple[Lease, ...]]:
        """Inside the write transaction: the task's fold, the event's start, its outcome and blockers."""
        me, task_id = self.agent_id, request.task_id
        if not self._world_made:
            self._world = ReservationWorld(self.store) if has_claim_log(self.store) else None
            self._world_made = True
        if self._world is not None:
            world = self._world.catch_up(start, task_id, lambda: fold)
            start = max(start, self._world.last_ns + 1)
            outcome, blockers = self._world.apply(request.event(me, start))
            return world.tasks[task_id], start, outcome, blockers
        history = path_history(self.store.claim_events(active_since_ns=start - MAX_LEASE_S * NS), task_id)
        start = max([start, *(e.start_ns + 1 for e in history)])
        folded = fold_claims(history)
        outcome = folded.apply(request.event(me, start))
        return folded.task(task_id), start, outcome, folded.blocked.get("", ())

    def _fold_so_far(self, task_id: str) -> tuple[LeaseFold, int]:
        """The task's fold over its recorded history, and the start time of its last event (0 if none).

        Called inside the write transaction. Every writer on a transactional store stamps its event
        after all earlier ones, so the history only ever grows at the end: this process folds the new
        suffix onto what it folded before instead of re-reading a task's whole (growing) history.
        """
        cached = self._folds.get(task_id)
        if cached is None:
            fold, last_ns = LeaseFold(task_id), 0
            events = self.store.claim_events([task_id])
        else:
            fold, last_ns = cached[0].copy(), cached[1]
            events = self.store.claim_events([task_id], after_ns=last_ns)
        for event in events:
            fold.apply(event)
            last_ns = event.start_ns
        return fold, last_ns

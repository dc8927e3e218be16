"""One process's running fold of every task that reserves paths, kept up to date from a store's commit log.

A claim that involves paths is decided against every other task's reservation. Re-reading and
re-folding the claim history of every reserving task on each such claim costs time that grows with
that history (and each fold checks every claim against every live reservation). On a transactional
store that can list claim events in commit order (SQLite: `claim_log`), the claim service instead
keeps this fold and, inside each write transaction, folds only what was committed since.

That is exact because of how the service stamps events there: an event on a task whose history
names paths is stamped after every such event already recorded, so those events are committed in
fold order. Events of tasks that never named paths do not affect other tasks and are skipped, until
a task's first claim with paths: then its earlier history is folded on its own (it involved no
other task) and it joins. The fold is rebuilt from the store when it grows past `max_tasks` tasks
or when a transaction that applied to it did not commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, ClaimFold, Lease, LeaseFold, Outcome, fold_claims
from otel_mcp.core.claims.reservations import path_history
from otel_mcp.store.base import ClaimEvent

__all__ = ["ReservationWorld", "has_claim_log"]

_MAX_TASKS = 4096


def has_claim_log(store: object) -> bool:
    return callable(getattr(store, "claim_log", None))


class ReservationWorld:
    """The fold of every reserving task's claim history, as of a position in the store's commit log."""

    def __init__(self, store: Any, max_tasks: int = _MAX_TASKS) -> None:
        self._store = store
        self._max_tasks = max_tasks
        self._fold: ClaimFold | None = None
        self._position = 0
        self._own: set[str] = set()  # span ids this process applied before they were in the log
        self.last_ns = 0  # start of the latest event folded

    def catch_up(self, at_ns: int, task_id: str, task_fold: Callable[[], LeaseFold]) -> ClaimFold:
        """The fold as of everything committed, with `task_id` in it. Call inside the write transaction.

        `task_fold()` gives the task's own fold when it has to join (its history never named paths).
        """
        if self._fold is None or len(self._fold.tasks) > self._max_tasks:
            self._rebuild(at_ns)
        else:
            events, self._position = self._store.claim_log(self._position)
            for event in events:
                self._apply_logged(event)
        world = self._fold
        assert world is not None
        if task_id not in world.tasks:
            world.tasks[task_id] = task_fold().copy()
        return world

    def applied(self, span_id: str) -> None:
        """This process's own event, already folded, is committed: skip it when the log shows it."""
        self._own.add(span_id)

    def forget(self) -> None:
        """A transaction that changed the fold did not commit: rebuild on next use."""
        self._fold = None

    def apply(self, event: ClaimEvent) -> tuple[Outcome, tuple[Lease, ...]]:
        """Fold the next event: what it did and, if it was denied for its paths, the reservations it ran into."""
        assert self._fold is not None
        outcome = self._fold.apply(event)
        blockers = self._fold.blocked.pop(event.span_id, ())
        self._fold.outcomes.clear()  # the answer is returned here; keep memory flat
        self.last_ns = max(self.last_ns, event.start_ns)
        return outcome, blockers

    def _rebuild(self, at_ns: int) -> None:
        _, self._position = self._store.claim_log(None)
        history = path_history(self._store.claim_events(active_since_ns=at_ns - MAX_LEASE_S * NS))
        self._fold = fold_claims(history)
        self._fold.outcomes.clear()
        self._fold.blocked.clear()
        self._own.clear()
        self.last_ns = max((e.start_ns for e in history), default=0)

    def _apply_logged(self, event: ClaimEvent) -> None:
        assert self._fold is not None
        if event.span_id in self._own:
            self._own.discard(event.span_id)
            return
        if event.task_id not in self._fold.tasks:
            if not event.paths:
                return  # a task that never named paths affects no other task
            alone = LeaseFold(event.task_id)
            for earlier in self._store.claim_events([event.task_id]):
                if (earlier.start_ns, earlier.span_id) < (event.start_ns, event.span_id):
                    alone.apply(earlier)
            self._fold.tasks[event.task_id] = alone
        self.apply(event)

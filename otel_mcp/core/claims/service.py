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
from typing import Any, NamedTuple

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.claims.fold import (
    DEFAULT_LEASE_S,
    MAX_LEASE_S,
    MIN_LEASE_S,
    NS,
    ClaimFold,
    Lease,
    LeaseFold,
    Outcome,
    fold_claims,
)
from otel_mcp.core.claims.fold import expiry_text as _when
from otel_mcp.core.claims.globs import check_paths
from otel_mcp.core.claims.readiness import DeclaredPaths, find_ready
from otel_mcp.core.claims.reservations import path_history, reservation_fold
from otel_mcp.core.claims.results import ClaimResult, ReadyTasks, ReleaseResult
from otel_mcp.core.claims.texts import claim_reason, path_conflicts
from otel_mcp.core.claims.world import ReservationWorld, has_claim_log
from otel_mcp.errors import Conflict, InvalidArgument, StoreUnavailable, excerpt
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, SpanRecord, check_task_id
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_PATHS_ATTR,
    CLAIM_SHARED_ATTR,
    CLAIM_SPAN,
    RELEASE_SPAN,
    ClaimEvent,
    Store,
)
from otel_mcp.telemetry import Telemetry, deferred_store_export, ref

__all__ = ["ATTR_CLAIM_EXPIRES_AT", "ATTR_CLAIM_HOLDER", "ATTR_CLAIM_OUTCOME", "ClaimService"]

# Informational: what the writer decided. The fold never reads these, only action, agent, time, lease.
ATTR_CLAIM_OUTCOME = "otel_mcp.claim.outcome"
ATTR_CLAIM_HOLDER = "otel_mcp.claim.holder"
ATTR_CLAIM_EXPIRES_AT = "otel_mcp.claim.expires_at"

_FOLD_CACHE = 4096  # tasks whose folded claim history a process remembers
_SUCCESS: frozenset[str] = frozenset({"granted", "renewed", "released"})


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


class ClaimService:
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

    # -- appending on a transactional store (SQLite): read, decide and append in one transaction --

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

    # -- appending on an append-only store (ClickHouse): append, wait until visible and settled, fold --

    def _append_then_settle(self, request: _Request) -> _Appended:
        task_id, action = request.task_id, request.action
        anchor, latest = self._task_records(task_id, action)
        attrs = self._attributes(request)
        start = self.now_ns()
        name = CLAIM_SPAN if action == "claim" else RELEASE_SPAN
        record = self.telemetry.spans.emit(name, attrs, parent=ref(anchor), start_ns=start, end_ns=start)
        deadline = time.monotonic() + self.visible_timeout_s
        delay = 0.01
        while True:
            events = self.store.claim_events([task_id])
            if any(e.span_id == record.span_id for e in events):
                break
            if time.monotonic() >= deadline:
                if action == "claim":
                    # If the claim surfaces later and wins the fold, this release frees the task again.
                    release = self._attributes(_Request(task_id, "release"))
                    self.telemetry.spans.emit(RELEASE_SPAN, release, parent=ref(anchor))
                raise StoreUnavailable(
                    f"the {action} of {task_id!r} was written (span {record.span_id}) but did not "
                    f"become readable within {self.visible_timeout_s:g}s, so its outcome is unknown; retry the call"
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.5)
        # Wait out the window in which an earlier-stamped claim could still appear, then fold again.
        settle_until = start + int(self.settle_s * NS)
        while (now := self.now_ns()) < settle_until:
            self._sleep((settle_until - now) / NS)
        events = self.store.claim_events([task_id])
        world = self._fold(task_id, events, start, any(e.paths for e in events))
        lease = world.task(task_id).lease_at(max(start, now))
        outcome, blockers = world.outcomes[record.span_id], world.blocked.get(record.span_id, ())
        return _Appended(outcome, record.span_id, lease, latest, blockers)

"""Claims and readiness: exactly one live holder per task, and "what can I do next".

A claim is not a row that gets updated: every claim attempt, renewal and release is an appended
span (`task_claim` / `task_release`, `otel_mcp.claim.*` attributes, `task.id`, never
`task.status`). Who holds a task at any instant is a deterministic fold over that task's claim
history in (start time, span id) order:

- a claim while nobody holds a live lease grants it to the claimant until start + lease;
- a claim by the live holder renews: the lease now runs until this claim's start + lease;
- a claim by anyone else while a lease is live is denied (and changes nothing);
- a release by the live holder frees the task; a release by anyone else changes nothing.

Every reader folding the same history gets the same holder, so the store never needs an update,
only appends and reads. That is what lets the same semantics hold on ClickHouse.

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
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import Field

from otel_mcp.core.results import Result
from otel_mcp.core.tasks import Coordinator, check_limit, check_task_type
from otel_mcp.errors import Conflict, InvalidArgument, StoreUnavailable
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, SpanRecord, check_task_id, format_time
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_SPAN,
    RELEASE_SPAN,
    ClaimEvent,
    Store,
    TaskState,
)
from otel_mcp.telemetry import deferred_store_export

__all__ = [
    "ATTR_CLAIM_EXPIRES_AT",
    "ATTR_CLAIM_HOLDER",
    "ATTR_CLAIM_OUTCOME",
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "MIN_LEASE_S",
    "ClaimResult",
    "ClaimService",
    "Lease",
    "LeaseFold",
    "ReadyTask",
    "ReadyTasks",
    "ReleaseResult",
    "find_cycle",
    "fold_claims",
]

MIN_LEASE_S = 1
MAX_LEASE_S = 86_400
DEFAULT_LEASE_S = 600
# Informational: what the writer decided. The fold never reads these, only action, agent, time, lease.
ATTR_CLAIM_OUTCOME = "otel_mcp.claim.outcome"
ATTR_CLAIM_HOLDER = "otel_mcp.claim.holder"
ATTR_CLAIM_EXPIRES_AT = "otel_mcp.claim.expires_at"

_NS = 1_000_000_000
_FOLD_CACHE = 4096  # tasks whose folded claim history a process remembers

Outcome = Literal["granted", "renewed", "denied", "released", "refused"]


# -- the fold ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lease:
    """A live hold on a task."""

    task_id: str
    holder: str
    expires_ns: int
    span_id: str  # the claim that granted or last renewed it


class LeaseFold:
    """One task's holder, folded over its claim history in (start time, span id) order."""

    __slots__ = ("expires_ns", "holder", "span_id", "task_id")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.holder: str | None = None
        self.expires_ns = 0
        self.span_id = ""

    def copy(self) -> LeaseFold:
        other = LeaseFold(self.task_id)
        other.holder, other.expires_ns, other.span_id = self.holder, self.expires_ns, self.span_id
        return other

    def lease_at(self, at_ns: int) -> Lease | None:
        """The live lease at `at_ns`, if any (a lease is live strictly before its expiry)."""
        if self.holder is None or at_ns >= self.expires_ns:
            return None
        return Lease(self.task_id, self.holder, self.expires_ns, self.span_id)

    def apply(self, event: ClaimEvent) -> Outcome:
        """Apply the next event (it must not precede any applied one) and say what it did."""
        live = self.lease_at(event.start_ns)
        if event.action == "claim":
            lease_ns = min(max(event.lease_s, 0), MAX_LEASE_S) * _NS
            if live is None:
                self.holder, self.expires_ns, self.span_id = event.agent_id, event.start_ns + lease_ns, event.span_id
                return "granted"
            if live.holder == event.agent_id:
                self.expires_ns, self.span_id = event.start_ns + lease_ns, event.span_id
                return "renewed"
            return "denied"
        if live is not None and live.holder == event.agent_id:
            self.holder, self.expires_ns, self.span_id = None, 0, ""
            return "released"
        return "refused"


def fold_claims(events: Iterable[ClaimEvent]) -> tuple[dict[str, LeaseFold], dict[str, Outcome]]:
    """Fold every task's history: the state per task, and what each event (by span id) did."""
    folds: dict[str, LeaseFold] = {}
    outcomes: dict[str, Outcome] = {}
    for event in sorted(events, key=lambda e: (e.start_ns, e.span_id)):
        fold = folds.get(event.task_id)
        if fold is None:
            fold = folds[event.task_id] = LeaseFold(event.task_id)
        outcomes[event.span_id] = fold.apply(event)
    return folds, outcomes


# -- results -----------------------------------------------------------------------------------


class ClaimResult(Result):
    task_id: str
    granted: bool = Field(description="true when you hold the task now (newly granted or renewed)")
    outcome: Literal["granted", "renewed", "denied"]
    holder: str | None = Field(description="the agent holding the task after this call")
    you: str = Field(description="your agent id, from the server's configuration")
    expires_at: str | None = Field(default=None, description="UTC time the holder's lease lapses")
    lease_seconds_left: float | None = None
    span_id: str = Field(description="the claim span: the claim history is in the trace")
    task_status: str | None = Field(default=None, description="the task's latest recorded status, if any")
    reason: str


class ReleaseResult(Result):
    task_id: str
    released: bool
    you: str
    span_id: str
    reason: str


class ReadyTask(Result):
    task_id: str
    task_type: str | None = None
    depends_on: list[str] = Field(default_factory=list, description="all complete")
    planned_by: str | None = Field(default=None, description="agent that recorded the plan")
    planned_at: str = Field(description="UTC time of the 'planned' record")
    span_id: str = Field(description="the 'planned' record")
    held_by_you: bool = Field(default=False, description="you already hold a live claim on it")
    lease_expires_at: str | None = None


class ReadyTasks(Result):
    tasks: list[ReadyTask] = Field(description="oldest plan first; claim_task one before starting it")
    count: int
    ready_total: int = Field(description="ready tasks before `limit` was applied")
    waiting: int = Field(description="planned tasks still waiting on dependencies")
    held_by_others: int = Field(description="ready tasks skipped because another agent holds a live claim")


# -- helpers -----------------------------------------------------------------------------------


class _Appended(NamedTuple):
    outcome: Outcome
    span_id: str
    lease: Lease | None  # the lease after the event
    latest: SpanRecord | None  # the task's latest status record


def _check_lease(lease_seconds: object) -> int:
    if (
        isinstance(lease_seconds, bool)
        or not isinstance(lease_seconds, int | float)
        or lease_seconds != int(lease_seconds)
        or not MIN_LEASE_S <= lease_seconds <= MAX_LEASE_S
    ):
        raise InvalidArgument(
            f"lease_seconds must be a whole number of seconds from {MIN_LEASE_S} to {MAX_LEASE_S} (24 h); got "
            f"{lease_seconds!r}. Claim for about as long as the next step takes and renew by claiming again."
        )
    return int(lease_seconds)


@functools.lru_cache(maxsize=64)  # one claim formats the same expiry for its span, reason and answer
def _when(ns: int) -> str:
    return format_time(ns) + " UTC"


def find_cycle(start: Iterable[str], edges: Callable[[str], Sequence[str]]) -> list[str] | None:
    """A dependency cycle reachable from `start`, as a path that returns to its first node; else None.

    Iterative three-colour depth-first search: every node is expanded once, so a cyclic graph costs
    no more than an acyclic one and never loops.
    """
    colour: dict[str, int] = {}  # missing: unseen, 1: on the current path, 2: done
    for root in start:
        if root in colour:
            continue
        path: list[str] = [root]
        stack: list[Iterable[str]] = [iter(edges(root))]
        colour[root] = 1
        while stack:
            nxt = next(stack[-1], None)  # type: ignore[call-overload]
            if nxt is None:
                colour[path.pop()] = 2
                stack.pop()
                continue
            state = colour.get(nxt)
            if state == 1:
                return [*path[path.index(nxt) :], nxt]
            if state is None:
                colour[nxt] = 1
                path.append(nxt)
                stack.append(iter(edges(nxt)))
    return None


# -- the service -------------------------------------------------------------------------------


class ClaimService:
    """claim_task, release_task and find_ready over any Store.

    `now_ns` is injectable so tests move time instead of sleeping; `settle_s` and `visible_timeout_s`
    only matter on append-only stores (see the module docstring).
    """

    def __init__(
        self,
        store: Store,
        coordinator: Coordinator,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        settle_s: float = 2.0,
        visible_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.coordinator = coordinator
        self.now_ns = now_ns
        self._sleep = sleep
        self.settle_s = settle_s
        self.visible_timeout_s = visible_timeout_s
        # Transactional stores: task id -> (fold over its claim history, start of the last folded event).
        self._folds: dict[str, tuple[LeaseFold, int]] = {}

    @property
    def agent_id(self) -> str:
        return self.coordinator.agent_id

    @property
    def transactional(self) -> bool:
        return callable(getattr(self.store, "transaction", None)) and callable(getattr(self.store, "export_in", None))

    # -- claim / release ---------------------------------------------------------------------

    def claim(self, task_id: str, lease_seconds: int = DEFAULT_LEASE_S) -> ClaimResult:
        check_task_id(task_id)
        lease_s = _check_lease(lease_seconds)
        outcome, span_id, lease, latest = self._append(task_id, "claim", lease_s)
        now = self.now_ns()
        me = self.agent_id
        if outcome in ("granted", "renewed"):
            assert lease is not None
            reason = (
                f"{outcome}: you hold {task_id!r} until {_when(lease.expires_ns)}. Claim again before then to renew; "
                "release_task when done so others need not wait for the lease to lapse."
            )
        elif lease is not None:
            reason = (
                f"denied: {task_id!r} is held by {lease.holder} until {_when(lease.expires_ns)}. Pick another task "
                "with find_ready, or claim again after that time."
            )
        else:  # only reachable on append-only stores when the winner released in between
            reason = f"denied: another agent's earlier claim on {task_id!r} won; it is free now, claim again."
        if latest is not None and latest.task_status in ("complete", "failed"):
            reason += f" Note: the task's latest record says {latest.task_status!r} ({latest.span_id})."
        return ClaimResult(
            task_id=task_id,
            granted=outcome in ("granted", "renewed"),
            outcome=outcome,  # type: ignore[arg-type]
            holder=lease.holder if lease else None,
            you=me,
            expires_at=_when(lease.expires_ns) if lease else None,
            lease_seconds_left=round(max(lease.expires_ns - now, 0) / _NS, 3) if lease else None,
            span_id=span_id,
            task_status=latest.task_status if latest else None,
            reason=reason,
        )

    def release(self, task_id: str) -> ReleaseResult:
        check_task_id(task_id)
        outcome, span_id, lease, _ = self._append(task_id, "release", 0)
        if outcome == "released":
            return ReleaseResult(
                task_id=task_id,
                released=True,
                you=self.agent_id,
                span_id=span_id,
                reason=f"released: {task_id!r} is free for any agent to claim",
            )
        # The refused attempt is still a span (span_id), so the history shows who tried.
        if lease is not None:
            why = f"it is held by {lease.holder} until {_when(lease.expires_ns)}; only the holder can release it"
        else:
            why = "nobody holds a live claim on it (never claimed, already released, or the lease lapsed)"
        raise Conflict(f"release of {task_id!r} refused: {why}. Recorded as span {span_id}; nothing changed.")

    def holder(self, task_id: str) -> Lease | None:
        """The live lease on a task now, if any."""
        folds, _ = fold_claims(self.store.claim_events([task_id]))
        fold = folds.get(task_id)
        return fold.lease_at(self.now_ns()) if fold else None

    def _attributes(self, task_id: str, action: str, lease_s: int) -> dict[str, Any]:
        attrs: dict[str, Any] = {ATTR_TASK_ID: task_id, ATTR_SOURCE: "agent", CLAIM_ACTION_ATTR: action}
        if action == "claim":
            attrs[CLAIM_LEASE_ATTR] = lease_s
        return attrs

    def _append(self, task_id: str, action: str, lease_s: int) -> _Appended:
        """Append one claim/release event to the task's trace and say what it did.

        Returns the outcome, the event's span id, the lease after it, and the task's latest status record.
        """
        name = CLAIM_SPAN if action == "claim" else RELEASE_SPAN
        attrs = self._attributes(task_id, action, lease_s)
        if self.transactional:
            return self._append_in_transaction(task_id, name, attrs, action, lease_s)
        return self._append_then_settle(task_id, name, attrs)

    def _task_records(self, task_id: str, action: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        """The task's first status record (the span its events hang under) and, for a claim, its latest one."""
        if action != "claim":
            return self.coordinator.anchor(task_id), None
        return self.coordinator.status_bounds(task_id)

    def _append_in_transaction(
        self, task_id: str, name: str, attrs: dict[str, Any], action: str, lease_s: int
    ) -> _Appended:
        store: Any = self.store
        with store.transaction() as db:
            # Read inside the write transaction: one transaction per claim instead of three, and the
            # same snapshot the decision is made on.
            anchor, latest = self._task_records(task_id, action)
            fold, last_ns = self._fold_so_far(task_id)
            # Strictly after everything already recorded: the new event is last in fold order, so the
            # outcome decided here is the one every later reader will fold to (even if a clock stepped back).
            start = max(self.now_ns(), last_ns + 1)
            outcome = fold.apply(ClaimEvent(task_id, action, self.agent_id, start, "", lease_s))
            lease = fold.lease_at(start)
            attrs[ATTR_CLAIM_OUTCOME] = outcome
            if lease is not None:
                attrs[ATTR_CLAIM_HOLDER] = lease.holder
                attrs[ATTR_CLAIM_EXPIRES_AT] = _when(lease.expires_ns)
            with deferred_store_export() as captured:
                record = self.coordinator.emit(
                    name, attrs, anchor=anchor, start_ns=start, end_ns=start, ok=outcome in _SUCCESS
                )
            store.export_in(db, captured)
        if outcome in ("granted", "renewed"):
            fold.span_id = record.span_id
        # Only once committed: a rolled-back event must not be remembered.
        self._folds.pop(task_id, None)
        if len(self._folds) >= _FOLD_CACHE:  # a long session claims many tasks: forget the least recent
            del self._folds[next(iter(self._folds))]
        self._folds[task_id] = (fold, start)
        return _Appended(outcome, record.span_id, fold.lease_at(start), latest)

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

    def _append_then_settle(self, task_id: str, name: str, attrs: dict[str, Any]) -> _Appended:
        anchor, latest = self._task_records(task_id, attrs[CLAIM_ACTION_ATTR])
        start = self.now_ns()
        record = self.coordinator.emit(name, attrs, anchor=anchor, start_ns=start, end_ns=start)
        deadline = time.monotonic() + self.visible_timeout_s
        delay = 0.01
        while True:
            events = self.store.claim_events([task_id])
            if any(e.span_id == record.span_id for e in events):
                break
            if time.monotonic() >= deadline:
                if attrs[CLAIM_ACTION_ATTR] == "claim":
                    # If the claim surfaces later and wins the fold, this release frees the task again.
                    self.coordinator.emit(RELEASE_SPAN, self._attributes(task_id, "release", 0), anchor=anchor)
                raise StoreUnavailable(
                    f"the {attrs[CLAIM_ACTION_ATTR]} of {task_id!r} was written (span {record.span_id}) but did not "
                    f"become readable within {self.visible_timeout_s:g}s, so its outcome is unknown; retry the call"
                )
            self._sleep(delay)
            delay = min(delay * 2, 0.5)
        # Wait out the window in which an earlier-stamped claim could still appear, then fold again.
        settle_until = start + int(self.settle_s * _NS)
        while (now := self.now_ns()) < settle_until:
            self._sleep((settle_until - now) / _NS)
        folds, outcomes = fold_claims(self.store.claim_events([task_id]))
        outcome = outcomes[record.span_id]
        fold = folds[task_id]
        return _Appended(outcome, record.span_id, fold.lease_at(max(start, self.now_ns())), latest)

    # -- readiness ---------------------------------------------------------------------------

    def find_ready(self, task_type: str | None = None, limit: int = 50) -> ReadyTasks:
        if task_type is not None:
            check_task_type(task_type)
        check_limit(limit)
        now = self.now_ns()
        me = self.agent_id
        tasks: Mapping[str, TaskState] = {t.task_id: t for t in self.store.task_index()}
        # A lease granted more than MAX_LEASE_S ago has lapsed, so only tasks with recent events can be held.
        folds, _ = fold_claims(self.store.claim_events(active_since_ns=now - MAX_LEASE_S * _NS))
        ready: list[tuple[TaskState, Lease | None]] = []
        waiting: list[str] = []
        held_by_others = 0
        for task in tasks.values():
            if task.status != "planned" or (task_type is not None and task.task_type != task_type):
                continue
            for dep in task.depends_on:
                state = tasks.get(dep)
                if state is None or state.status != "complete":
                    waiting.append(task.task_id)
                    break
            else:
                fold = folds.get(task.task_id)
                lease = fold.lease_at(now) if fold else None
                if lease is not None and lease.holder != me:
                    held_by_others += 1
                else:
                    ready.append((task, lease))
        # Only planned tasks can deadlock each other: a started/failed/blocked dependency is already out
        # of the planning loop and will resolve (or be seen as failed) without any planned task moving.
        cycle = find_cycle(
            waiting,
            lambda t: [d for d in tasks[t].depends_on if d in tasks and tasks[d].status == "planned"],
        )
        if cycle:
            raise Conflict(
                "dependency cycle among planned tasks: " + " -> ".join(cycle) + ". None of them can ever become "
                "ready. Re-record one of them with a corrected depends_on, or with status 'blocked' if the plan "
                "needs a person."
            )
        ready.sort(key=lambda pair: (pair[0].start_ns, pair[0].task_id))
        chosen = [
            ReadyTask(
                task_id=t.task_id,
                task_type=t.task_type,
                depends_on=list(t.depends_on),
                planned_by=t.agent_id,
                planned_at=format_time(t.start_ns),
                span_id=t.span_id,
                held_by_you=lease is not None,
                lease_expires_at=_when(lease.expires_ns) if lease else None,
            )
            for t, lease in ready[:limit]
        ]
        return ReadyTasks(
            tasks=chosen,
            count=len(chosen),
            ready_total=len(ready),
            waiting=len(waiting),
            held_by_others=held_by_others,
        )


_SUCCESS: frozenset[str] = frozenset({"granted", "renewed", "released"})

"""The lease fold: who holds a task, decided by folding its claim history in (start time, span id) order.

A claim is not a row that gets updated: every claim attempt, renewal and release is an appended
span (`task_claim` / `task_release`, `otel_mcp.claim.*` attributes, `task.id`, never
`task.status`). Who holds a task at any instant is a deterministic fold over that history:

- a claim while nobody holds a live lease grants it to the claimant until start + lease;
- a claim by the live holder renews: the lease now runs until this claim's start + lease;
- a claim by anyone else while a lease is live is denied (and changes nothing);
- a release by the live holder frees the task; a release by anyone else changes nothing.

Every reader folding the same history gets the same holder, so the store never needs an update,
only appends and reads. That is what lets the same semantics hold on ClickHouse.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from otel_mcp.model import format_time
from otel_mcp.store.base import ClaimEvent

__all__ = [
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "MIN_LEASE_S",
    "NS",
    "Lease",
    "LeaseFold",
    "Outcome",
    "expiry_text",
    "fold_claims",
]

MIN_LEASE_S = 1
MAX_LEASE_S = 86_400
DEFAULT_LEASE_S = 600
NS = 1_000_000_000

Outcome = Literal["granted", "renewed", "denied", "released", "refused"]


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
            lease_ns = min(max(event.lease_s, 0), MAX_LEASE_S) * NS
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


@functools.lru_cache(maxsize=64)  # one claim formats the same expiry for its span, reason and answer
def expiry_text(ns: int) -> str:
    """A lease expiry as people and models read it."""
    return format_time(ns) + " UTC"

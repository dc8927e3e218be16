"""The lease fold: who holds a task, decided by folding its claim history in (start time, span id) order.

A claim is not a row that gets updated: every claim attempt, renewal and release is an appended
span (`task_claim` / `task_release`, `otel_mcp.claim.*` attributes, `task.id`, never
`task.status`). Who holds a task at any instant is a deterministic fold over that history:

- a claim while nobody holds a live lease grants it to the claimant until start + lease;
- a claim by the live holder renews: the lease now runs until this claim's start + lease;
- a claim by anyone else while a lease is live is denied (and changes nothing);
- a release by the live holder frees the task; a release by anyone else changes nothing;
- a claim may reserve paths (globs) with its lease: one whose paths overlap a live reservation of
  another agent on another task is denied and changes nothing, even when its own task is free.
  A claim names its whole set; a renewal that names none keeps the set it holds, and one that
  names a new set is checked like a fresh claim (denied, the old lease and set stay as they were).

Every reader folding the same history gets the same holder, so the store never needs an update,
only appends and reads. That is what lets the same semantics hold on ClickHouse.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from otel_mcp.core.claims.globs import overlaps
from otel_mcp.core.claims.path_index import PathIndex
from otel_mcp.model import format_time
from otel_mcp.store.base import ClaimEvent

__all__ = [
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "MIN_LEASE_S",
    "NS",
    "ClaimFold",
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
    """A live hold on a task, and the paths it reserves."""

    task_id: str
    holder: str
    expires_ns: int
    span_id: str  # the claim that granted or last renewed it
    paths: tuple[str, ...] = ()
    shared: bool = False  # shared reservations conflict only with exclusive ones


class LeaseFold:
    """One task's holder and reservation, folded over its own claim history in (start time, span id) order.

    On its own it knows nothing of other tasks, so it is the whole truth only for a task whose history
    never carried paths (`has_paths` false); ClaimFold adds the check across tasks.
    """

    __slots__ = ("expires_ns", "has_paths", "holder", "paths", "shared", "span_id", "task_id")

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.holder: str | None = None
        self.expires_ns = 0
        self.span_id = ""
        self.paths: tuple[str, ...] = ()
        self.shared = False
        self.has_paths = False  # some claim in the history asked for paths

    def copy(self) -> LeaseFold:
        other = LeaseFold(self.task_id)
        other.holder, other.expires_ns, other.span_id = self.holder, self.expires_ns, self.span_id
        other.paths, other.shared, other.has_paths = self.paths, self.shared, self.has_paths
        return other

    def lease_at(self, at_ns: int) -> Lease | None:
        """The live lease at `at_ns`, if any (a lease is live strictly before its expiry)."""
        if self.holder is None or at_ns >= self.expires_ns:
            return None
        return Lease(self.task_id, self.holder, self.expires_ns, self.span_id, self.paths, self.shared)

    def wanted(self, event: ClaimEvent) -> tuple[tuple[str, ...], bool] | None:
        """The reservation a claim would hold if granted or renewed; None when the task's holder denies it.

        A claim names its whole set of paths; one that names none (`paths` absent) renews the set held.
        """
        live = self.lease_at(event.start_ns)
        if live is not None and live.holder != event.agent_id:
            return None
        if event.paths is not None:
            return event.paths, event.shared and bool(event.paths)
        return (live.paths, live.shared) if live is not None else ((), False)

    def apply(self, event: ClaimEvent) -> Outcome:
        """Apply the next event (it must not precede any applied one) and say what it did."""
        self.has_paths = self.has_paths or bool(event.paths)
        live = self.lease_at(event.start_ns)
        if event.action == "claim":
            wanted = self.wanted(event)
            if wanted is None:
                return "denied"
            lease_ns = min(max(event.lease_s, 0), MAX_LEASE_S) * NS
            self.holder, self.expires_ns, self.span_id = event.agent_id, event.start_ns + lease_ns, event.span_id
            self.paths, self.shared = wanted
            return "renewed" if live is not None else "granted"
        if live is not None and live.holder == event.agent_id:
            self.holder, self.expires_ns, self.span_id, self.paths, self.shared = None, 0, "", (), False
            return "released"
        return "refused"


class ClaimFold:
    """Every task's holder and reservation, folded over the claim history of all tasks at once.

    The task rule is LeaseFold's; on top, a claim whose paths overlap a live reservation held by
    another agent on another task is denied and changes nothing (shared reservations only conflict
    with exclusive ones). `blocked` keeps, per denied claim, the leases it ran into. A renewal that
    keeps or narrows its set is not checked again: a live reservation never overlaps a conflicting
    one of another agent, since each was checked against the other when granted.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, LeaseFold] = {}
        self.outcomes: dict[str, Outcome] = {}
        self.blocked: dict[str, tuple[Lease, ...]] = {}
        self._indexed: dict[str, tuple[str, ...]] = {}  # task -> the globs the index holds for it (maybe lapsed)
        self._index = PathIndex()

    def task(self, task_id: str) -> LeaseFold:
        fold = self.tasks.get(task_id)
        if fold is None:
            fold = self.tasks[task_id] = LeaseFold(task_id)
        return fold

    def reservations(self, at_ns: int) -> list[Lease]:
        """The live leases that reserve paths at `at_ns`, by task id."""
        out = []
        for task_id in sorted(self._indexed):
            lease = self._live(task_id, at_ns)
            if lease is not None:
                out.append(lease)
        return out

    def blockers(self, task_id: str, agent_id: str, paths: Sequence[str], shared: bool, at_ns: int) -> list[Lease]:
        """Other agents' live reservations on other tasks that `paths` overlap at `at_ns`, by task id."""
        found = []
        for other in sorted(self._index.candidates(paths)):
            if other == task_id:
                continue
            lease = self._live(other, at_ns)
            if lease is None or lease.holder == agent_id or (shared and lease.shared):
                continue
            if any(overlaps(mine, theirs) for mine in paths for theirs in lease.paths):
                found.append(lease)
        return found

    def apply(self, event: ClaimEvent) -> Outcome:
        """Apply the next event in (start time, span id) order and say what it did."""
        fold = self.task(event.task_id)
        if event.paths and event.action == "claim":  # a claim naming no paths keeps or drops them: no conflict
            wanted = fold.wanted(event)
            if wanted is not None and wanted[0] and not _narrows(fold.lease_at(event.start_ns), *wanted):
                found = self.blockers(event.task_id, event.agent_id, *wanted, event.start_ns)
                if found:
                    fold.has_paths = True
                    self.blocked[event.span_id] = tuple(found)
                    self.outcomes[event.span_id] = "denied"
                    return "denied"
        outcome = self.outcomes[event.span_id] = fold.apply(event)
        self._reindex(fold)
        return outcome

    def _live(self, task_id: str, at_ns: int) -> Lease | None:
        fold = self.tasks[task_id]
        lease = fold.lease_at(at_ns)
        if lease is None and at_ns >= fold.expires_ns:  # events come in time order: lapsed stays lapsed
            self._index.remove(task_id, self._indexed.pop(task_id, ()))
        return lease if lease is not None and lease.paths else None

    def _reindex(self, fold: LeaseFold) -> None:
        held = fold.paths if fold.holder is not None else ()
        if held != self._indexed.get(fold.task_id, ()):
            self._index.remove(fold.task_id, self._indexed.pop(fold.task_id, ()))
            if held:
                self._index.add(fold.task_id, held)
                self._indexed[fold.task_id] = held


def _narrows(live: Lease | None, paths: tuple[str, ...], shared: bool) -> bool:
    """Whether a claim renews a live lease with a subset of its globs and no stronger hold."""
    return live is not None and set(paths) <= set(live.paths) and (shared or not live.shared)


def fold_claims(events: Iterable[ClaimEvent]) -> ClaimFold:
    """Fold the claim history of every task given: who holds what, and what each event (by span id) did."""
    world = ClaimFold()
    for event in sorted(events, key=lambda e: (e.start_ns, e.span_id)):
        world.apply(event)
    return world


@functools.lru_cache(maxsize=64)  # one claim formats the same expiry for its span, reason and answer
def expiry_text(ns: int) -> str:
    """A lease expiry as people and models read it."""
    return format_time(ns) + " UTC"

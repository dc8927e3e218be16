"""Path reservations as every reader sees them: who holds which paths now, and which files they cover.

Reservations live in the claim history (each claim span carries its globs, see `fold`), so these
readers fold that history like the claim service does: the tasks with claim activity within the
longest lease (a lease granted earlier has lapsed, and a task with no event since holds nothing).
A task's history matters across tasks only if some claim of it named paths; the others are left out.

`conflicts` is what the git pre-commit hook calls: which files a commit touches fall under another
agent's live exclusive reservation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, ClaimFold, expiry_text, fold_claims
from otel_mcp.core.claims.globs import covers
from otel_mcp.store.base import ClaimEvent, Store

__all__ = ["Conflict", "conflicts", "path_history", "reservation_fold"]


@dataclass(frozen=True, slots=True)
class Conflict:
    """A file under another agent's live exclusive reservation."""

    path: str  # the file, relative to the repository root
    holder: str
    task_id: str
    glob: str  # the holder's glob that covers it
    expires_ns: int

    @property
    def expires_at(self) -> str:
        return expiry_text(self.expires_ns)


def path_history(events: Iterable[ClaimEvent], task_id: str | None = None) -> list[ClaimEvent]:
    """The events of tasks some claim of which named paths (and of `task_id`, whatever it named)."""
    listed = list(events)
    keep = {e.task_id for e in listed if e.paths}
    if task_id is not None:
        keep.add(task_id)
    return [e for e in listed if e.task_id in keep]


def reservation_fold(store: Store, at_ns: int, task_id: str | None = None) -> ClaimFold:
    """The claim history folded as far as reservations need it, for their state at `at_ns`."""
    return fold_claims(path_history(store.claim_events(active_since_ns=at_ns - MAX_LEASE_S * NS), task_id))


def conflicts(store: Store, me: str | None, paths: Sequence[str], now_ns: int) -> list[Conflict]:
    """Which of these repository-relative file paths fall under another agent's live exclusive reservation.

    `me` is the committer's agent id (None for a person, whom every agent's reservation binds). One
    Conflict per file and reservation, naming the first of the holder's globs that covers the file;
    files first in the order given, then reservations oldest-expiring first.
    """
    if not paths:
        return []
    leases = [
        lease
        for lease in reservation_fold(store, now_ns).reservations(now_ns)
        if lease.holder != me and not lease.shared
    ]
    leases.sort(key=lambda lease: (lease.expires_ns, lease.task_id))
    found: list[Conflict] = []
    for path in paths:
        for lease in leases:
            glob = next((g for g in lease.paths if covers(g, path)), None)
            if glob is not None:
                found.append(Conflict(path, lease.holder, lease.task_id, glob, lease.expires_ns))
    return found

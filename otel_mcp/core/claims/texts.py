"""What a claim's answer says: the reason sentence and the path conflicts, written for the model that reads them."""

from __future__ import annotations

from collections.abc import Sequence

from otel_mcp.core.claims.fold import Lease, Outcome
from otel_mcp.core.claims.fold import expiry_text as _when
from otel_mcp.core.claims.globs import overlapping
from otel_mcp.core.claims.results import PathConflict
from otel_mcp.model import SpanRecord

__all__ = ["claim_reason", "path_conflicts"]

_SHOWN = 3  # conflicts spelled out in the reason; the `conflicts` field lists them all


def path_conflicts(mine: Sequence[str], blockers: Sequence[Lease]) -> list[PathConflict]:
    """Each blocking reservation with the globs on both sides that overlap."""
    out = []
    for lease in blockers:
        pairs = overlapping(mine, lease.paths)
        out.append(
            PathConflict(
                holder=lease.holder,
                task_id=lease.task_id,
                paths=list(dict.fromkeys(theirs for _, theirs in pairs)),
                overlapping=list(dict.fromkeys(own for own, _ in pairs)),
                expires_at=_when(lease.expires_ns),
            )
        )
    return out


def _held(task_id: str, lease: Lease) -> str:
    what = f"you hold {task_id!r} until {_when(lease.expires_ns)}"
    if lease.paths:
        what += f", reserving {list(lease.paths)}" + (" (shared)" if lease.shared else "")
    return what


def _blocked(task_id: str, mine: Sequence[str], blockers: Sequence[Lease], lease: Lease | None, me: str) -> str:
    parts = []
    for c in path_conflicts(mine, blockers)[:_SHOWN]:
        parts.append(
            f"{c.holder} reserves {c.paths} for task {c.task_id!r} until {c.expires_at} (your {c.overlapping} overlap)"
        )
    more = f"; and {len(blockers) - _SHOWN} more (see conflicts)" if len(blockers) > _SHOWN else ""
    text = f"denied: your paths overlap another agent's live reservation: {'; '.join(parts)}{more}. Nothing changed"
    if lease is not None and lease.holder == me:
        text += f"; {_held(task_id, lease)}"
    first = blockers[0]
    return (
        text + ". Pick a task whose paths are free (find_ready lists conflicts_with), claim again without the "
        f"overlapping paths, wait until the lease lapses, or ask {first.holder} to release_task {first.task_id!r}."
    )


def claim_reason(
    task_id: str,
    outcome: Outcome,
    lease: Lease | None,
    me: str,
    paths: Sequence[str] | None,
    blockers: Sequence[Lease],
    latest: SpanRecord | None,
) -> str:
    """The sentence a claim answers with: what happened and what to do next."""
    if outcome in ("granted", "renewed"):
        assert lease is not None
        reason = (
            f"{outcome}: {_held(task_id, lease)}. Claim again before then to renew (omit paths to keep them); "
            "release_task when done so others need not wait for the lease to lapse."
        )
    elif blockers:
        reason = _blocked(task_id, paths or (), blockers, lease, me)
    elif lease is not None:
        reason = (
            f"denied: {task_id!r} is held by {lease.holder} until {_when(lease.expires_ns)}. Pick another task "
            "with find_ready, or claim again after that time."
        )
    else:  # only reachable on append-only stores when the winner released in between
        reason = f"denied: another agent's earlier claim on {task_id!r} won; it is free now, claim again."
    if latest is not None and latest.task_status in ("complete", "failed"):
        reason += f" Note: the task's latest record says {latest.task_status!r} ({latest.span_id})."
    return reason

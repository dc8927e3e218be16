"""The Now screen: one row per agent, what it holds, what it reserves, when it last did anything.

An agent is listed when it wrote the latest record of some task, holds a live claim, or left any
span among the newest ones. It is *working* while it has work in hand (a live claim, or a task it
last recorded as started) and recorded something lately; *stuck* with work in hand and nothing
recorded for `stuck_after_s`; *idle* with nothing in hand.
"""

from __future__ import annotations

from collections import defaultdict

from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, Lease, fold_claims
from otel_mcp.core.claims.fold import expiry_text as _expiry
from otel_mcp.core.overview.filters import ViewFilter
from otel_mcp.core.overview.marks import GateMarks
from otel_mcp.core.overview.results import AgentNow, HeldTask, NowView
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store, TaskState

__all__ = ["RECENT_SPANS", "STUCK_AFTER_S", "build_now"]

STUCK_AFTER_S = 300.0
RECENT_SPANS = 500  # the newest spans read to learn each agent's last activity (beside its task records)


def _ms(ns: int) -> float:
    return ns / 1e6


def build_now(
    store: Store,
    marks: GateMarks,
    now_ns: int,
    flt: ViewFilter,
    stuck_after_s: float = STUCK_AFTER_S,
) -> NowView:
    tasks = {t.task_id: t for t in store.task_index()}
    world = fold_claims(store.claim_events(active_since_ns=now_ns - MAX_LEASE_S * NS))
    leases: dict[str, list[Lease]] = defaultdict(list)
    for fold in world.tasks.values():
        lease = fold.lease_at(now_ns)
        if lease is not None:
            leases[lease.holder].append(lease)

    last: dict[str, SpanRecord] = {}
    for span in store.find_spans(SpanFilter(since_ns=0, limit=RECENT_SPANS)):  # newest first; by the time index
        if span.agent_id is not None:
            last.setdefault(span.agent_id, span)

    started: dict[str, list[TaskState]] = defaultdict(list)
    completed: dict[str, int] = defaultdict(int)
    newest_record: dict[str, int] = {}
    for task in tasks.values():
        if task.agent_id is None:
            continue
        newest_record[task.agent_id] = max(newest_record.get(task.agent_id, 0), task.start_ns)
        if task.status == "started":
            started[task.agent_id].append(task)
        elif task.status == "complete":
            completed[task.agent_id] += 1

    agents = sorted(set(last) | set(newest_record) | set(leases))
    rows = []
    for agent in agents:
        if not flt.agent_matches(agent):
            continue
        held: dict[str, HeldTask] = {}
        for lease in sorted(leases.get(agent, []), key=lambda le: le.task_id):
            state = tasks.get(lease.task_id)
            held[lease.task_id] = HeldTask(
                task_id=lease.task_id,
                status=state.status if state else None,
                task_type=state.task_type if state else None,
                since_ms=_ms(state.start_ns) if state else None,
                lease_until_ms=_ms(lease.expires_ns),
                lease_until=_expiry(lease.expires_ns),
                paths=list(lease.paths),
            )
        for begun in sorted(started.get(agent, []), key=lambda t: t.start_ns):
            held.setdefault(
                begun.task_id,
                HeldTask(
                    task_id=begun.task_id, status=begun.status, task_type=begun.task_type, since_ms=_ms(begun.start_ns)
                ),
            )
        shown = [h for h in held.values() if flt.task_matches(h.task_id)]
        if flt.prefix is not None and not shown:
            continue
        waiting = []
        for h in shown:
            if h.status != "complete":
                h.gates = marks.for_task(h.task_id, h.task_type)
                waiting += [f"{g.gate} for {h.task_id}" for g in h.gates if g.decision != "pass" or g.other_definition]
        newest = last.get(agent)
        last_ns = max(newest.end_ns if newest else 0, newest_record.get(agent, 0)) or None
        age = max(0.0, (now_ns - last_ns) / 1e9) if last_ns else None
        if not shown:
            doing = "idle"
        elif age is not None and age > stuck_after_s:
            doing = "stuck"
        else:
            doing = "working"
        rows.append(
            AgentNow(
                agent_id=agent,
                state=doing,
                tasks=shown,
                paths=sorted({p for h in shown for p in h.paths}),
                last_span_ms=_ms(last_ns) if last_ns else None,
                last_span_age_s=round(age, 3) if age is not None else None,
                last_span_name=newest.name if newest else None,
                waiting_on=waiting,
                completed=completed.get(agent, 0),
            )
        )
    order = {"stuck": 0, "working": 1, "idle": 2}
    rows.sort(key=lambda r: (order[r.state], r.agent_id))
    return NowView(now_ms=_ms(now_ns), stuck_after_s=stuck_after_s, agents=rows)

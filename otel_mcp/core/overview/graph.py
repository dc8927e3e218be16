"""The task graph: every task with its status, its dependencies as edges, who blocks whom, who holds it.

Read from the store's task index (each task as of its newest status record, the same index
`find_ready` reads) and the claim fold. A graph larger than `limit` tasks is collapsed: tasks are
grouped by the next segment of their id after the filter's prefix (`demo/api/x` under `demo/` is in
group `demo/api/`), so a page can open a group by filtering on its prefix.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, ClaimFold, fold_claims
from otel_mcp.core.overview.filters import ViewFilter
from otel_mcp.core.overview.marks import GateMarks
from otel_mcp.core.overview.results import GraphView, TaskGroup, TaskNode
from otel_mcp.store.base import Store, TaskState

__all__ = ["GRAPH_LIMIT", "build_graph", "group_of"]

GRAPH_LIMIT = 300  # tasks drawn one by one; beyond it the page gets groups


def group_of(task_id: str, prefix: str) -> str:
    """The group a task falls in under `prefix`: the prefix plus the next segment of its id."""
    rest = task_id[len(prefix) :]
    head, sep, _ = rest.partition("/")
    return prefix + head + sep if sep else prefix + head


def build_graph(store: Store, marks: GateMarks, now_ns: int, flt: ViewFilter, limit: int = GRAPH_LIMIT) -> GraphView:
    tasks = {t.task_id: t for t in store.task_index()}
    chosen = [
        t
        for t in tasks.values()
        if flt.task_matches(t.task_id) and flt.agent_matches(t.agent_id) and flt.time_matches(t.start_ns)
    ]
    chosen.sort(key=lambda t: t.task_id)
    waiting_for: dict[str, list[str]] = defaultdict(list)  # dependency -> the open tasks that wait for it
    for t in tasks.values():
        if t.status != "complete":
            for dep in t.depends_on:
                state = tasks.get(dep)
                if state is None or state.status != "complete":
                    waiting_for[dep].append(t.task_id)
    missing = sorted({d for t in chosen for d in t.depends_on if d not in tasks})
    if len(chosen) > limit:
        return GraphView(
            total=len(chosen), collapsed=True, tasks=[], groups=_groups(chosen, flt.prefix or ""), missing=missing[:100]
        )
    ids = [t.task_id for t in chosen]
    world = fold_claims(store.claim_events(ids, active_since_ns=now_ns - MAX_LEASE_S * NS)) if ids else ClaimFold()
    nodes = []
    for t in chosen:
        fold = world.tasks.get(t.task_id)
        lease = fold.lease_at(now_ns) if fold else None
        blocked_by = [d for d in t.depends_on if (tasks.get(d) is None or tasks[d].status != "complete")]
        nodes.append(
            TaskNode(
                task_id=t.task_id,
                task_type=t.task_type,
                status=t.status,
                agent_id=t.agent_id,
                updated_ms=t.start_ns / 1e6,
                depends_on=list(t.depends_on),
                blocked_by=blocked_by if t.status != "complete" else [],
                blocking=sorted(waiting_for.get(t.task_id, [])) if t.status != "complete" else [],
                holder=lease.holder if lease else None,
                lease_until_ms=lease.expires_ns / 1e6 if lease else None,
                gates=marks.for_task(t.task_id, t.task_type),
            )
        )
    return GraphView(total=len(chosen), collapsed=False, tasks=nodes, groups=[], missing=missing[:100])


def _groups(chosen: list[TaskState], prefix: str) -> list[TaskGroup]:
    # One group tells nothing: go down while every task shares the next segment.
    while len({group_of(t.task_id, prefix) for t in chosen}) == 1:
        deeper = group_of(chosen[0].task_id, prefix)
        if not deeper.endswith("/") or deeper == prefix:
            break
        prefix = deeper
    members: dict[str, list[TaskState]] = defaultdict(list)
    of: dict[str, str] = {}
    for t in chosen:
        group = group_of(t.task_id, prefix)
        members[group].append(t)
        of[t.task_id] = group
    out = []
    for group, ts in sorted(members.items()):
        deps = {of[d] for t in ts for d in t.depends_on if d in of and of[d] != group}
        out.append(
            TaskGroup(
                prefix=group,
                tasks=len(ts),
                by_status=dict(sorted(Counter(t.status for t in ts).items())),
                depends_on=sorted(deps),
            )
        )
    return out

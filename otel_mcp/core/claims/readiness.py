"""Readiness: planned tasks whose dependencies are complete and that no other agent holds.

`find_ready` reads the store's task index (every task as of its newest status record) and the
recent claim history, never a task's full history: a lease granted more than MAX_LEASE_S ago has
lapsed, so only tasks with recent claim events can be held.

A plan may declare the paths a task will touch (`record_task(..., attributes={"task.paths": [globs]})`
on its 'planned' record). Ready tasks whose declared paths overlap another agent's live reservation
are still listed, after the others, with `conflicts_with` naming those reservations: claiming them
with those paths would be denied until the reservation ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from otel_mcp.core.arguments import check_limit, check_task_type
from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, Lease, expiry_text, fold_claims
from otel_mcp.core.claims.globs import MAX_PATHS, check_glob, overlaps
from otel_mcp.core.claims.results import PathConflict, ReadyTask, ReadyTasks
from otel_mcp.core.claims.texts import path_conflicts
from otel_mcp.errors import Conflict, InvalidArgument
from otel_mcp.model import SpanRecord, format_time
from otel_mcp.store.base import Store, TaskState

__all__ = ["ATTR_TASK_PATHS", "DeclaredPaths", "declared_paths", "find_cycle", "find_ready"]

ATTR_TASK_PATHS = "task.paths"  # the globs a plan says the task will touch (an ordinary agent attribute)


def declared_paths(record: SpanRecord | None) -> tuple[str, ...]:
    """The valid globs a status record declares in `task.paths` (a list, or one glob as text); others are skipped."""
    value = record.attributes.get(ATTR_TASK_PATHS) if record is not None else None
    if value is None:
        return ()
    items = value if isinstance(value, tuple) else (value,)
    out = []
    for item in items[:MAX_PATHS]:
        try:
            out.append(check_glob(item))
        except InvalidArgument:
            continue  # a plan's typo must not hide the task; it just declares nothing there
    return tuple(dict.fromkeys(out))


class DeclaredPaths:
    """The paths each planned record declares, remembered by span id: a record never changes once written."""

    def __init__(self, limit: int = 100_000) -> None:
        self._known: dict[str, tuple[str, ...]] = {}
        self._limit = limit

    def of(self, store: Store, tasks: Sequence[TaskState]) -> dict[str, tuple[str, ...]]:
        """task id -> the paths its newest status record declares (the record find_ready lists)."""
        missing = [t.span_id for t in tasks if t.span_id not in self._known]
        if missing:
            if len(self._known) + len(missing) > self._limit:
                self._known.clear()
            records = store.get_spans(missing)
            for span_id in missing:
                self._known[span_id] = declared_paths(records.get(span_id))
        return {t.task_id: self._known[t.span_id] for t in tasks}


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


def find_ready(
    store: Store,
    me: str,
    now: int,
    task_type: str | None = None,
    limit: int = 50,
    declared: DeclaredPaths | None = None,
) -> ReadyTasks:
    """What `me` can do next at time `now`; a cycle among planned tasks is a Conflict naming it.

    `declared` remembers the paths plans declare across calls (a process keeps one).
    """
    if task_type is not None:
        check_task_type(task_type)
    check_limit(limit)
    tasks: Mapping[str, TaskState] = {t.task_id: t for t in store.task_index()}
    world = fold_claims(store.claim_events(active_since_ns=now - MAX_LEASE_S * NS))
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
            fold = world.tasks.get(task.task_id)
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
    theirs = [lease for lease in world.reservations(now) if lease.holder != me]
    # Declared paths matter for the order only when someone else reserves paths; else only the page shown needs them.
    ready.sort(key=lambda pair: (pair[0].start_ns, pair[0].task_id))
    paths = (declared or DeclaredPaths()).of(store, [t for t, _ in (ready if theirs else ready[:limit])])
    clashes: dict[str, list[PathConflict]] = {}
    for task, _lease in ready if theirs else ():
        globs = paths.get(task.task_id, ())
        hits = [le for le in theirs if le.task_id != task.task_id and _overlap(globs, le)] if globs else []
        if hits:
            clashes[task.task_id] = path_conflicts(globs, hits)
    ready.sort(key=lambda pair: pair[0].task_id in clashes)  # stable: oldest first within each group
    chosen = [
        ReadyTask(
            task_id=t.task_id,
            task_type=t.task_type,
            depends_on=list(t.depends_on),
            planned_by=t.agent_id,
            planned_at=format_time(t.start_ns),
            span_id=t.span_id,
            held_by_you=lease is not None,
            lease_expires_at=expiry_text(lease.expires_ns) if lease else None,
            paths=list(paths.get(t.task_id, ())),
            conflicts_with=clashes.get(t.task_id, []),
        )
        for t, lease in ready[:limit]
    ]
    return ReadyTasks(
        tasks=chosen,
        count=len(chosen),
        ready_total=len(ready),
        waiting=len(waiting),
        held_by_others=held_by_others,
        conflicting=len(clashes),
    )


def _overlap(declared: Sequence[str], lease: Lease) -> bool:
    return any(overlaps(mine, theirs) for mine in declared for theirs in lease.paths)

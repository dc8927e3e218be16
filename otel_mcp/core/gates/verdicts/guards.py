"""Guarded transitions: a task's progress (e.g. recording it complete) waits until its gates stand passed.

A gate with `guards: {task_types: [code_generation], status: complete}` makes `record_task` of
that transition refuse while the gate does not stand passed for the task on the current code (see
`standing`). The refusal names each gate and what to do; the same evaluation backs `otel-mcp gates
verify`, the git hooks and the host hooks, so every enforcement point gives one verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.gates.verdicts.standing import Standing
from otel_mcp.model import ATTR_TASK_TYPE
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import Predicate

__all__ = ["guarded_statuses", "guarding", "guarding_task", "refusal"]


def guarding(catalog: Catalog, task_type: str | None, status: str) -> list[str]:
    """The gates that guard this transition, by name, sorted."""
    if task_type is None:
        return []
    return sorted(
        name
        for name, loaded in catalog.gates.items()
        if loaded.gate.guards and loaded.gate.guards.covers(task_type, status)
    )


def guarding_task(catalog: Catalog, store: Store, task_id: str, task_type: str | None, status: str) -> list[str]:
    """The gates that guard this transition of this task: by `task_type` and by every type it was recorded with.

    A guard follows the task, not the label on its newest record: a code_generation task whose
    completion was refused and which is then recorded as `docs` is still a code_generation task.
    One indexed lookup per guarded type the task does not carry now.
    """
    names = set(guarding(catalog, task_type, status))
    for name, loaded in catalog.gates.items():
        guard = loaded.gate.guards
        if name in names or guard is None or guard.status != status:
            continue
        for kind in guard.task_types:
            # By the records' signed content: rewriting the task_type column must not lift a guard.
            where = (Predicate(ATTR_TASK_TYPE, "==", kind),)
            if kind != task_type and store.find_spans(SpanFilter(task_id=task_id, where=where, signed=True, limit=1)):
                names.add(name)
                break
    return sorted(names)


def guarded_statuses(catalog: Catalog) -> frozenset[str]:
    """The statuses some gate guards (a cheap first test before evaluating anything)."""
    return frozenset(g.gate.guards.status for g in catalog.gates.values() if g.gate.guards is not None)


def refusal(task_id: str, task_type: str, status: str, failing: Sequence[Standing]) -> str:
    """The sentence a refused transition answers with: each gate, why it does not stand, what to do."""
    parts = [
        f"gate '{s.gate}' has not passed for '{task_id}' on the current code ({'; '.join(s.reasons)}); {s.next_step}"
        for s in failing
    ]
    return (
        f"record_task(status='{status}') for {task_type} task '{task_id}' is refused (a guarding gate must pass "
        "for the task or its parent): "
        + " | ".join(parts)
        + f". Record '{status}' again once every guarding gate passes; until then the task is not {status} "
        "for anyone (find_ready, check_prerequisites)."
    )

"""A subtask's gate may stand passed through its parent: the rule every verdict shares.

Evidence is usually gathered for the deliverable a subtask contributes to, so a gate stands for a
task when it stands passed for the task itself or for its parent. The parent is the one named on
the task's first record, and only if the server signed that record for this very task: a parent
named only later (when completing) would let any task that passed lend its pass, and a row written
straight into the store must not lend one either. A task with no records yet may name its parent
in the call that records it first (`record_task`). `record_task`, `otel-mcp gates status`, the git
hooks and the host hooks all go through `through_parent`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from otel_mcp.core.gates.verdicts.standing import Standing
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import Store

__all__ = ["signed_parent", "through_parent"]


def signed_parent(
    store: Store, verify: Callable[[SpanRecord], bool], task_id: str, named: str | None = None
) -> str | None:
    """The parent whose pass counts for `task_id`: the one its first signed record names.

    `named` (the parent a caller names now) counts only while the task has no records at all.
    """
    first, _ = store.status_bounds(task_id)
    if first is None:
        return named
    # Found by the unsigned task_id column: the record must verify and be signed for this task.
    if first.task_id != task_id or not verify(first):
        return None
    return first.task_parent_id


def through_parent(
    task_id: str,
    own: Sequence[Standing],
    parent: Callable[[], str | None],
    judge: Callable[[str, list[str]], list[Standing]],
) -> list[Standing]:
    """`own` standings with each failing gate that stands passed for the task's parent counted as passed.

    `parent` finds the parent (asked only when a gate fails: it verifies a signature); `judge`
    gives the parent's standings for those gates on the same code.
    """
    failing = [s.gate for s in own if not s.passed]
    if not failing:
        return list(own)
    parent_id = parent()
    if not parent_id or parent_id == task_id:
        return list(own)
    for_parent = {s.gate: s for s in judge(parent_id, failing)}
    out = []
    for s in own:
        theirs = for_parent.get(s.gate)
        if s.passed or theirs is None:
            out.append(s)
        elif theirs.passed:
            out.append(replace(theirs, task_id=task_id, parent=parent_id))
        else:
            why = f"nor does it stand passed for its parent '{parent_id}' ({'; '.join(theirs.reasons)})"
            out.append(replace(s, reasons=[*s.reasons, why]))
    return out

"""The embedded store's task index: every task as of its newest status record, kept in memory.

`find_ready` and the report read every task on every call; re-reading the whole status history
each time would cost a scan that grows with the store. The index is instead brought up to date
from the rows inserted since the last call: writers are serialised (BEGIN IMMEDIATE), so committed
rows form a prefix of `seq` and reading past the last seen `seq` misses nothing. Rows can arrive
out of start-time order (explicit start times, other processes' clocks), so each row wins only if
its (start_ns, seq) is greater.
"""

from __future__ import annotations

import sqlite3

from otel_mcp.store.base import TaskState

__all__ = ["TaskIndex"]

_TASK_INDEX_SQL = (
    "SELECT seq, task_id, task_type, task_status, start_ns, span_id, agent_id, "
    # Task ids cannot contain ',' (model._ids._TASK_ID), so a joined string splits back losslessly and
    # costs far less than json.loads per row.
    "(SELECT group_concat(value, ',') FROM json_each(attributes, '$.\"task.depends_on\"')) "
    "FROM span_store WHERE task_status IS NOT NULL AND task_id IS NOT NULL AND seq > ? ORDER BY seq"
)


class TaskIndex:
    """Tasks by id, each with the key of its newest status record and of the newest that declared deps."""

    def __init__(self) -> None:
        # task id -> (newest record key, state, key of the newest record with depends_on)
        self._tasks: dict[str, tuple[tuple[int, int], TaskState, tuple[int, int]]] = {}
        self._seq = 0  # the last row folded in

    def catch_up(self, db: sqlite3.Connection) -> list[TaskState]:
        """Fold in the status records inserted since the last call and return every task (callers lock)."""
        rows = db.execute(_TASK_INDEX_SQL, [self._seq]).fetchall()
        tasks = self._tasks
        for seq, task_id, task_type, status, start_ns, span_id, agent_id, deps_text in rows:
            key = (start_ns, seq)
            deps = tuple(deps_text.split(",")) if deps_text else None
            entry = tasks.get(task_id)
            if entry is None:
                state = TaskState(task_id, task_type, status, deps or (), start_ns, span_id, agent_id)
                tasks[task_id] = (key, state, key if deps is not None else (0, 0))
                continue
            old_key, old, deps_key = entry
            if deps is not None and key > deps_key:
                deps_key, declared = key, deps
            else:
                declared = old.depends_on
            if key > old_key:
                tasks[task_id] = (
                    key,
                    TaskState(task_id, task_type, status, declared, start_ns, span_id, agent_id),
                    deps_key,
                )
            elif declared is not old.depends_on:
                tasks[task_id] = (
                    old_key,
                    TaskState(
                        old.task_id, old.task_type, old.status, declared, old.start_ns, old.span_id, old.agent_id
                    ),
                    deps_key,
                )
        if rows:
            self._seq = rows[-1][0]
        return [entry[1] for entry in tasks.values()]

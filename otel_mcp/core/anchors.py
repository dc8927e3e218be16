"""Each task's first status record: the span every later record of the task (and its subtasks) hangs under.

A task's first record never changes once written, so it is remembered (never its absence) by one
cache that every core service shares: the coordinator when it records, the claim service when it
appends claim events, the gate service when it writes runner and decision spans. Remembering it
saves a store query per write, milliseconds on ClickHouse.
"""

from __future__ import annotations

import threading

from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store

__all__ = ["TaskAnchors"]

_LIMIT = 4096  # tasks whose first record is remembered


class TaskAnchors:
    """The first status record of each task, read once from the store and then remembered."""

    def __init__(self, store: Store, limit: int = _LIMIT) -> None:
        self._store = store
        self._limit = limit
        self._first: dict[str, SpanRecord] = {}
        self._lock = threading.Lock()

    def first(self, task_id: str) -> SpanRecord | None:
        """The task's oldest status record, if it has one."""
        known = self._first.get(task_id)
        if known is not None:
            return known
        found = self._store.find_spans(SpanFilter(task_id=task_id, has_status=True, oldest_first=True, limit=1))
        if not found:
            return None
        self._remember(task_id, found[0])
        return found[0]

    def anchor(self, task_id: str, parent_task_id: str | None = None) -> SpanRecord | None:
        """The span a new record of this task hangs under, if the task tree has been seen before."""
        first = self.first(task_id)
        if first is None and parent_task_id:
            first = self.first(parent_task_id)
        return first

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        """The task's first status record and its latest one (one store statement when not remembered)."""
        first = self._first.get(task_id)
        if first is not None:
            return first, self._store.latest_status([task_id]).get(task_id, first)
        first, latest = self._store.status_bounds(task_id)
        if first is not None:
            self._remember(task_id, first)
        return first, latest

    def forget(self) -> None:
        """Drop everything remembered (tests; an admin tool that rewrote the store)."""
        with self._lock:
            self._first.clear()

    def _remember(self, task_id: str, record: SpanRecord) -> None:
        with self._lock:
            if len(self._first) >= self._limit:
                self._first.pop(next(iter(self._first)))
            self._first.setdefault(task_id, record)

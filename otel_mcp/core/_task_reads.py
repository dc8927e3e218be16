"""Reading what others did: completed records, a task's dependencies, and whether its prerequisites are met."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from otel_mcp.core.arguments import MAX_LIMIT, check_agent_id, check_limit, check_task_type, check_where
from otel_mcp.core.results import CompletedRecord, DependencyState, Prerequisites, SpanList
from otel_mcp.errors import NotFound
from otel_mcp.model import ATTR_DEPENDS_ON, SpanRecord, check_task_id, parse_since
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import parse_where


class _Reading:
    """The coordinator's reading half (a part of `Coordinator`)."""

    store: Store

    # -- reading -------------------------------------------------------------------------------

    def find_completed(
        self,
        task_type: str | None = None,
        parent_task_id: str | None = None,
        agent_id: str | None = None,
        since: str | None = None,
        where: Mapping[str, Any] | None = None,
        limit: int = 50,
    ) -> SpanList:
        if task_type is not None:
            check_task_type(task_type)
        if parent_task_id is not None:
            check_task_id(parent_task_id, "parent_task_id")
        if agent_id is not None:
            check_agent_id(agent_id)
        flt = SpanFilter(
            task_status="complete",
            task_type=task_type,
            parent_task_id=parent_task_id,
            agent_id=agent_id,
            since_ns=parse_since(since, time.time_ns()) if since else None,
            where=check_where(where),
            latest_per_task=True,
            limit=check_limit(limit),
        )
        records = [CompletedRecord.of(r) for r in self.store.find_spans(flt)]
        return SpanList(records=records, count=len(records))

    def dependencies_of(self, task_id: str) -> tuple[SpanRecord, list[str]]:
        """The task's latest record and the depends_on of its most recent record that declared any."""
        latest = self.store.latest_status([task_id]).get(task_id)
        if latest is None:
            raise NotFound(
                f"task {task_id!r} has no records yet; record it first with record_task "
                "(status 'planned', with depends_on) so its prerequisites are known"
            )
        deps = list(latest.depends_on)
        if not deps:
            flt = SpanFilter(task_id=task_id, has_status=True, where=parse_where({ATTR_DEPENDS_ON: "exists"}), limit=1)
            declared = self.store.find_spans(flt)
            if declared:
                deps = list(declared[0].depends_on)
        return latest, deps

    @staticmethod
    def _state(task_id: str, record: SpanRecord | None) -> DependencyState:
        if record is None:
            return DependencyState(task_id=task_id, state="missing")
        status = record.task_status
        state = "complete" if status == "complete" else "failed" if status == "failed" else "pending"
        return DependencyState(
            task_id=task_id, state=state, status=status, span_id=record.span_id, agent_id=record.agent_id
        )

    def check_prerequisites(self, task_id: str) -> Prerequisites:
        check_task_id(task_id)
        _, deps = self.dependencies_of(task_id)
        dep_states = self.store.latest_status(deps)
        depends = [self._state(d, dep_states.get(d)) for d in deps]
        children = self.store.find_spans(
            SpanFilter(parent_task_id=task_id, has_status=True, latest_per_task=True, limit=MAX_LIMIT)
        )
        # A subtask's newest record under this parent may be older than its newest record overall.
        child_ids = sorted({c.task_id for c in children if c.task_id})
        child_states = self.store.latest_status(child_ids)
        subtasks = [self._state(c, child_states.get(c)) for c in child_ids]
        everything = depends + subtasks
        complete = [d.task_id for d in everything if d.state == "complete"]
        failed = [d.task_id for d in everything if d.state == "failed"]
        pending = [d.task_id for d in everything if d.state in ("pending", "missing")]
        ready = not failed and not pending
        if ready:
            reason = "ready: " + (
                f"all {len(everything)} prerequisites are complete" if everything else "it has no prerequisites"
            )
        else:
            parts = []
            if failed:
                parts.append("failed: " + ", ".join(failed))
            if pending:
                detail = [
                    f"{d.task_id} ({'never recorded' if d.state == 'missing' else d.status})"
                    for d in everything
                    if d.state in ("pending", "missing")
                ]
                parts.append("waiting on: " + ", ".join(detail))
            reason = "not ready; " + "; ".join(parts)
        return Prerequisites(
            task_id=task_id,
            ready=ready,
            depends_on=depends,
            subtasks=subtasks,
            complete=complete,
            pending=pending,
            failed=failed,
            reason=reason,
        )

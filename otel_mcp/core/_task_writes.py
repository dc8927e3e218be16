"""Writing task records: record_task's arguments checked, its span's attributes, the guard, the idempotent write."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.arguments import (
    MAX_DEPENDS,
    check_branch,
    check_commits,
    check_idempotency_key,
    check_status,
    check_summary,
    check_task_type,
)
from otel_mcp.core.idempotency import ATTR_IDEMPOTENCY_DIGEST, ATTR_IDEMPOTENCY_KEY, record_once, request_digest
from otel_mcp.core.results import RecordedTask
from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.model import (
    ATTR_BRANCH,
    ATTR_COMMITS,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_SUMMARY,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    check_attributes,
    check_task_id,
)
from otel_mcp.store.base import Store
from otel_mcp.telemetry import Telemetry, ref


class _Writing:
    """The coordinator's writing half (a part of `Coordinator`)."""

    store: Store
    telemetry: Telemetry
    anchors: TaskAnchors
    guard: Callable[[str, str, str, str | None], None] | None

    @property
    def agent_id(self) -> str:
        return self.telemetry.current_agent_id()

    # -- writing -------------------------------------------------------------------------------

    def record_task(
        self,
        task_id: str,
        task_type: str,
        status: str,
        attributes: Mapping[str, Any] | None = None,
        parent_task_id: str | None = None,
        depends_on: Sequence[str] | None = None,
        summary: str | None = None,
        idempotency_key: str | None = None,
        commits: Sequence[str] | None = None,
        branch: str | None = None,
    ) -> RecordedTask:
        check_task_id(task_id)
        check_task_type(task_type)
        check_status(status)
        attrs: dict[str, Any] = check_attributes(attributes)
        if parent_task_id is not None:
            check_task_id(parent_task_id, "parent_task_id")
            if parent_task_id == task_id:
                raise InvalidArgument("parent_task_id must name another task, not the task itself")
        deps = list(depends_on or [])
        if len(deps) > MAX_DEPENDS:
            raise InvalidArgument(f"depends_on lists {len(deps)} tasks; the limit is {MAX_DEPENDS}")
        for dep in deps:
            check_task_id(dep, "depends_on entry")
            if dep == task_id:
                raise InvalidArgument(f"task {task_id!r} cannot depend on itself")
        check_summary(summary)
        shas = check_commits(commits)
        if branch is not None:
            check_branch(branch)
        key = None if idempotency_key is None else check_idempotency_key(idempotency_key)
        # Of the arguments as given, before the server's own attributes join them.
        digest = None if key is None else request_digest(task_type, status, attrs, parent_task_id, deps, summary)

        attrs.update({ATTR_TASK_ID: task_id, ATTR_TASK_TYPE: task_type, ATTR_TASK_STATUS: status, ATTR_SOURCE: "agent"})
        if parent_task_id:
            attrs[ATTR_PARENT_ID] = parent_task_id
        if deps:
            attrs[ATTR_DEPENDS_ON] = tuple(dict.fromkeys(deps))
        if summary:
            attrs[ATTR_SUMMARY] = summary
        if shas:
            attrs[ATTR_COMMITS] = shas
        if branch:
            attrs[ATTR_BRANCH] = branch
        if key is None or digest is None:
            return self._emit_record(task_id, task_type, status, attrs, parent_task_id, summary)
        attrs[ATTR_IDEMPOTENCY_KEY] = key
        attrs[ATTR_IDEMPOTENCY_DIGEST] = digest
        return record_once(
            self.store,
            self.agent_id,
            task_id,
            key,
            digest,
            lambda: self._emit_record(task_id, task_type, status, attrs, parent_task_id, summary),
        )

    def _emit_record(
        self,
        task_id: str,
        task_type: str,
        status: str,
        attrs: dict[str, Any],
        parent_task_id: str | None,
        summary: str | None,
    ) -> RecordedTask:
        if self.guard is not None:
            self.guard(task_id, task_type, status, parent_task_id)  # a refused transition writes nothing
        try:
            anchor = self.anchors.anchor(task_id, parent_task_id)
        except StoreUnavailable:
            # The store cannot be read but the write can still be spooled: record the work in a
            # trace of its own rather than lose it; only the tree placement is missed.
            anchor = None
        record = self.telemetry.spans.emit(
            f"{task_type}_{status}",
            attrs,
            parent=ref(anchor),
            error=(summary or "task failed") if status == "failed" else None,
            ok=status == "complete",
            # Signed and chained like runner and gate spans: a code-change record deleted or altered in
            # the store shows, and `attested: true` can ask that agent evidence came through a server.
            sign=True,
        )
        return RecordedTask(
            span_id=record.span_id,
            trace_id=record.trace_id,
            task_id=task_id,
            status=status,
            name=record.name,
            parent_span_id=record.parent_span_id,
        )

"""Task records and reading them back: the stigmergy half of otel-mcp.

A task record is a span named `<task_type>_<status>` carrying `task.*` attributes. All records of
one task tree share a trace: a record is parented under the first record of its task, or else
under the first record of its parent task, so `get_trace` shows who did what under one root.
"""

from __future__ import annotations

from collections.abc import Callable

from otel_mcp.core._task_reads import _Reading
from otel_mcp.core._task_traces import (
    SQL_MAX_BYTES,
    SQL_MAX_CHARS,
    SQL_MAX_ROWS,
    SQL_MIN_BUDGET_S,
    SQL_TIMEOUT_S,
    TRACE_LIMIT,
    _Tracing,
)
from otel_mcp.core._task_writes import _Writing
from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.store.base import Store
from otel_mcp.telemetry import Telemetry

__all__ = [
    "SQL_MAX_BYTES",
    "SQL_MAX_CHARS",
    "SQL_MAX_ROWS",
    "SQL_MIN_BUDGET_S",
    "SQL_TIMEOUT_S",
    "TRACE_LIMIT",
    "Coordinator",
]


class Coordinator(_Writing, _Reading, _Tracing):
    """Records tasks as spans and answers what others have done."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        guard: Callable[[str, str, str, str | None], None] | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        # Raises when a transition is guarded by gates that do not stand passed (GateService.check_transition).
        self.guard = guard

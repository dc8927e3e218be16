"""Overview: the read-only views a person supervises agents with, over the queries the tools use.

The Now screen and the graph read the task index and the claim fold `find_ready` reads; the trace is
`get_trace`'s tree; gate figures are counted as `otel-mcp report` counts them. Nothing here writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.overview.filters import ViewFilter
from otel_mcp.core.overview.gate_history import build_gates
from otel_mcp.core.overview.graph import GRAPH_LIMIT, build_graph
from otel_mcp.core.overview.marks import GateMarks
from otel_mcp.core.overview.now import STUCK_AFTER_S, build_now
from otel_mcp.core.overview.results import ChangeMark, GatesView, GraphView, NowView, TimelineView
from otel_mcp.core.overview.timeline import TIMELINE_LIMIT, build_timeline
from otel_mcp.core.report import load_trace
from otel_mcp.core.results import TraceResult
from otel_mcp.core.tasks import Coordinator
from otel_mcp.errors import InvalidArgument, excerpt
from otel_mcp.store.base import Store

__all__ = ["Overview"]


def _bounded(name: str, value: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InvalidArgument(f"{name} must be a whole number from 1 to {maximum}; got {excerpt(value)}")
    return value


class Overview:
    """Now, graph, timeline, gates, one task's trace, and a change mark to poll; every call reads, none writes."""

    def __init__(
        self,
        store: Store,
        coordinator: Coordinator,
        catalog: Callable[[], Catalog],
        *,
        now_ns: Callable[[], int] = time.time_ns,
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        self.store = store
        self.coordinator = coordinator
        self.catalog = catalog
        self.now_ns = now_ns
        self.stuck_after_s = stuck_after_s

    def _marks(self) -> GateMarks:
        return GateMarks(self.store, self.catalog())

    def now(self, flt: ViewFilter) -> NowView:
        return build_now(self.store, self._marks(), self.now_ns(), flt, self.stuck_after_s)

    def graph(self, flt: ViewFilter, limit: int = GRAPH_LIMIT) -> GraphView:
        return build_graph(self.store, self._marks(), self.now_ns(), flt, _bounded("limit", limit, 2000))

    def timeline(self, flt: ViewFilter, limit: int = TIMELINE_LIMIT) -> TimelineView:
        return build_timeline(self.store, self.now_ns(), flt, _bounded("limit", limit, 10_000))

    def gates(self, flt: ViewFilter) -> GatesView:
        return build_gates(self.store, self._marks(), flt)

    def trace(self, ref: str) -> TraceResult:
        """A task's (or a trace id's) span tree, exactly as `get_trace` and `otel-mcp trace` give it."""
        return load_trace(self.coordinator, ref)

    def changes(self) -> ChangeMark:
        """Cheap to poll: it differs from the last answer whenever a span was recorded since."""
        count = self.store.count()  # a span that started long ago but arrived now (a check run) counts too
        return ChangeMark(mark=f"{count}", count=count)

"""What people supervise agents with: who is doing what now, the task graph, a timeline per agent,
gate history and one task's trace, as JSON-ready models over the same core queries the tools use.

`filters` (what a page asks for), `marks` (gates guarding a task and their latest decisions), `now`,
`graph`, `timeline`, `gate_history`, `results` (the models), `service` (`Overview`, one per process).
"""

from otel_mcp.core.overview.filters import ViewFilter, view_filter
from otel_mcp.core.overview.service import Overview

__all__ = ["Overview", "ViewFilter", "view_filter"]

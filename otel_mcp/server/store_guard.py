"""Tool calls on a store that cannot be used are answered with the reason, before any work starts.

The store says why it refuses (`Store.problem`: could not be opened, read-only, damaged); every
tool call then gets that sentence as its error, the one place a host shows a person what is wrong.
Listing tools and prompts keeps working. Checked first, so a check is not run for minutes only to
find its evidence cannot be written.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent

from otel_mcp.runtime import Runtime

__all__ = ["StoreGuard"]


class StoreGuard:
    """MCP middleware: a tools/call on an unusable store returns the store's problem as a tool error."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call":
            problem = self._runtime.store.problem
            if problem:
                name = (ctx.params or {}).get("name")
                tool = name[:100] if isinstance(name, str) else "unknown"
                text = f"Error executing tool {tool}: {problem}"
                return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await call_next(ctx)

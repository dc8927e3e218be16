"""The one way a tool calls the core: typed, with core errors turned into tool errors.

SQLite answers in microseconds, less than a thread hop costs, so its calls run inline. A store
behind a network (ClickHouse) waits milliseconds per query and seconds for a claim to settle;
run on the event loop, that would stall every other client of an HTTP server meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import anyio
from mcp.server.mcpserver import Context

from otel_mcp.runtime import Runtime
from otel_mcp.server._errors import tool_errors

__all__ = ["RuntimeContext", "core_await", "core_call", "core_call_in_thread"]

P = ParamSpec("P")
T = TypeVar("T")

# The tool context whose lifespan value is this server's Runtime (what `create_server` yields).
RuntimeContext = Context[Runtime, Any]


async def core_call(runtime: Runtime, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)`: inline on the embedded store, in a worker thread over a network."""
    with tool_errors():
        if not runtime.store.blocking_io:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def core_call_in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in a worker thread on any store: for calls that may take seconds (agents' SQL)."""
    with tool_errors():
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def core_await(call: Awaitable[T]) -> T:
    """An async core call (one that runs a check and offloads its own store calls)."""
    with tool_errors():
        return await call

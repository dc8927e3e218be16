"""Run a core call from a tool: inline on the embedded store, in a worker thread over a network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from otel_mcp.runtime import Runtime
from otel_mcp.server._errors import tool_errors

__all__ = ["core_call"]

T = TypeVar("T")


async def core_call(runtime: Runtime, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` with core errors turned into tool errors.

    SQLite answers in microseconds, less than a thread hop costs, so its calls run inline. A store
    behind a network (ClickHouse) waits milliseconds per query and seconds for a claim to settle;
    run on the event loop, that would stall every other client of an HTTP server meanwhile.
    """
    with tool_errors():
        if not runtime.store.blocking_io:
            return fn(*args)
        return await anyio.to_thread.run_sync(lambda: fn(*args))

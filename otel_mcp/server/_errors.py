"""Turn core errors into tool errors the model can read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError

from otel_mcp.errors import OtelMcpError

__all__ = ["tool_errors"]

log = logging.getLogger("otel_mcp.server")


@contextmanager
def tool_errors() -> Iterator[None]:
    try:
        yield
    except OtelMcpError as exc:
        raise ToolError(str(exc)) from None
    except ToolError:
        raise
    except Exception as exc:
        # A bug, not bad input: keep the traceback in the server log, give the model a usable sentence.
        log.exception("internal error in a tool")
        raise ToolError(
            f"internal error ({type(exc).__name__}); the server log has details. Retry once; if it persists, report it."
        ) from None

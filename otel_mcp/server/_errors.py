"""Turn core errors into tool errors the model can read."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError

from otel_mcp.errors import OtelMcpError

__all__ = ["MAX_ERROR_CHARS", "clip_message", "tool_errors"]

log = logging.getLogger("otel_mcp.server")
# Messages quote at most a prefix of the input they are about (`errors.excerpt`). This is the net
# under messages that quote at length anyway: SQLite's 'unrecognized token: "<token>"' repeats a
# whole token of the agent's SQL, and some layers (gates) format values themselves. A run without
# spaces longer than any path or id would be is cut to a prefix; sentences are left alone.
MAX_ERROR_CHARS = 1000
_KEPT_CHARS = 60
_LONG_RUN = re.compile(r"\S{120,}")


def _cut(match: re.Match[str]) -> str:
    return f"{match.group(0)[:_KEPT_CHARS]}... ({len(match.group(0)):,} characters)"


def clip_message(text: str) -> str:
    """`text` with every very long word cut to a prefix, and at most MAX_ERROR_CHARS long."""
    if len(text) < 120:
        return text
    text = _LONG_RUN.sub(_cut, text)
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return f"{text[:600]} ... {text[-200:]} ({len(text):,} characters, cut)"


@contextmanager
def tool_errors() -> Iterator[None]:
    try:
        yield
    except OtelMcpError as exc:
        raise ToolError(clip_message(str(exc))) from None
    except ToolError:
        raise
    except Exception as exc:
        # A bug, not bad input: keep the traceback in the server log, give the model a usable sentence.
        log.exception("internal error in a tool")
        raise ToolError(
            f"internal error ({type(exc).__name__}); the server log has details. Retry once; if it persists, report it."
        ) from None

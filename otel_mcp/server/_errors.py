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
# under messages that quote at length anyway: SQLite's 'near "<token>"' repeats a whole token of
# the agent's SQL, and some layers (gates) format values themselves.
MAX_ERROR_CHARS = 1000
_QUOTED_CHARS = 60
# A quotation longer than 80 characters, or an unquoted run longer than any path or id would be.
_LONG_QUOTE = re.compile(r"\"([^\"\n]{80,})\"|'([^'\n]{80,})'|(\S{200,})")


def _cut_quote(match: re.Match[str]) -> str:
    if match.group(3) is not None:
        return f"{match.group(3)[:_QUOTED_CHARS]}... ({len(match.group(3)):,} characters)"
    quote = match.group(0)[0]
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    return f"{quote}{inner[:_QUOTED_CHARS]}...{quote} ({len(inner):,} characters)"


def clip_message(text: str) -> str:
    """`text` with every long quotation cut to a prefix, and at most MAX_ERROR_CHARS long."""
    if len(text) < 80:
        return text
    text = _LONG_QUOTE.sub(_cut_quote, text)
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

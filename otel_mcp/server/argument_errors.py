"""Short answers for arguments that do not fit a tool's input schema.

The SDK answers such a call with pydantic's whole report: every failing location, each with a
URL to pydantic's documentation. Fifty bad evidence items gave a 31 KB message of 150 entries. A
model needs the first few, each naming the argument and quoting a short prefix of the value
(pydantic already cuts values to ~50 characters); this keeps those and counts the rest.
"""

from __future__ import annotations

import re
from typing import Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent

__all__ = ["SHOWN", "ArgumentErrors", "compact_validation_text"]

SHOWN: Final = 5
_HEADER = re.compile(r"(Error executing tool \S+: )(\d+) validation errors? for \S+Arguments\n")


def compact_validation_text(text: str) -> str:
    """pydantic's report cut to its first SHOWN problems, one line each; other text unchanged."""
    header = _HEADER.match(text)
    if header is None:
        return text
    problems: list[str] = []
    for line in text[header.end() :].splitlines():
        if not line.startswith(" "):  # a location: 'evidence.0.span_id'
            problems.append(line.replace("constrained-str", "str"))
        elif not line.startswith("    ") and problems:  # its message; the URL line below it is dropped
            problems[-1] += f": {line.strip()}"
    total = int(header.group(2))
    noun = "argument does" if total == 1 else "arguments do"
    lines = [f"{header.group(1)}{total} {noun} not fit the tool's input schema:", *problems[:SHOWN]]
    if total > SHOWN:
        lines.append(f"... and {total - SHOWN} more like these")
    return "\n".join(lines)


class ArgumentErrors:
    """Server middleware: compacts the text of tool results that report schema violations."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/call":
            return result
        # The result arrives as the model or, further out, as its JSON-ready dict.
        if isinstance(result, CallToolResult) and result.is_error:
            for block in result.content:
                if isinstance(block, TextContent):
                    block.text = compact_validation_text(block.text)
        elif isinstance(result, dict) and result.get("isError") is True:
            for item in result.get("content") or []:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    item["text"] = compact_validation_text(item["text"])
        return result

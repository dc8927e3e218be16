"""How a plain async tool function becomes the MCP tool clients see.

- The description is the docstring without its source indentation (`inspect.cleandoc`): a model
  reads every leading space of every line.
- Results stay structured (`structuredContent`, validated by clients against the output schema),
  and the text copy the SDK adds for text-only clients is the same JSON, compact: the SDK's
  indented form is 40 % larger for a 50-span trace, twice as large for query rows, on the wire
  and in the model's context.
- Input and output schemas are made portable (`_schema.portable_schema`).
- A tool is built once per process: deriving its argument model and schemas costs ~20 ms, a
  quarter of a second for the whole set, and every server of a process (the demo's, the tests'
  in-memory ones) gets a copy of the same build.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import ParamSpec

import pydantic_core
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from otel_mcp.server._schema import portable_schema

__all__ = ["build_tool", "compact_result"]

P = ParamSpec("P")


_BUILT: dict[tuple[Callable[..., Awaitable[BaseModel]], str], Tool] = {}


def build_tool(fn: Callable[P, Awaitable[BaseModel]], annotations: ToolAnnotations) -> Tool:
    """The MCP tool for `fn`, whose return annotation (a pydantic model) is its output schema."""
    key = (fn, annotations.model_dump_json())
    tool = _BUILT.get(key)
    if tool is None:
        tool = _BUILT.setdefault(key, _build(fn, annotations))
    return tool.model_copy()  # servers never share a Tool object: one may be given other metadata


def _build(fn: Callable[P, Awaitable[BaseModel]], annotations: ToolAnnotations) -> Tool:
    tool = Tool.from_function(
        _compact_text(fn), description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations
    )
    tool.parameters = portable_schema(tool.parameters)
    metadata = tool.fn_metadata
    if metadata.output_schema is not None:
        # Read live by the SDK (FuncMetadata's contract). With no output model the SDK advertises the
        # schema and passes our CallToolResult through: the structured part was dumped from the tool's
        # own pydantic model, so validating it again would only spend time.
        metadata.output_schema = portable_schema(metadata.output_schema)
        metadata.output_model = None
    return tool


def compact_result(result: BaseModel) -> CallToolResult:
    """`result` as structured content plus the same JSON, without indentation, as text."""
    structured = result.model_dump(mode="json", by_alias=True)
    text = pydantic_core.to_json(structured).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _compact_text(fn: Callable[P, Awaitable[BaseModel]]) -> Callable[P, Awaitable[CallToolResult]]:
    # `wraps` keeps fn's signature (`__wrapped__`), so the SDK derives the same arguments and output schema.
    @functools.wraps(fn)
    async def call(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        return compact_result(await fn(*args, **kwargs))

    return call

"""MCP Apps: the swarm view inside the chat host, for hosts that render `ui://` resources.

A host that negotiated MCP Apps (`client_supports_apps`) sees `find_ready` ("who can do what") and
`get_trace` ("what happened to this task") carry `_meta.ui.resourceUri` = the swarm view, an HTML
resource it renders in a sandboxed iframe. The view gets its data through the host: it calls
`swarm_overview`, a tool only the view sees (`visibility: ["app"]`), which answers the same
`Overview` the web pages read. No network origin is involved.

A host without MCP Apps gets exactly today's tool list (no view-only tool, no `_meta.ui`), today's
resource list and today's results: `AppsVisibility` filters the lists per client.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Annotated, Any, Literal

from mcp.server.apps import APP_MIME_TYPE, Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import ListResourcesResult, ListToolsResult
from pydantic import BaseModel, Field

from otel_mcp.core.overview import Overview, view_filter
from otel_mcp.core.results import Result
from otel_mcp.server._core import RuntimeContext, core_call_in_thread

__all__ = [
    "LINKED_TOOLS",
    "SWARM_URI",
    "VIEW_TOOL",
    "AppsVisibility",
    "SwarmView",
    "View",
    "swarm_apps",
    "swarm_overview",
]

SWARM_URI = "ui://otel-mcp/swarm.html"
VIEW_TOOL = "swarm_overview"
LINKED_TOOLS = ("find_ready", "get_trace")  # the tools whose answers the view shows in context

View = Literal["now", "graph", "gates", "timeline", "trace"]


class SwarmView(Result):
    view: str
    data: dict[str, Any] = Field(description="the view as the web pages' JSON endpoint gives it")


async def swarm_overview(
    ctx: RuntimeContext,
    view: Annotated[View, Field(description="now | graph | gates | timeline | trace")] = "now",
    agent: Annotated[str | None, Field(max_length=256)] = None,
    prefix: Annotated[str | None, Field(max_length=256)] = None,
    since: Annotated[str | None, Field(max_length=64)] = None,
    task: Annotated[str | None, Field(max_length=256, description="the task (or trace id) of view=trace")] = None,
) -> SwarmView:
    """What the swarm view shows (for the view itself; not for the model)."""
    runtime = ctx.request_context.lifespan_context
    overview = Overview(runtime.store, runtime.coordinator, runtime.catalog_loader.catalog)

    def read() -> SwarmView:
        flt = view_filter(overview.now_ns(), agent, prefix, since)
        answers: dict[str, Callable[[], BaseModel]] = {
            "now": lambda: overview.now(flt),
            "graph": lambda: overview.graph(flt),
            "gates": lambda: overview.gates(flt),
            "timeline": lambda: overview.timeline(flt),
            "trace": lambda: overview.trace(task or ""),
        }
        return SwarmView(view=view, data=answers[view]().model_dump())

    # Always off the event loop: a view over a large store reads for a good part of a second.
    return await core_call_in_thread(read)


def _view_html() -> str:
    return (files("otel_mcp.server.web") / "static" / "swarm-app.html").read_text(encoding="utf-8")


def swarm_apps() -> Apps:
    """The MCP Apps extension: the swarm view resource and its view-only data tool."""
    apps = Apps()
    apps.tool(
        resource_uri=SWARM_URI,
        visibility=["app"],
        name=VIEW_TOOL,
        description="Data for the otel-mcp swarm view (called by the view, not the model).",
    )(swarm_overview)
    apps.add_html_resource(
        SWARM_URI,
        _view_html(),
        name="swarm",
        title="otel-mcp: the swarm at a glance",
        description="Who is doing what, the task graph and the gates, inline in the conversation",
        prefers_border=True,
    )
    return apps


def _tools_of(result: HandlerResult) -> list[Any] | None:
    if isinstance(result, ListToolsResult):
        return list(result.tools)
    if isinstance(result, dict) and isinstance(result.get("tools"), list):
        return list(result["tools"])
    return None


def _name(tool: Any) -> str:
    return str(tool.get("name") if isinstance(tool, dict) else tool.name)


def _ui(tool: Any) -> dict[str, Any] | None:
    meta = tool.get("_meta") if isinstance(tool, dict) else tool.meta
    ui = (meta or {}).get("ui")
    return ui if isinstance(ui, dict) else None


class AppsVisibility:
    """Server middleware: the Apps parts of tools/list and resources/list only for clients that render them."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method not in ("tools/list", "resources/list"):
            return result
        apps = client_supports_apps(ctx)
        if ctx.method == "resources/list":
            if apps:
                return result
            if isinstance(result, ListResourcesResult):
                return result.model_copy(
                    update={"resources": [r for r in result.resources if r.mime_type != APP_MIME_TYPE]}
                )
            if isinstance(result, dict) and isinstance(result.get("resources"), list):
                kept = [
                    r for r in result["resources"] if not (isinstance(r, dict) and r.get("mimeType") == APP_MIME_TYPE)
                ]
                return {**result, "resources": kept}
            return result
        tools = _tools_of(result)
        if tools is None:
            return result
        if not apps:
            kept = [t for t in tools if _ui(t) is None]
        else:
            kept = []
            for tool in tools:
                if _name(tool) in LINKED_TOOLS:
                    link = {"ui": {"resourceUri": SWARM_URI}}
                    if isinstance(tool, dict):
                        tool = {**tool, "_meta": {**(tool.get("_meta") or {}), **link}}
                    else:
                        tool = tool.model_copy(update={"meta": {**(tool.meta or {}), **link}})
                kept.append(tool)
        if isinstance(result, ListToolsResult):
            return result.model_copy(update={"tools": kept})
        return {**result, "tools": kept}  # type: ignore[dict-item]
